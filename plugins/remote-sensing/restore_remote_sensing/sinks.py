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


_CHUNK = 64  # rows per slice while casting: the float temporaries stay small whatever the block's size


def cast_to_dtype(data: np.ndarray, dtype: str | np.dtype, out: np.ndarray | None = None) -> np.ndarray:
    """Round and clip float data into ``dtype`` (integers), or convert (floats), into ``out`` or a new array.

    Works ``_CHUNK`` rows at a time, so the only array as large as ``data`` is the result.
    """
    target = np.dtype(dtype)
    if out is None:
        out = np.empty(data.shape, target)
    if target.kind not in "ui":
        out[...] = data
        return out
    info = np.iinfo(target)
    if data.ndim < 2:
        out[...] = np.clip(np.rint(data), info.min, info.max)
        return out
    rows = data.shape[-2]
    scratch = np.empty(data.shape[:-2] + (min(rows, _CHUNK), data.shape[-1]), np.result_type(data.dtype, np.float32))
    for a in range(0, rows, _CHUNK):
        part = scratch[..., : min(_CHUNK, rows - a), :]
        np.rint(data[..., a : a + _CHUNK, :], out=part)
        np.clip(part, info.min, info.max, out=part)
        out[..., a : a + _CHUNK, :] = part
    return out


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
    """Windowed writes into an open rasterio dataset, in its dtype.

    Blocks are cast into one reused buffer (grown when a larger block comes),
    not into a fresh array per write: GDAL copies what it is given, and the
    streaming machinery's memory stays the same from the first block to the last.
    """

    def __init__(self, dataset: Any, nodata: float | None, mask_mode: str) -> None:
        self.dataset = dataset
        self.nodata = nodata
        self.mask_mode = mask_mode
        self.block_shape: tuple[int, int] = tuple(dataset.block_shapes[0])  # type: ignore[assignment]
        self._buffer = np.empty(0, np.dtype(dataset.dtypes[0]))

    def _out(self, shape: tuple[int, ...]) -> np.ndarray:
        size = int(np.prod(shape))
        if size > self._buffer.size:
            self._buffer = np.empty(0, self._buffer.dtype)  # release before allocating
            self._buffer = np.empty(size, self._buffer.dtype)
        return self._buffer[:size].reshape(shape)

    def write(self, rows: slice, cols: slice, data: np.ndarray, valid: np.ndarray | None) -> None:
        from rasterio.windows import Window

        window = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        out = cast_to_dtype(data, self.dataset.dtypes[0], self._out(data.shape))
        if valid is not None:
            out = apply_nodata(out, valid, self.nodata)
            if self.mask_mode == "mask":
                self.dataset.write_mask(np.where(valid.any(axis=0), np.uint8(255), np.uint8(0)), window=window)
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
