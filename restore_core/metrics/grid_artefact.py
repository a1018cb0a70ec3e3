"""Periodic boundary artefacts (block grids) in a restored image.

A block grid shows as gradients that are stronger across every ``period``-th
pixel boundary (a window edge, a wavelet or pooling block edge) than across
the others. :func:`boundary_gradient_ratio` is the ratio of the two mean
absolute finite differences: about 1 on a natural image, above 1 where the
restoration draws a grid, below 1 where it flattens its block edges.
Hand-written: no image library measures this (it is a diagnostic, not a
quality metric).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .image_quality import ArrayLike, as_float_tensor

__all__ = ["boundary_gradient_ratio"]


def boundary_gradient_ratio(
    image: ArrayLike, period: int | None = None, offset: int = 0, positions: Sequence[int] | None = None
) -> float:
    """Mean |gradient| across the chosen boundaries over the mean across all other boundaries.

    ``image`` is channel-first ``(C, H, W)`` (or ``(H, W)``); both axes count.
    The boundary between pixel ``i-1`` and ``i`` is chosen when
    ``i % period == offset % period``, or when ``i`` is in ``positions``
    (e.g. the edges of the windows an image was restored in).
    """
    if (period is None) == (positions is None):
        raise ValueError("give either period or positions")
    if period is not None and period < 2:
        raise ValueError(f"period must be at least 2, got {period}")
    x = as_float_tensor(image)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"expected (C, H, W) or (H, W), got shape {tuple(x.shape)}")
    on, off = [], []
    for axis in (1, 2):
        grad = torch.diff(x, dim=axis).abs()  # grad[..., i-1] is the boundary before pixel i
        index = torch.arange(1, x.shape[axis])
        if period is not None:
            boundary = index % period == offset % period
        else:
            boundary = torch.isin(index, torch.tensor(sorted(set(positions)), dtype=index.dtype))
        moved = torch.movedim(grad, axis, -1)
        on.append(moved[..., boundary].flatten())
        off.append(moved[..., ~boundary].flatten())
    on_mean, off_mean = torch.cat(on).mean(), torch.cat(off).mean()
    if off_mean <= 0:
        return float("nan") if on_mean <= 0 else float("inf")
    return float(np.float64(on_mean / off_mean))
