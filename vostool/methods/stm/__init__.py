"""STM (space-time memory network): the shared network, its memory and the ``stm`` method."""

from vostool.methods.stm.memory import MemoryBank, memory_read
from vostool.methods.stm.method import STM
from vostool.methods.stm.network import STMNetwork
from vostool.methods.stm.options import STMOptions

__all__ = ["STM", "STMNetwork", "STMOptions", "MemoryBank", "memory_read"]
