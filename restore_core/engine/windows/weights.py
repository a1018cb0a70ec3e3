"""Blending weights of overlapping windows: one profile for every windowing back-end.

Gaussian-weighted averaging as in nnU-Net (Isensee et al. 2021):
``out(p) = sum_w g_w(p) f_w(p) / sum_w g_w(p)`` with ``g_w`` a separable
Gaussian of std ``sigma_scale * window_size`` centred on window ``w``, so window
edges, where a window saw truncated context, contribute little and seams
vanish.  Unlike MONAI's single weight map, a window's profile stays at its peak
from its centre to any side that lies on the border of the whole extent: its
context there is as true as it gets, so a pixel near the border is not blended
half-and-half with an inner window's edge.
"""
from __future__ import annotations

import numpy as np

#: Floor of each axis profile (not of their product), as MONAI floors its maps at 1e-3.
MIN_AXIS_WEIGHT = 1e-3


def blend_profile(size: int, sigma_scale: float, on_start: bool, on_end: bool, floor: float = MIN_AXIS_WEIGHT) -> np.ndarray:
    """1D blending profile (float64, peak 1) of a window of ``size`` output pixels along one axis.

    ``on_start``/``on_end``: that side of the window lies on the extent's border (flat to the peak there).
    """
    offset = np.arange(size, dtype=np.float64) - (size - 1) / 2
    profile = np.exp(-(offset**2) / (2 * (sigma_scale * size) ** 2))
    peak = profile.max()
    if on_start:
        profile = np.where(offset <= 0, peak, profile)
    if on_end:
        profile = np.where(offset >= 0, peak, profile)
    return np.maximum(profile / peak, floor)
