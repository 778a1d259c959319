"""The table of methods: name -> the module holding its card (``vostool/methods/<m>/card.py``).

Importing this module imports nothing heavy; a method's card (and with its package, torch) is imported
only when the method is asked for. Everything else about a method (summary, paper, published speed,
named weights, options, recipe) is on its :class:`~vostool.cards.MethodCard`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from vostool.cards import MethodCard
from vostool.errors import MethodError

if TYPE_CHECKING:
    from vostool.methods.base import Method


def _load(target: str) -> object:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


# name -> "module:CARD", or a MethodCard itself (tests register stand-ins that way).
METHODS: dict[str, str | MethodCard] = {
    name: f"vostool.methods.{name}.card:CARD" for name in ("frtm", "rgmp", "tvos", "stm", "flowvos", "munet")
}

# Methods the project will implement; asking for one gives a clear "not available yet" message.
PLANNED: dict[str, str] = {}


def method_names() -> list[str]:
    """Names of the methods that can be run, in table order."""
    return list(METHODS)


def get_card(name: str) -> MethodCard:
    """The card of the method registered under ``name`` (case and spaces ignored)."""
    key = name.strip().lower()
    if key in METHODS:
        card = METHODS[key]
        return card if isinstance(card, MethodCard) else _load(card)  # type: ignore[return-value]
    available = ", ".join(METHODS)
    if key in PLANNED:
        raise MethodError(f"method {name!r} ({PLANNED[key]}) is not available in this version yet; available: {available}")
    raise MethodError(f"unknown method {name!r}; available: {available}")


def get_method_class(name: str) -> "type[Method]":
    """Import and return the Method subclass registered under ``name``."""
    return _load(get_card(name).method)  # type: ignore[return-value]


# The former name of get_card (benchmark.py validates names with it).
get_entry = get_card
