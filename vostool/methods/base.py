"""The interface every method implements: Method (weights + options) and Session (one video).

A :class:`Method` owns the network and the options and is shared by all videos. A :class:`Session`
holds all state of one video; frames are fed in order through :meth:`Session.step`, which returns a
``(1+K, H, W)`` distribution (channel 0 = background, channel k = ``object_ids[k-1]``).

Masks may arrive on any frame: the first frame must bring at least one object, later frames may
introduce objects that were not seen before (YouTube-VOS style) and correct objects already tracked.
On a frame that gives objects (new or corrected), their pixels are exactly the given mask, and a
corrected object's method state re-anchors on it (method-specific, docs/methods.md "Corrections").
Tracked ids absent from a later mask keep tracking: a mask says only what it shows.

:class:`PerObjectSession` is the shared machinery for methods that model one object at a time
(FRTM, STM-like methods): it computes the per-frame work once (``encode``), asks every object for its
foreground probability, merges them with :mod:`vostool.aggregate` and feeds the merged maps back.
"""

from __future__ import annotations

import abc
import functools
from typing import Any, ClassVar

import torch
from torch import nn

from vostool.aggregate import BackgroundRule, MergeRule, aggregate
from vostool.state_dicts import Checkpoint, load_state_strict

__all__ = ["Checkpoint", "Method", "PerObjectSession", "Session", "SingleObjectSession", "new_object_ids", "one_hot_labels"]


def new_object_ids(mask: torch.Tensor | None, known: tuple[int, ...]) -> list[int]:
    """Ids present in ``mask`` ((H, W) integer labels) that are not in ``known``, ascending."""
    if mask is None:
        return []
    present = torch.unique(mask).tolist()
    return [int(i) for i in present if i != 0 and int(i) not in known]


def corrected_object_ids(mask: torch.Tensor | None, known: tuple[int, ...]) -> list[int]:
    """Ids present in ``mask`` ((H, W) integer labels) that are already in ``known`` (corrections), ascending."""
    if mask is None:
        return []
    present = torch.unique(mask).tolist()
    return [int(i) for i in present if i != 0 and int(i) in known]


def one_hot_labels(mask: torch.Tensor, object_ids: tuple[int, ...]) -> torch.Tensor:
    """(H, W) labels -> (1+K, H, W) float one-hot over (background, *object_ids)."""
    channels = [mask == oid for oid in object_ids]
    fg = torch.stack(channels).float() if channels else mask.new_zeros((0, *mask.shape), dtype=torch.float32)
    bg = 1 - fg.sum(dim=0, keepdim=True).clamp(max=1)
    return torch.cat([bg, fg], dim=0)


def _without_autograd(step):
    """``step`` run under ``torch.inference_mode()``: a session only infers (training goes through a
    method's training module), and without autograd it keeps no graph: 1.6-2.6x less memory and
    1.6-1.9x less time than the same loop with autograd on (TVOS and STM, 25 frames at 160x120)."""

    @functools.wraps(step)
    def step_without_autograd(self, frame, mask=None):
        if torch.is_inference_mode_enabled():
            return step(self, frame, mask)
        with torch.inference_mode():
            return step(self, frame, mask)

    step_without_autograd.without_autograd = True
    return step_without_autograd


class Session(abc.ABC):
    """All state of one video. Feed frames in order. ``step`` always runs without autograd."""

    object_ids: tuple[int, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "__isabstractmethod__", False) \
                and not getattr(step, "without_autograd", False):
            cls.step = _without_autograd(step)

    @abc.abstractmethod
    def step(self, frame: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Process the next frame.

        frame: (3, H, W) float RGB in [0, 1] on the method's device.
        mask: (H, W) integer labels, required on the first frame. Later, ids not seen before start new
        objects and ids already tracked are corrections (the output there is exactly the mask and the
        method re-anchors on it); tracked ids absent from the mask keep tracking.
        Returns (1+K, H, W) float probabilities summing to 1 over dim 0.
        """


class SingleObjectSession(abc.ABC):
    """One object's state inside a :class:`PerObjectSession`."""

    @abc.abstractmethod
    def step(self, frame: torch.Tensor, features: Any) -> torch.Tensor:
        """Foreground probability of this object: (H, W) float in [0, 1]."""

    def observe(self, prob: torch.Tensor) -> None:
        """Receive the merged (aggregated) probability of this object, (H, W). Default: ignore."""


class PerObjectSession(Session):
    """Runs one :class:`SingleObjectSession` per object on shared per-frame features, then merges.

    Subclasses implement :meth:`start_object` and may override :meth:`encode` (work shared by all
    objects, e.g. the backbone pass), :meth:`predict` (to batch objects together) and
    :meth:`reanchor_object` (what a correction does to the method's state).
    """

    def __init__(self, merge: MergeRule = "soft", bg_rule: BackgroundRule = "min") -> None:
        self.merge = merge
        self.bg_rule = bg_rule
        self.objects: dict[int, SingleObjectSession] = {}
        self.object_ids = ()
        self.frame_index = -1

    def encode(self, frame: torch.Tensor) -> Any:
        """Per-frame work shared by all objects. Default: none."""
        return None

    @abc.abstractmethod
    def start_object(self, object_id: int, frame: torch.Tensor, features: Any, mask: torch.Tensor) -> SingleObjectSession:
        """Create the state of an object first given on this frame. mask: (H, W) bool."""

    def predict(self, frame: torch.Tensor, features: Any, objects: list[SingleObjectSession]) -> torch.Tensor:
        """Foreground probabilities of ``objects``: (K, H, W). Default: one object at a time."""
        return torch.stack([obj.step(frame, features) for obj in objects])

    def reanchor_object(self, object_id: int, frame: torch.Tensor, features: Any, mask: torch.Tensor) -> None:
        """A tracked object was given again on this frame (a correction): re-anchor its state on ``mask``
        ((H, W) bool). Called instead of ``observe`` for that object, after the frame's prediction.
        Default: the object observes the given mask as its merged estimate."""
        self.objects[object_id].observe(mask.float())

    def step(self, frame: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        self.frame_index += 1
        height, width = frame.shape[-2:]
        new_ids = new_object_ids(mask, self.object_ids)
        old_ids = self.object_ids
        if not old_ids and not new_ids:
            return frame.new_ones((1, height, width), dtype=torch.float32)
        features = self.encode(frame)
        old_objects = [self.objects[oid] for oid in old_ids]
        fg = self.predict(frame, features, old_objects).float() if old_objects else None
        # -- corrections: tracked ids given again own their pixels and are exactly their mask --------
        corrected = corrected_object_ids(mask, old_ids)
        if corrected:
            assert mask is not None and fg is not None
            fg = fg * (~torch.isin(mask, torch.tensor(corrected, device=mask.device))).float()
            for oid in corrected:
                fg[old_ids.index(oid)] = (mask == oid).float()
        # -- end corrections ---------------------------------------------------------------------------
        if new_ids:
            assert mask is not None
            new_masks = torch.stack([mask == oid for oid in new_ids])
            for oid, obj_mask in zip(new_ids, new_masks):
                self.objects[oid] = self.start_object(oid, frame, features, obj_mask)
            self.object_ids = old_ids + tuple(new_ids)
            if fg is not None:
                # Objects given on this frame own their pixels (FRTM tracker.py, YouTube-VOS protocol).
                fg = fg * (~new_masks.any(dim=0)).float()
        if fg is None:
            return one_hot_labels(mask, self.object_ids)
        if new_ids:
            fg = torch.cat([fg, new_masks.float()], dim=0)
        probs = aggregate(fg, self.merge, bg_rule=self.bg_rule)
        for k, obj in enumerate(old_objects):
            if old_ids[k] in corrected:  # corrections: re-anchor instead of learning from the estimate
                assert mask is not None
                self.reanchor_object(old_ids[k], frame, features, mask == old_ids[k])
            else:
                obj.observe(probs[1 + k])
        return probs


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
