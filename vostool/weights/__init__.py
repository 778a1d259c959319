"""Model weights: the named-weights table, downloads into the cache, checkpoint files.

``table`` (named weights, cache location), ``download`` (resume, sha256), ``checkpoint`` (safe
reading, the vostool format, strict load, saving). Turning ``--weights`` into a ready method is
:mod:`vostool.loader`'s job; this package imports neither methods nor training.
"""

from vostool.weights.checkpoint import (
    CHECKPOINT_FORMAT,
    check_state,
    is_vostool_checkpoint,
    load_state_strict,
    read_checkpoint,
    save_checkpoint,
)
from vostool.weights.demo import demo_file, packaged_demo
from vostool.weights.download import MIRROR_ENV, download, fetch_named, mirror_url, sha256_file, url_entry
from vostool.weights.table import (
    NAMED_WEIGHTS,
    PACKAGED_DEMO,
    NamedWeights,
    PackagedWeights,
    cache_dir,
    cached_path,
    demo_path,
    named_for_method,
)

__all__ = ["CHECKPOINT_FORMAT", "MIRROR_ENV", "NAMED_WEIGHTS", "PACKAGED_DEMO", "NamedWeights", "PackagedWeights",
           "cache_dir", "cached_path", "check_state", "demo_file", "demo_path", "download", "fetch_named",
           "is_vostool_checkpoint", "load_state_strict", "mirror_url", "named_for_method", "packaged_demo",
           "read_checkpoint", "url_entry",
           "save_checkpoint", "sha256_file"]
