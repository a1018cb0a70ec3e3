"""Where the streaming machinery puts finished output: a raster dataset or an array.

Both write nodata back where the source pixel was nodata (issue 5, item 2):
the nodata value when the source has one, the internal mask band when the
source had a per-dataset mask, NaN for float data without either.  A valid
pixel whose restored value happens to equal the nodata value is nudged by one
step (one integer unit, or one float ulp) so that it does not turn into nodata.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def cast_to_dtype(data: np.ndarray, dtype: str | np.dtype) -> np.ndarray:
    """Round and clip float data into ``dtype`` (integers), or convert (floats)."""
    target = np.dtype(dtype)
    if target.kind in "ui":
        info = np.iinfo(target)
        return np.clip(np.rint(data), info.min, info.max).astype(target)
    return data.astype(target)


def apply_nodata(out: np.ndarray, valid: np.ndarray, nodata: float | None) -> np.ndarray:
    """Set invalid pixels of ``out`` (already in its dtype) to nodata, keeping valid ones distinct from it."""
    if nodata is not None and not np.isnan(nodata):
        value = out.dtype.type(nodata)
        collide = valid & (out == value)
        if collide.any():
            if out.dtype.kind in "ui":
                step = 1 if value < np.iinfo(out.dtype).max else -1
                out[collide] = value + step
            else:
                out[collide] = np.nextafter(value, out.dtype.type(np.inf))
        out[~valid] = value
    elif out.dtype.kind == "f":
        out[~valid] = np.nan
    else:
        out[~valid] = 0
    return out


class RasterSink:
    """Windowed writes into an open rasterio dataset, in its dtype."""

    def __init__(self, dataset: Any, nodata: float | None, mask_mode: str) -> None:
        self.dataset = dataset
        self.nodata = nodata
        self.mask_mode = mask_mode
        self.block_shape: tuple[int, int] = tuple(dataset.block_shapes[0])  # type: ignore[assignment]

    def write(self, rows: slice, cols: slice, data: np.ndarray, valid: np.ndarray | None) -> None:
        from rasterio.windows import Window

        window = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        out = cast_to_dtype(data, self.dataset.dtypes[0])
        if valid is not None:
            out = apply_nodata(out, valid, self.nodata)
            if self.mask_mode == "mask":
                self.dataset.write_mask(np.where(valid.any(axis=0), 255, 0).astype(np.uint8), window=window)
        self.dataset.write(out, window=window)


class ArraySink:
    """Collects the output in memory (the in-memory ``restore(sample)`` path), float32 in native units.

    Values are rounded and clipped to ``dtype`` first, so the nodata nudge
    survives the writer's cast.
    """

    block_shape = (1, 1)

    def __init__(self, shape: tuple[int, int, int], nodata: float | None, dtype: str | np.dtype) -> None:
        self.data = np.zeros(shape, np.float32)
        self.nodata = nodata
        self.dtype = np.dtype(dtype)

    def write(self, rows: slice, cols: slice, data: np.ndarray, valid: np.ndarray | None) -> None:
        block = cast_to_dtype(data, self.dtype)
        if valid is not None:
            block = apply_nodata(block, valid, self.nodata)
        self.data[:, rows, cols] = block
