"""Bicubic interpolation, streamed: the baseline every remote-sensing SR method must beat.

Per window, every band is upsampled with torch's antialiased bicubic kernel
(Keys 1981, a = -0.5, as Matlab ``imresize`` and PIL) and clipped to the
dtype's range, since cubic interpolation overshoots.  The kernel reaches two
input pixels, so with ``tiling.halo >= 2`` each window's output equals the
whole-scene interpolation exactly and blending is a no-op (no overlap needed).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from restore_core.context import RunContext
from restore_remote_sensing.raster_io import RasterInfo
from restore_core.engine.windows.streamed import StreamStats, WindowFn
from restore_core.sample import Sample, dtype_range
from restore_remote_sensing.windowed import RasterWindows, parse_scale


def bicubic_upsample(data: np.ndarray, scale: int, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """``(C, h, w)`` -> ``(C, h*scale, w*scale)`` float32, antialiased bicubic, optionally clipped."""
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))[None]
    size = (data.shape[1] * scale, data.shape[2] * scale)
    out = F.interpolate(tensor, size=size, mode="bicubic", align_corners=False, antialias=True)[0]
    if value_range is not None:
        out = out.clamp_(*value_range)
    return out.numpy()


class Bicubic:
    """Every band upsampled by bicubic interpolation, window by window."""

    name = "bicubic"

    def __init__(self) -> None:
        self.windows = RasterWindows()

    def restore_file(self, source: Path, target: Path, cfg: Any, context: RunContext) -> None:
        self.windows.restore_file(source, target, cfg, context, lambda info: self.window_function(cfg, context, info))

    def restore(self, sample: Sample, cfg: Any, context: RunContext) -> Sample:
        return self.windows.restore(sample, cfg, context, lambda info: self.window_function(cfg, context, info))

    @property
    def last_stats(self) -> StreamStats | None:
        return self.windows.last_stats

    def window_function(self, cfg: Any, context: RunContext, info: RasterInfo) -> WindowFn:
        scale = parse_scale(cfg.scale)
        bounds = dtype_range(info.dtype)

        def restore_window(data: np.ndarray, valid: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
            return bicubic_upsample(data, scale, bounds)

        return restore_window
