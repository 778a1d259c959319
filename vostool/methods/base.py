"""The interface every method implements: Method (weights + options) and Session (one video).

A :class:`Method` owns the network and the options and is shared by all videos. A :class:`Session`
holds all state of one video; frames are fed in order through :meth:`Session.step`, which returns a
``(1+K, H, W)`` distribution (channel 0 = background, channel k = ``object_ids[k-1]``).

Masks may arrive on any frame: frames before the first mask are all background, later frames may
introduce objects that were not seen before (YouTube-VOS style) and correct objects already tracked.
On a frame that gives objects (new or corrected), their pixels are exactly the given mask, and a
corrected object's method state re-anchors on it (method-specific, docs/methods.md "Corrections").
Tracked ids absent from a later mask keep tracking: a mask says only what it shows. The sessions and
their shared bookkeeping live in :mod:`vostool.methods.session` (re-exported here).
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import torch
from torch import nn

from vostool.methods.session import (PerObjectSession, Session, SingleObjectSession, corrected_object_ids,
                                     new_object_ids, one_hot_labels)
from vostool.state_dicts import Checkpoint, load_state_strict

__all__ = ["Checkpoint", "Method", "PerObjectSession", "Session", "SingleObjectSession", "corrected_object_ids",
           "new_object_ids", "one_hot_labels"]


class Method(abc.ABC):
    """Weights and options of one method, shared by all videos.

    Subclasses set ``name`` and ``Options`` (a dataclass, see :mod:`vostool.options`) and implement
    :meth:`build_network`, :meth:`convert_checkpoint` and :meth:`new_session`.
    """

    name: ClassVar[str]
    Options: ClassVar[type]
    # Processing short side used when the user gives no --size (the authors' resolution).
    default_size: ClassVar[int] = 480
    # The training recipe dataclass (a vostool.training.recipe.Recipe subclass); None: not trainable yet.
    Recipe: ClassVar[type | None] = None
    # State-dict prefixes a checkpoint may leave out because complete_state_dict() supplies them.
    completed_prefixes: ClassVar[tuple[str, ...]] = ()
    # Methods whose weights can initialise this one: ``--weights OTHER:SPEC`` (see checkpoint_from).
    init_methods: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: Any, network: nn.Module, device: torch.device | str = "cpu") -> None:
        self.options = options
        self.network = network
        self.device = torch.device(device)
        self.weights_source: str = "untrained"
        self.weights_sha256: str | None = None
        self.network.to(self.device).eval()

    @classmethod
    def build(cls, options: Any = None, device: torch.device | str = "cpu", pretrained_backbone: bool = False) -> "Method":
        """Architecture only: random weights (bounded activations), or ImageNet backbone weights."""
        from vostool.options import make_options

        if options is None or isinstance(options, dict):
            options = make_options(cls.Options, options or {})
        # Random initialisation is seeded so that --untrained runs are reproducible.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            network = cls.build_network(options, pretrained_backbone=pretrained_backbone)
        return cls(options, network, device)

    @classmethod
    @abc.abstractmethod
    def build_network(cls, options: Any, pretrained_backbone: bool = False) -> nn.Module:
        """The network for ``options``; random init unless ``pretrained_backbone``."""

    @classmethod
    @abc.abstractmethod
    def convert_checkpoint(cls, raw: dict, source: str) -> Checkpoint:
        """Turn the authors' checkpoint (already unpickled) into vostool names.

        Raises WeightsError naming what is wrong when the file is not such a checkpoint.
        """

    @classmethod
    def checkpoint_from(cls, method: str, checkpoint: Checkpoint) -> Checkpoint:
        """``--weights OTHER:SPEC``: this method's checkpoint made from ``method``'s converted weights
        (a method in ``init_methods``). Parts the other method lacks are filled by
        :meth:`complete_state_dict`."""
        from vostool.errors import WeightsError

        raise WeightsError(f"{cls.name} cannot be initialised from {method} weights")

    @classmethod
    def default_weights(cls, options: Any) -> str | None:
        """Name of the named weights used when the user gives none (see vostool.weights.table)."""
        return None

    def complete_state_dict(self, checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
        """Fill in parts a checkpoint does not carry (e.g. an ImageNet backbone). Default: none."""
        return checkpoint.state_dict

    @classmethod
    def init_spec(cls, options: Any) -> str | None:
        """Weights (``OTHER:SPEC``) the network starts from when it is built, before any ``--weights``
        (MUNet's ``init_from``); :func:`vostool.loader.build_method` loads them. Default: none."""
        return None

    def initialise(self, checkpoint: Checkpoint) -> None:
        """Load the weights named by :meth:`init_spec` (strictly, completed like any checkpoint); they
        are part of the architecture as built, so ``weights_source`` stays as it is."""
        load_state_strict(self.network, self.complete_state_dict(checkpoint), checkpoint.source, self.name)
        self.network.to(self.device).eval()

    def load_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Strictly load converted weights; a mismatch is a WeightsError naming the keys."""
        state = self.complete_state_dict(checkpoint)
        load_state_strict(self.network, state, checkpoint.source, self.name)
        self.network.to(self.device).eval()
        self.weights_source = checkpoint.source
        self.weights_sha256 = checkpoint.sha256

    def check_arch(self, arch: dict[str, Any]) -> None:
        from vostool.errors import WeightsError

        for key, value in arch.items():
            mine = getattr(self.options, key, None)
            if mine != value:
                raise WeightsError(
                    f"the weights are for {key}={value} but this {self.name} model has {key}={mine}; "
                    f"use --set {key}={value} or other weights"
                )

    @abc.abstractmethod
    def new_session(self) -> Session:
        """A fresh session for one video."""

    def training_module(self, recipe: Any = None, env: Any = None) -> nn.Module:
        """The module that ``vostool train`` optimises (see docs/architecture.md, "Training").

        ``forward(batch)`` takes a batch of clips (vostool.data.clips: ``frames`` (B, T, 3, H, W) uint8,
        ``labels`` (B, T, H, W) uint8, ``num_objects`` (B,), ``info``) and returns a dict of named scalar
        tensors: the total loss to minimise under ``"loss"``, other losses and metrics beside it (logged).
        The module shares its parameters with ``self.network``, so the trained weights are this method's
        weights; only parameters with ``requires_grad`` are optimised. ``recipe`` is an instance of
        ``self.Recipe`` (defaults when None).
        """
        from vostool.errors import MethodError

        raise MethodError(f"training {self.name} is not available in this version")

    def load_backbone(self, state: dict[str, torch.Tensor], source: str) -> None:
        """``--backbone-weights PATH`` (read by :func:`vostool.loader.load_backbone`): a torchvision-style
        state dict for ``network.backbone`` (strict; classifier keys ``fc.*`` are ignored). Methods whose
        backbone lives elsewhere override this."""
        from vostool.errors import MethodError

        backbone = getattr(self.network, "backbone", None)
        if backbone is None:
            raise MethodError(f"--backbone-weights {source}: {self.name} has no single backbone to load it into; "
                              "use --backbone-weights imagenet or none")
        state = {k[len("backbone."):] if k.startswith("backbone.") else k: v for k, v in state.items()
                 if not k.startswith("fc.")}
        load_state_strict(backbone, state, source, f"{self.name} backbone")
        self.network.to(self.device)

    def to(self, device: torch.device | str) -> "Method":
        self.device = torch.device(device)
        self.network.to(self.device)
        return self
