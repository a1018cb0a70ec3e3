"""Bicubic interpolation: the classical baseline every SR method must beat."""
from __future__ import annotations

from typing import Any

import numpy as np

from restore_core.context import RunContext
from restore_core.sample import Sample, dtype_range
from restore_image.scale import output_shape, parse_scale

MIN_WEIGHT = 1e-3  # resized alpha (0..1) below which colour is not unpremultiplied


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


def alpha_weighted_resize(
    colour: np.ndarray, weight: np.ndarray, size: tuple[int, int], value_range: tuple[float, float] | None
) -> np.ndarray:
    """Bicubic resize of straight-alpha colour, premultiplied by ``weight`` (alpha in [0, 1]).

    Returns resize(colour * weight) / resize(weight) where the resized weight
    exceeds :data:`MIN_WEIGHT`, so colour under transparent pixels does not
    bleed into visible ones; elsewhere (invisible pixels) the plain resized
    colour.  The quotient is clipped to ``value_range`` or, for float data, to
    the input colour's own range.
    """
    weight = np.clip(weight, 0.0, 1.0).astype(np.float32)
    both = bicubic_resize(np.concatenate([colour * weight, weight], axis=0), size, None)
    weighted, resized_weight = both[:-1], both[-1:]
    visible = resized_weight > MIN_WEIGHT
    low, high = value_range if value_range is not None else (float(colour.min()), float(colour.max()))
    quotient = np.clip(weighted / np.where(visible, resized_weight, 1.0), low, high)
    return np.where(visible, quotient, bicubic_resize(colour, size, value_range)).astype(np.float32)


class Bicubic:
    """Upscale every channel (alpha included) by bicubic interpolation.

    Straight (unassociated) alpha images are resized premultiplied, as
    compositing software does; premultiplied (associated alpha) TIFFs
    already are, and are resized as they are.
    """

    name = "bicubic"

    def restore(self, sample: Sample, cfg: Any, context: RunContext) -> Sample:
        scale = parse_scale(cfg.scale)
        size = output_shape(sample.spatial_shape, scale)
        from restore_image.alpha import restore_colour_keep_alpha, straight_alpha_weight

        bounds = dtype_range(sample.source_dtype)
        weight = straight_alpha_weight(sample)

        def resize(colour: np.ndarray) -> np.ndarray:
            if weight is None:
                return bicubic_resize(colour, size, bounds)  # type: ignore[arg-type]
            return alpha_weighted_resize(colour, weight, size, bounds)  # type: ignore[arg-type]

        return restore_colour_keep_alpha(sample, resize, size)  # type: ignore[arg-type]
