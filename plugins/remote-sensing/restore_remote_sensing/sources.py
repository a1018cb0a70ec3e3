"""Where the streaming machinery reads windows from: one raster, a mosaic of rasters, or an array.

Coordinates are those of a *frame* whose (0, 0) is the top-left pixel of the
whole extent: the file itself, or the mosaic its tile belongs to (see
:mod:`restore_remote_sensing.mosaic`).  A window reaching into a neighbouring
tile reads that tile's pixels, so a tile restored on its own sees the same
context as the whole mosaic would (issue 5, item 7).  Pixels no file covers
are invalid (treated like nodata: filled for the method, never written).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from restore_remote_sensing.raster_io import source_errors


@dataclass
class RasterMember:
    """An open dataset placed at (``row``, ``col``) of the frame."""

    path: Path
    dataset: Any
    row: int = 0
    col: int = 0
    all_valid: bool = False

    @property
    def height(self) -> int:
        return int(self.dataset.height)

    @property
    def width(self) -> int:
        return int(self.dataset.width)

    def _window(self, rows: slice, cols: slice) -> Any:
        from rasterio.windows import Window

        return Window(cols.start - self.col, rows.start - self.row, cols.stop - cols.start, rows.stop - rows.start)

    def read(self, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        """Data (float32) and validity of frame ``rows x cols``, which must lie inside this member."""
        window = self._window(rows, cols)
        with source_errors(self.path):
            data = self.dataset.read(window=window, out_dtype="float32")
            if self.all_valid:
                valid = np.ones(data.shape, bool)
            else:
                valid = self.dataset.read_masks(window=window) > 0
        if str(self.dataset.dtypes[0]).startswith("float"):
            valid &= np.isfinite(data)
        return data, valid

    def read_valid(self, rows: slice, cols: slice) -> np.ndarray | None:
        if self.all_valid and not str(self.dataset.dtypes[0]).startswith("float"):
            return None
        return self.read(rows, cols)[1]


class RasterSource:
    """The primary raster (whose output is written), with its mosaic neighbours for context."""

    def __init__(self, primary: RasterMember, neighbours: Sequence[RasterMember] = (), extent: tuple[int, int] | None = None) -> None:
        self.primary = primary
        self.neighbours = list(neighbours)
        self.count = int(primary.dataset.count)
        self.extent = extent or (primary.row + primary.height, primary.col + primary.width)

    @property
    def region(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The primary's ``(lo, hi)`` rows and cols in the frame: the part that is written."""
        p = self.primary
        return (p.row, p.row + p.height), (p.col, p.col + p.width)

    def read(self, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        p = self.primary
        inside = p.row <= rows.start and rows.stop <= p.row + p.height and p.col <= cols.start and cols.stop <= p.col + p.width
        if inside:
            return p.read(rows, cols)
        shape = (self.count, rows.stop - rows.start, cols.stop - cols.start)
        data, valid = np.zeros(shape, np.float32), np.zeros(shape, bool)
        for member in [*self.neighbours, p]:  # the primary last: its own pixels (and nodata) win
            r0, r1 = max(rows.start, member.row), min(rows.stop, member.row + member.height)
            c0, c1 = max(cols.start, member.col), min(cols.stop, member.col + member.width)
            if r0 >= r1 or c0 >= c1:
                continue
            part, part_valid = member.read(slice(r0, r1), slice(c0, c1))
            target = (slice(None), slice(r0 - rows.start, r1 - rows.start), slice(c0 - cols.start, c1 - cols.start))
            if member is p:
                data[target], valid[target] = part, part_valid
            else:
                np.copyto(data[target], part, where=part_valid)
                valid[target] |= part_valid
        return data, valid

    def read_valid(self, rows: slice, cols: slice) -> np.ndarray | None:
        return self.primary.read_valid(rows, cols)


class ArraySource:
    """An in-memory ``(C, H, W)`` float32 array; valid = finite and not equal to ``nodata``."""

    def __init__(self, data: np.ndarray, nodata: float | None = None) -> None:
        self.data = np.asarray(data, dtype=np.float32)
        self.count = int(self.data.shape[0])
        valid = np.isfinite(self.data)
        if nodata is not None and not np.isnan(nodata):
            valid &= self.data != np.float32(nodata)
        self.valid = None if valid.all() else valid

    def read(self, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        data = np.array(self.data[:, rows, cols])
        valid = np.ones(data.shape, bool) if self.valid is None else np.array(self.valid[:, rows, cols])
        return data, valid

    def read_valid(self, rows: slice, cols: slice) -> np.ndarray | None:
        return None if self.valid is None else self.valid[:, rows, cols]
