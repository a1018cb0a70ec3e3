"""What the turbulence methods share: frames in and out, the condition of each output frame, training data.

A single frame is restored from (frame, frame); a burst of a static scene from (reference frame,
registered average of all frames) into one image; a video frame by frame from (frame, registered
average of its ``turbulence.temporal_radius`` neighbours each side), same frame count.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from omegaconf import DictConfig

from restore_core.context import RunContext
from restore_core.engine.loading import plain
from restore_core.engine.sr_method import DiffusionSRMethod
from restore_core.errors import ConfigError, InputError
from restore_core.sample import Sample
from restore_turbulence.degradation import random_turbulence_degradation
from restore_turbulence.frames import frames_of, sequence_like
from restore_turbulence.fusion import fuse, temporal_neighbours
from restore_turbulence.model import TurbulenceModel

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
#: the model's colour channels (grey inputs are replicated, then averaged back)
CHANNELS = 3


def full_scale(sample: Sample) -> float:
    kind = np.dtype(sample.source_dtype)
    return float(np.iinfo(kind).max) if kind.kind in "ui" else 1.0


def to_unit(sample: Sample) -> torch.Tensor:
    """The sample's frames as (T, 3, H, W) in [0, 1] (grey replicated, alpha dropped)."""
    frames = frames_of(sample)
    if sample.meta.get("has_alpha") and frames.shape[1] in (2, 4):
        frames = frames[:, :-1]
    x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)) / full_scale(sample)
    if x.shape[1] == 1:
        x = x.expand(-1, CHANNELS, -1, -1)
    if x.shape[1] != CHANNELS:
        raise InputError(sample.path or Path("input"), f"has {x.shape[1]} channels; turbulence methods restore grey or RGB frames")
    return x.clamp(0, 1).contiguous()


def from_unit(restored: torch.Tensor, sample: Sample) -> np.ndarray:
    """(N, 3, H, W) in [0, 1] back to the sample's channels (grey: the mean) and units."""
    channels = frames_of(sample).shape[1] - (1 if sample.meta.get("has_alpha") else 0)
    if channels == 1:
        restored = restored.mean(dim=1, keepdim=True)
    out = restored.clamp(0, 1).numpy().astype(np.float32) * full_scale(sample)
    if sample.meta.get("has_alpha"):  # alpha of the reference frame(s), unchanged
        alpha = frames_of(sample)[:, -1:]
        out = np.concatenate([out, alpha[: len(out)] if len(alpha) >= len(out) else np.repeat(alpha[:1], len(out), 0)], axis=1)
    return out


def reference_index(cfg: DictConfig, count: int) -> int:
    choice = str((cfg.get("turbulence") or {}).get("reference", "middle"))
    if choice == "middle":
        return count // 2
    if choice == "first":
        return 0
    try:
        index = int(choice)
    except ValueError:
        raise ConfigError(f"turbulence.reference must be middle, first or a frame index, got '{choice}'") from None
    if not 0 <= index < count:
        raise ConfigError(f"turbulence.reference={index} but the burst has {count} frames")
    return index


def conditions(frames: torch.Tensor, kind: str | None, cfg: DictConfig) -> list[torch.Tensor]:
    """The (6, H, W) condition in [-1, 1] of every output frame (module docstring)."""
    settings = cfg.get("turbulence") or {}
    max_shift = settings.get("max_shift")
    max_shift = float(max_shift) if max_shift is not None else None
    pair = lambda ref, avg: torch.cat([ref, avg]).clamp(0, 1) * 2 - 1  # noqa: E731
    if kind == "burst":
        return [pair(*fuse(frames, reference_index(cfg, len(frames)), max_shift=max_shift))]
    if kind == "video":
        radius = int(settings.get("temporal_radius", 2))
        out = []
        for t in range(len(frames)):
            window = temporal_neighbours(len(frames), t, radius)
            out.append(pair(*fuse(frames[window], window.index(t), max_shift=max_shift)))
        return out
    return [pair(frame, frame) for frame in frames]


class TurbulenceMethod(DiffusionSRMethod):
    """A conditional diffusion method of this plugin: restoration through :meth:`restore_conditions`."""

    plugin = "turbulence"
    checkpoint_dir = CHECKPOINTS

    def build_model(self, cfg: DictConfig, channels: int, networks: Any = None) -> torch.nn.Module:
        networks = networks if networks is not None else self.registry()
        try:
            return TurbulenceModel(plain(cfg.model), plain(cfg.diffusion), CHANNELS, networks)
        except ValueError as exc:
            raise ConfigError(f"model: {exc}") from None

    def restore(self, sample: Sample, cfg: DictConfig, context: RunContext) -> Sample:
        kind = sample.meta.get("sequence")
        frames = to_unit(sample)
        conds = conditions(frames, kind, cfg)
        restored = self.restore_conditions(torch.stack(conds), cfg, context)
        return sequence_like(sample, from_unit(restored, sample), "video" if kind == "video" else None)

    def restore_conditions(self, conds: torch.Tensor, cfg: DictConfig, context: RunContext) -> torch.Tensor:
        """(N, 6, H, W) conditions in [-1, 1] -> (N, 3, H, W) restorations in [0, 1], frame by frame."""
        loaded = self.load(cfg, CHANNELS, context)
        plan = self.plan(cfg, loaded, context)
        out = []
        frames = range(len(conds))
        for index in (context.progress(frames, len(conds), "frames") if len(conds) > 1 and not context.quiet else frames):
            with torch.inference_mode():
                x = self.sample_in_windows(loaded.model, plan, conds[index:index + 1].to(context.device), 1.0, cfg, context, offset=index)
            out.append((x.float().cpu() + 1) / 2)
        return torch.cat(out)

    # -- training --------------------------------------------------------------------------
    def training_images(self, data: Path, cfg: DictConfig, context: RunContext) -> Sequence[torch.Tensor]:
        """A pre-simulated pair file (scripts/make_turbulence_pairs.py: (9, p, p) = [condition, HR]), or a
        folder of clean images simulated on the fly (slow: the simulator costs more than a step)."""
        data = Path(data)
        if data.is_file() and data.suffix == ".safetensors":
            from safetensors.numpy import load_file

            stored = load_file(str(data))
            if set(stored) != {"lr", "hr"} or stored["lr"].shape[1] != 2 * CHANNELS:
                raise InputError(data, "is not a turbulence pair file (scripts/make_turbulence_pairs.py)")
            both = np.concatenate([stored["lr"], stored["hr"]], axis=1)
            return [torch.from_numpy(item.astype(np.float32) / 127.5 - 1) for item in both]
        return super().training_images(data, cfg, context)

    def training_tensors(self, sample: Sample, cfg: DictConfig) -> list[torch.Tensor]:
        return [t * 2 - 1 for t in to_unit(sample)]

    def degradation(self, cfg: DictConfig, scale: int, context: RunContext) -> Any:
        simulate = random_turbulence_degradation(**dict(plain(cfg.train.get("degradation_params")) or {}))

        def degrade(x: torch.Tensor, generator: torch.Generator | None = None) -> Mapping[str, torch.Tensor]:
            if x.shape[1] == 3 * CHANNELS:  # a pre-simulated pair: [condition, HR]
                return {"lr": x[:, : 2 * CHANNELS], "hr": x[:, 2 * CHANNELS:]}
            return simulate(x, generator)

        return degrade


__all__ = ["CHANNELS", "CHECKPOINTS", "TurbulenceMethod", "conditions", "from_unit", "reference_index", "to_unit"]
