"""Bicubic interpolation: the classical baseline every SR method must beat."""
from __future__ import annotations

from typing import Any

import numpy as np

from restore_core.context import RunContext
from restore_core.sample import Sample
from restore_image.scale import output_shape, parse_scale


def bicubic_resize(data: np.ndarray, size: tuple[int, int], value_range: tuple[float, float] | None) -> np.ndarray:
    """Resize (C, H, W) data with Matlab-``imresize``-style bicubic interpolation.

    torch's antialiased path uses the Keys (1981) kernel with a = -0.5, as
    Matlab and PIL do (the SR literature's "bicubic" baseline), and widens it
    when downsizing.  Values are clipped to ``value_range`` when given, since
    cubic interpolation overshoots.
    """
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))[None]
    out = F.interpolate(tensor, size=size, mode="bicubic", align_corners=False, antialias=True)[0]
    if value_range is not None:
        out = out.clamp(*value_range)
    return out.numpy()


def value_range(sample: Sample) -> tuple[float, float] | None:
    dtype = np.dtype(sample.source_dtype)
    if dtype.kind in "ui":
        return float(np.iinfo(dtype).min), float(np.iinfo(dtype).max)
    return None


class Bicubic:
    """Upscale every channel (alpha included) by bicubic interpolation."""

    name = "bicubic"

    def restore(self, sample: Sample, cfg: Any, context: RunContext) -> Sample:
        scale = parse_scale(cfg.scale)
        size = output_shape(sample.spatial_shape, scale)
        from restore_image.alpha import restore_colour_keep_alpha

        bounds = value_range(sample)
        return restore_colour_keep_alpha(sample, lambda colour: bicubic_resize(colour, size, bounds), size)  # type: ignore[arg-type]
