"""Nodata handling of the streaming path (issue 5, item 2: nodata is not hallucinated into).

Before a method sees a window, its nodata pixels are replaced by the value of
the nearest valid pixel of the same band (Euclidean distance transform), so the
method neither treats the nodata value (often 0 or -9999) as content nor
smears it into valid pixels at the edge of a nodata region.  After restoring,
output pixels whose source pixel (nearest-neighbour upsampling of the mask) was
nodata are written as nodata again.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def fill_invalid(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Return ``data`` (C, h, w) with invalid pixels set to the nearest valid pixel of their band.

    A band with no valid pixel in the window is filled with 0: every output
    pixel it feeds is written as nodata anyway.  Bands sharing one mask (the
    usual case) share one distance transform.
    """
    if data.shape != valid.shape or data.ndim != 3:
        raise ValueError(f"data {data.shape} and valid {valid.shape} must both be (C, h, w)")
    out = data.copy()
    cached_mask: np.ndarray | None = None
    cached_index: tuple[np.ndarray, np.ndarray] | None = None
    for band in range(data.shape[0]):
        mask = valid[band]
        if mask.all():
            continue
        if not mask.any():
            out[band] = 0.0
            continue
        if cached_mask is None or not np.array_equal(mask, cached_mask):
            rows, cols = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
            cached_mask, cached_index = mask, (rows, cols)
        assert cached_index is not None
        out[band] = data[band][cached_index]
    return out


def nearest_mask(valid: np.ndarray, row0: int, col0: int, out_rows: slice, out_cols: slice, scale: int) -> np.ndarray:
    """Nearest-neighbour upsampling of an input mask onto output rows/cols.

    ``valid`` (C, h, w) covers input pixels from (``row0``, ``col0``); output
    pixel (y, x) takes the mask of input pixel (y // scale, x // scale).
    """
    rows = np.arange(out_rows.start, out_rows.stop) // scale - row0
    cols = np.arange(out_cols.start, out_cols.stop) // scale - col0
    return valid[:, rows[:, None], cols[None, :]]
