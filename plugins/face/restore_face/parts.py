"""The face methods' networks as trainable parts, each with its own config section.

A face method is built from several networks, each trained on its own
(``restore train --plugin face --method M train.part=P``):

==========  ==================  ===========================================================
part        method              what it is
==========  ==================  ===========================================================
estimator   difface             the diffused estimator's restoration network (L1 on LQ -> HQ)
prior       difface, diffbfr    the unconditional face prior (DifFace's chain, DiffBFR's TEM)
irm_low     diffbfr             DiffBFR's low-resolution conditional DDPM (Identity Restoration)
irm_high    diffbfr             DiffBFR's full-resolution conditional DDPM
==========  ==================  ===========================================================

A part's section (``estimator``, ``irm_low``, ...) holds its ``checkpoint``,
``size`` and the ``model`` / ``diffusion`` / ``sampler`` / ``start`` settings
that :func:`part_config` lifts to the top level, where the core's checkpoint
loader, sampling plan and training loop read them.  The prior keeps the core's
``prior`` section (:class:`~restore_core.engine.zero_shot.ZeroShotMethod`), so
``--weights`` runs a published face prior (DifFace's FFHQ-512) in its place.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from restore_core.context import RunContext
from restore_core.engine.loading import plain
from restore_core.engine.pairs import PatchPairs
from restore_core.engine.sr_method import DiffusionMethod
from restore_core.engine.zero_shot import ZeroShotMethod
from restore_core.errors import ConfigError
from restore_core.sample import Sample
from restore_face.alignment import warp_affine
from restore_face.degradation import blind_face_degradation
from restore_face.networks import ResidualEstimator

CHECKPOINTS = Path(__file__).with_name("checkpoints")
PARTS = ("estimator", "prior", "irm_low", "irm_high")


def part_config(cfg: DictConfig, part: str) -> DictConfig:
    """``cfg`` with the ``part`` section's model/diffusion/sampler/start at the top level and
    ``model.checkpoint`` set to its checkpoint (what the core's loader, plan and trainer read).

    ``model`` and ``diffusion`` are replaced (a part's architecture is its own), ``sampler`` and
    ``start`` are merged over the core's defaults; ``weights`` (``--weights``) is the prior's, so a
    conditional part never sees it.
    """
    section = cfg.get(part)
    if section is None:
        raise ConfigError(f"method '{cfg.get('method')}' has no '{part}' section")
    values = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(values, dict)
    lifted = plain(section)
    for key in ("model", "diffusion"):
        values[key] = dict(lifted.get(key) or {})
    for key in ("sampler", "start"):
        values[key] = {**dict(values.get(key) or {}), **dict(lifted.get(key) or {})}
    values["model"]["checkpoint"] = lifted.get("checkpoint")
    values["weights"] = None
    return OmegaConf.create(values)


def face_tensor(sample: Sample, size: int) -> torch.Tensor:
    """An aligned face file as a (3, size, size) training image in [-1, 1] (grey replicated, alpha dropped)."""
    colour = sample.data[:-1] if sample.meta.get("has_alpha") else sample.data
    kind = np.dtype(sample.source_dtype)
    white = float(np.iinfo(kind).max) if kind.kind in "ui" else 1.0
    x = torch.from_numpy(np.ascontiguousarray(colour, dtype=np.float32)) / white * 2 - 1
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    if tuple(x.shape[1:]) != (size, size):
        x = F.interpolate(x[None], size=(size, size), mode="bicubic", align_corners=False, antialias=True)[0]
    return x.clamp(-1, 1).contiguous()


class FacePairs(PatchPairs):
    """Whole aligned faces, augmented for a small set of identities (never transposed: faces stay upright).

    Per face: a horizontal flip (p 0.5), a small similarity jitter (scale, rotation, shift; alignment is
    never exact), brightness, contrast and saturation jitter, and greyscale (p ``grey``).
    """

    def __init__(self, images: Sequence[torch.Tensor], batch_size: int, degradations: Mapping[int, Any], seed: int = 0,
                 jitter: Mapping[str, float] | None = None) -> None:
        size = int(images[0].shape[-1])
        super().__init__(images, patch=size, batch_size=batch_size, degradations=degradations, seed=seed)
        self.jitter = {"scale": 0.05, "rotate": 5.0, "shift": 0.02, "brightness": 0.1, "contrast": 0.15, "saturation": 0.2, "grey": 0.1,
                       **dict(jitter or {})}

    def _uniform(self, half_width: float) -> float:
        return half_width * (2 * float(torch.rand((), generator=self.generator)) - 1)

    def _patch(self) -> torch.Tensor:
        face = self.images[self._randint(len(self.images))]
        size = face.shape[-1]
        if self._randint(2):
            face = face.flip(-1)
        j = self.jitter
        scale, angle = 1 + self._uniform(j["scale"]), math.radians(self._uniform(j["rotate"]))
        shift = (self._uniform(j["shift"]) * size, self._uniform(j["shift"]) * size)
        centre = (size - 1) / 2
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        # output pixel -> input pixel: rotate and scale about the centre, then shift
        matrix = np.array([[cos, -sin, centre - cos * centre + sin * centre + shift[0]],
                           [sin, cos, centre - sin * centre - cos * centre + shift[1]]])
        x = warp_affine(face[None], matrix, (size, size))[0]
        x = (x + 1) / 2
        x = x * (1 + self._uniform(j["contrast"])) + self._uniform(j["brightness"])
        grey = x.mean(0, keepdim=True)
        x = grey + (x - grey) * (1 + self._uniform(j["saturation"]))
        if float(torch.rand((), generator=self.generator)) < j["grey"]:
            x = x.mean(0, keepdim=True).expand(3, -1, -1)
        return (x.clamp(0, 1) * 2 - 1).contiguous()


def blind_degradation(cfg: DictConfig, size: int) -> Any:
    """The blind face degradation of ``train.degradation_params`` for crops of ``size``."""
    params = dict(plain(cfg.train.get("degradation_params")) or {})
    try:
        return blind_face_degradation(size=size, **params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"train.degradation_params: {exc}") from None


class FacePart(DiffusionMethod):
    """A conditional face network trained on aligned faces (``face.size`` crops) with the blind degradation.

    ``scale`` is 1: the LQ face is brought back to the crop size before it enters any network.
    """

    plugin = "face"
    checkpoint_dir = CHECKPOINTS

    def __init__(self, name: str, part: str) -> None:
        super().__init__()
        self.name, self.part = name, part

    def size(self, cfg: DictConfig) -> int:
        return int(cfg[self.part].get("size") or cfg.face.size)

    def training_tensors(self, sample: Sample, cfg: DictConfig) -> list[torch.Tensor]:
        return [face_tensor(sample, int(cfg.face.size))]

    def degradation(self, cfg: DictConfig, scale: int, context: RunContext) -> Any:
        blind = blind_degradation(cfg, int(cfg.face.size))
        size = self.size(cfg)
        if size == int(cfg.face.size):
            return blind

        def at_part_size(hr: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
            lq = blind(hr, generator)
            down = lambda x: F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)  # noqa: E731
            return {"lr": down(lq), "hr": down(hr)}

        return at_part_size

    def pair_source(self, images: Sequence[torch.Tensor], cfg: DictConfig, degradations: Mapping[int, Any]) -> Any:
        return FacePairs(images, int(cfg.train.batch_size), degradations, seed=int(cfg.seed), jitter=plain(cfg.train.get("jitter")))


class EstimatorPart(FacePart):
    """DifFace's restoration network ``f(y)``, trained with L1 (the paper's SwinIR loss) on blind pairs."""

    def build_model(self, cfg: DictConfig, channels: int, networks: Any = None) -> torch.nn.Module:
        network = dict(plain((cfg.get("model") or {}).get("network")) or {})
        try:
            return ResidualEstimator(in_channels=channels, **network)
        except TypeError as exc:
            raise ConfigError(f"estimator.model.network: {exc}") from None

    def training_loss(self, cfg: DictConfig) -> Any:
        def l1(model: torch.nn.Module, batch: tuple, generator: torch.Generator, settings: Any) -> torch.Tensor:
            lq, hq = batch[0], batch[1]
            return (model(lq) - hq).abs().mean()

        return l1


class PriorPart(ZeroShotMethod):
    """The unconditional face prior ``prior.arch`` / ``prior.config``, trained on clean aligned faces."""

    plugin = "face"
    checkpoint_dir = CHECKPOINTS
    name = "face-prior"

    def training_tensors(self, sample: Sample, cfg: DictConfig) -> list[torch.Tensor]:
        return [face_tensor(sample, int(cfg.face.size))]

    def pair_source(self, images: Sequence[torch.Tensor], cfg: DictConfig, degradations: Mapping[int, Any]) -> Any:
        return FacePairs(images, int(cfg.train.batch_size), degradations, seed=int(cfg.seed), jitter=plain(cfg.train.get("jitter")))


def select_part(cfg: DictConfig, parts: Mapping[str, Any]) -> Any:
    """The part ``train.part`` names; anything else is one ConfigError line."""
    part = str((cfg.get("train") or {}).get("part") or "")
    if part not in parts:
        raise ConfigError(f"train.part must name one of this method's networks: {', '.join(parts)} (got '{part}')")
    return parts[part]


def train_part(cfg: DictConfig, context: RunContext, *, data: Any, output_dir: Any, max_steps: int | None, parts: Mapping[str, Any]) -> Path:
    """``restore train`` for the part ``train.part`` names, among the method's ``parts``."""
    from restore_core.engine.method_training import train_method

    part = str(cfg.train.get("part") or "")
    trainer = select_part(cfg, parts)
    run_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True)) if part == "prior" else part_config(cfg, part)
    train_section = plain((cfg.get(part) or {}).get("train"))
    if train_section:
        run_cfg = OmegaConf.merge(run_cfg, {"train": train_section})
    out = output_dir or Path("runs") / f"face-{cfg.method}-{part}"
    return train_method(trainer, run_cfg, context, data=data, output_dir=out, max_steps=max_steps)


__all__ = ["PARTS", "EstimatorPart", "FacePart", "FacePairs", "PriorPart", "face_tensor", "part_config", "select_part", "train_part", "CHECKPOINTS"]
