"""The classical baseline: registered temporal average, then unsharp masking.

Averaging registered frames removes the zero-mean turbulent tilt (and noise) at the cost of the
long-exposure blur; unsharp masking, out = avg + a (avg - G_sigma * avg), restores some contrast.
The baseline of the issue's quality gate; no network.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from restore_core.context import RunContext
from restore_core.sample import Sample
from restore_turbulence.frames import sequence_like
from restore_turbulence.methods.common import conditions, from_unit, to_unit


def unsharp(image: torch.Tensor, sigma: float, amount: float) -> torch.Tensor:
    """Unsharp masking of (N, C, H, W) with a Gaussian of std ``sigma`` pixels."""
    radius = max(1, int(3 * sigma + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    c = image.shape[1]
    padded = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    blurred = F.conv2d(F.conv2d(padded, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return image + amount * (image - blurred)


class AverageUnsharp:
    """``restore(sample)``: each output frame's fused average (see restore_turbulence.methods.common), sharpened."""

    def restore(self, sample: Sample, cfg: DictConfig, context: RunContext) -> Sample:
        kind = sample.meta.get("sequence")
        fused = torch.stack([(c[3:] + 1) / 2 for c in conditions(to_unit(sample), kind, cfg)])
        section = cfg.get("unsharp") or {}
        out = unsharp(fused, float(section.get("sigma", 1.5)), float(section.get("amount", 1.0))).clamp(0, 1)
        return sequence_like(sample, from_unit(out, sample), "video" if kind == "video" else None)


__all__ = ["AverageUnsharp", "unsharp"]
