"""The streamed windowing back-end: a scene window by window, overlaps blended, memory bounded by the tile.

A method supplies one function, ``restore_window(data, valid, origin)``:
``data`` is ``(bands, h, w)`` float32 in the file's own units with nodata
pixels already filled (:func:`~restore_core.engine.windows.validity.fill_invalid`),
``valid`` the ``(bands, h, w)`` bool mask, ``origin`` the (row, col) of the
window in the source grid (to seed per-window noise reproducibly); it returns
``(bands, h * s, w * s)``.  Everything else happens here.

Windows are placed as :func:`restore_core.engine.windows.memory.iter_windows` places
them, read with ``halo`` extra pixels of context on each side (cropped off
again), and blended with the core's border-aware Gaussian weights (nnU-Net,
Isensee et al. 2021): ``out(p) = sum_w g_w(p) f_w(p) / sum_w g_w(p)``.  The
windows form a grid, so ``g_w(y, x) = g_i(y) g_j(x)`` and the normaliser is
separable, ``sum_w g_w = G(y) G(x)``: each window's contribution is weighted by
``(g_i / G)(y) (g_j / G)(x)`` and no weight map is kept.

Bounded memory.  Windows are visited row by row.  The accumulator ("strip")
spans the rows of one window row and only the columns the current window and
its unfinished left neighbour touch.  Columns the next window cannot reach are
emitted: rows no later window row reaches go to the sink (the output file),
the others go to the ``Frontier``, a sequential stream (a temporary file for
files) that the next window row reads back column by column.  Emission is
aligned to the sink's blocks, so every compressed output block is written once.
Memory is O(bands x (tile x s + block)^2); the frontier on disk holds at
most bands x (tile x s + block) x output width float32 values.  Output rows
and columns are restricted to a region of interest, so a tile of a mosaic can
be restored on the mosaic's window grid (see ``sources``).

Why not MONAI's ``Splitter``/``Merger`` (``PatchInferer``): its mergers
accumulate into an output-sized array (``AvgMerger`` in memory, ``ZarrAvgMerger``
in a Zarr store, plus a count map of the same size), whereas here the output
goes straight into the output file in its compressed block order, nothing
scene-sized is ever allocated, and nodata and mosaic neighbours are part of
reading a window.  Window *placement* and *weights* are shared with the
in-memory back-end (``memory.iter_windows``, ``weights.blend_profile``).

Flat peak memory.  Bounded is not enough for a flat *peak*: with one fresh
strip per window row (the next allocated while the last was alive) and
strip-sized temporaries per window (the weighted window, the emitted copy, the
shifted columns, the frontier's transposes), the process's peak depended on
how glibc happened to place and reuse those blocks, and a longer run drew
more chances of a bad layout (issue 5: +14% peak RSS at 20000² over 2048²).
So one strip buffer, sized up front, serves every window row; emitted columns
are handed on as views, to the sink in bands of whole block rows; and
everything that combines whole strips works in slices of ``_CHUNK`` rows or
columns, so no temporary is larger than a few hundred kilobytes.  Each window
still allocates what the method returns and what the source reads, which are
the same size for every window.  What remains is the geometry of the grid's
last window (placed to end at the extent, so it may overlap its neighbour by
up to a whole window): the strip then spans up to ``tile x s + block - 1``
rows and columns, a bound that depends on the remainder of the extent modulo
the window step, never on the extent itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterable, Protocol

import numpy as np

from restore_core.engine.windows.memory import iter_windows
from restore_core.engine.windows.weights import blend_profile
from restore_core.engine.windows.frontier import Frontier
from restore_core.engine.windows.validity import fill_invalid, nearest_mask

_CHUNK = 64  # rows (or columns) per slice when combining strip-sized arrays: bounds every temporary
_EMIT_ROWS = 256  # finished rows go to the sink in bands of whole block rows, at least this many


class WindowFn(Protocol):
    def __call__(self, data: np.ndarray, valid: np.ndarray, origin: tuple[int, int]) -> np.ndarray: ...


class WindowSource(Protocol):
    """Input pixels in a frame where the whole (mosaic) extent starts at (0, 0)."""

    count: int

    def read(self, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        """``(data float32 (C, h, w), valid bool (C, h, w))``."""

    def read_valid(self, rows: slice, cols: slice) -> np.ndarray | None:
        """The validity of the written region's pixels, or None when all are valid."""


class WindowSink(Protocol):
    """Where finished output goes; coordinates relative to the written region."""

    block_shape: tuple[int, int]

    def write(self, rows: slice, cols: slice, data: np.ndarray, valid: np.ndarray | None) -> None:
        """``data`` is a view of the strip: read it during the call, never modify or keep it."""


@dataclass(frozen=True)
class AxisPlan:
    """Windows along one axis and the part of the output that is written.

    ``extent``: input pixels of the whole (mosaic) axis; ``[lo, hi)``: input
    pixels whose output is written; ``starts``: window starts that touch it.
    """

    extent: int
    lo: int
    hi: int
    tile: int
    halo: int
    scale: int
    starts: tuple[int, ...]
    sigma_scale: float = 0.125

    @property
    def out_lo(self) -> int:
        return self.lo * self.scale

    @property
    def out_hi(self) -> int:
        return self.hi * self.scale

    def read_span(self, k: int) -> slice:
        """Input pixels read for window ``k``: the window plus the halo, inside the extent."""
        start = self.starts[k]
        return slice(max(0, start - self.halo), min(self.extent, start + self.tile + self.halo))

    def out_span(self, k: int) -> slice:
        """Output pixels window ``k`` contributes to, inside the written region."""
        start = self.starts[k] * self.scale
        return slice(max(start, self.out_lo), min(start + self.tile * self.scale, self.out_hi))

    def final_end(self, k: int) -> int:
        """Output pixels before this are complete once windows ``0..k`` are done."""
        if k + 1 == len(self.starts):
            return self.out_hi
        return min(max(self.starts[k + 1] * self.scale, self.out_lo), self.out_hi)

    def aligned(self, position: int, block: int) -> int:
        """``position`` rounded down to a block boundary of the written region (its end stays)."""
        if position >= self.out_hi:
            return self.out_hi
        return self.out_lo + (position - self.out_lo) // block * block

    @cached_property
    def weights(self) -> tuple[np.ndarray, ...]:
        """Per window, ``g_k / G`` over :meth:`out_span` (float32); they sum to 1 at every pixel."""
        size = self.tile * self.scale
        total = np.zeros(self.out_hi - self.out_lo)
        parts = []
        for k, start in enumerate(self.starts):
            profile = blend_profile(size, self.sigma_scale, start == 0, start + self.tile == self.extent)
            span = self.out_span(k)
            part = profile[span.start - start * self.scale : span.stop - start * self.scale]
            total[span.start - self.out_lo : span.stop - self.out_lo] += part
            parts.append((span, part))
        return tuple(
            (part / total[span.start - self.out_lo : span.stop - self.out_lo]).astype(np.float32) for span, part in parts
        )


def plan_axis(
    extent: int, tile: int, overlap: float | int, halo: int, scale: int,
    lo: int = 0, hi: int | None = None, sigma_scale: float = 0.125,
) -> AxisPlan:
    """Place windows along an axis of ``extent`` pixels exactly as the core's ``iter_windows`` does."""
    hi = extent if hi is None else hi
    if not 0 <= lo < hi <= extent:
        raise ValueError(f"written region [{lo}, {hi}) must lie inside [0, {extent})")
    if halo < 0 or scale < 1:
        raise ValueError(f"halo must be >= 0 and scale >= 1, got {halo}, {scale}")
    windows = [w[0] for w in iter_windows((extent,), tile, overlap)]
    starts = tuple(w.start for w in windows if w.start < hi and w.stop > lo)
    return AxisPlan(extent, lo, hi, min(int(tile), extent), int(halo), int(scale), starts, float(sigma_scale))


@dataclass
class StreamStats:
    """What a streamed run did; the sizes prove the memory bound."""

    windows: int = 0
    skipped: int = 0
    max_window_pixels: int = 0
    max_strip_shape: tuple[int, int] = (0, 0)
    max_frontier_rows: int = 0
    valid_output_values: int = 0


class _Strip:
    """Accumulated, already-weighted output of one window row, over a sliding column range.

    One buffer of ``rows x capacity`` serves every window row of a run (see the
    module docstring, "Flat peak memory"): :meth:`start` begins a window row
    on its first ``bottom - top`` rows.
    """

    def __init__(self, channels: int, rows: int, capacity: int) -> None:
        self._full = _zeros_outside_heap((channels, rows, capacity))
        self.buf = self._full
        self.top = self.c_lo = self.c_hi = 0

    def start(self, top: int, bottom: int, c_lo: int) -> None:
        """Begin a window row covering output rows ``[top, bottom)``, empty, at column ``c_lo``."""
        if bottom - top > self._full.shape[1]:  # not reached: stream_restore sizes the buffer for every row
            self._full = np.zeros(self._full.shape[:1] + (bottom - top,) + self._full.shape[2:], np.float32)
        self.buf = self._full[:, : bottom - top]
        self.top, self.c_lo, self.c_hi = top, c_lo, c_lo

    def extend(self, to: int, frontier: Frontier) -> None:
        if to <= self.c_hi:
            return
        need = to - self.c_lo
        if need > self.buf.shape[2]:  # not reached: stream_restore sizes the buffer for every column span
            grown = np.zeros(self._full.shape[:2] + (need,), np.float32)
            grown[:, : self.buf.shape[1], : self.c_hi - self.c_lo] = self.buf[:, :, : self.c_hi - self.c_lo]
            self._full, self.buf = grown, grown[:, : self.buf.shape[1]]
        region = self.buf[:, :, self.c_hi - self.c_lo : need]
        region.fill(0.0)
        if frontier.rows_in:
            frontier.read_into(region[:, : frontier.rows_in])
        self.c_hi = to

    def add(self, rows: slice, cols: slice, window: np.ndarray, row_weights: np.ndarray, col_weights: np.ndarray) -> None:
        """Add ``window * row_weights[:, None] * col_weights[None, :]`` at ``rows x cols``, ``_CHUNK`` rows at a time."""
        target = self.buf[:, rows.start - self.top : rows.stop - self.top, cols.start - self.c_lo : cols.stop - self.c_lo]
        for a in range(0, target.shape[1], _CHUNK):
            b = min(a + _CHUNK, target.shape[1])
            target[:, a:b] += window[:, a:b] * (row_weights[a:b, None] * col_weights[None, :])

    def columns(self, to: int) -> np.ndarray:
        """A view of columns ``[c_lo, to)``; valid until :meth:`drop`."""
        return self.buf[:, :, : to - self.c_lo]

    def drop(self, to: int) -> None:
        """Forget columns ``[c_lo, to)``: the rest moves to the buffer's start (``_CHUNK`` rows at a time)."""
        n, keep = to - self.c_lo, self.c_hi - to
        if keep > 0:
            for a in range(0, self.buf.shape[1], _CHUNK):
                rows = self.buf[:, a : a + _CHUNK]
                rows[:, :, :keep] = rows[:, :, n : n + keep]
        self.c_lo = to


def _zeros_outside_heap(shape: tuple[int, int, int]) -> np.ndarray:
    """A zeroed float32 array in its own anonymous mapping, returned to the system when it is freed."""
    import mmap

    size = int(np.prod(shape)) * 4
    return np.frombuffer(mmap.mmap(-1, max(size, 1)), np.float32, count=size // 4).reshape(shape)


def _strip_size(rows: AxisPlan, cols: AxisPlan, block_h: int, block_w: int) -> tuple[int, int]:
    """The most rows one window row accumulates and the most columns the strip holds at once."""
    most_rows, top = 0, rows.out_lo
    for i in range(len(rows.starts)):
        most_rows = max(most_rows, rows.out_span(i).stop - top)
        top = max(top, rows.aligned(rows.final_end(i), block_h))
    most_cols, c_lo = 0, cols.out_lo
    for j in range(len(cols.starts)):
        most_cols = max(most_cols, cols.out_span(j).stop - c_lo)
        c_lo = max(c_lo, cols.aligned(cols.final_end(j), block_w))
    return most_rows, max(most_cols, cols.tile * cols.scale + block_w)  # the latter: a fixed bound, for stats


def stream_restore(
    source: WindowSource,
    sink: WindowSink,
    restore_window: WindowFn,
    rows: AxisPlan,
    cols: AxisPlan,
    frontier: Frontier | None = None,
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
) -> StreamStats:
    """Restore the region ``rows x cols`` of ``source`` into ``sink``; see the module docstring."""
    if rows.scale != cols.scale:
        raise ValueError("rows and cols must share one scale")
    channels = source.count
    frontier = frontier if frontier is not None else Frontier(channels)
    block_h, block_w = sink.block_shape
    stats = StreamStats()
    strip = _Strip(channels, *_strip_size(rows, cols, block_h, block_w))
    band = block_h * -(-_EMIT_ROWS // block_h)
    top = rows.out_lo
    order = range(len(rows.starts))
    for i in progress(order) if progress else order:
        span_i = rows.out_span(i)
        flush = max(top, rows.aligned(rows.final_end(i), block_h))
        frontier.next_row(span_i.stop - flush)
        strip.start(top, span_i.stop, cols.out_lo)
        stats.max_frontier_rows = max(stats.max_frontier_rows, span_i.stop - flush)
        for j in range(len(cols.starts)):
            span_j = cols.out_span(j)
            strip.extend(span_j.stop, frontier)
            stats.max_strip_shape = (
                max(stats.max_strip_shape[0], strip.buf.shape[1]), max(stats.max_strip_shape[1], strip.buf.shape[2])
            )
            _restore_one(source, restore_window, rows, cols, i, j, strip, stats)
            emit_to = cols.aligned(cols.final_end(j), block_w)
            if emit_to > strip.c_lo:
                c_lo = strip.c_lo
                block = strip.columns(emit_to)
                for r0 in range(top, flush, band):  # block rows at a time: the sink's arrays stay small
                    r1 = min(r0 + band, flush)
                    _emit(source, sink, block[:, r0 - top : r1 - top], slice(r0, r1), slice(c_lo, emit_to), rows, cols, stats)
                if span_i.stop > flush:
                    frontier.write(block[:, flush - top :])
                strip.drop(emit_to)
        top = flush
    return stats


def _restore_one(
    source: WindowSource, fn: WindowFn, rows: AxisPlan, cols: AxisPlan, i: int, j: int, strip: _Strip, stats: StreamStats
) -> None:
    read_rows, read_cols = rows.read_span(i), cols.read_span(j)
    data, valid = source.read(read_rows, read_cols)
    stats.max_window_pixels = max(stats.max_window_pixels, data.shape[1] * data.shape[2])
    if not valid.any():
        stats.skipped += 1  # all nodata: written as nodata, the method is not called
        return
    stats.windows += 1
    filled = data if valid.all() else fill_invalid(data, valid)
    out = np.asarray(fn(filled, valid, (read_rows.start, read_cols.start)), dtype=np.float32)
    s = rows.scale
    expected = (data.shape[0], data.shape[1] * s, data.shape[2] * s)
    if out.shape != expected:
        raise ValueError(f"restore_window returned {out.shape} for a window {data.shape}; expected {expected}")
    span_i, span_j = rows.out_span(i), cols.out_span(j)
    crop = out[
        :,
        span_i.start - read_rows.start * s : span_i.stop - read_rows.start * s,
        span_j.start - read_cols.start * s : span_j.stop - read_cols.start * s,
    ]
    strip.add(span_i, span_j, crop, rows.weights[i], cols.weights[j])


def _emit(
    source: WindowSource, sink: WindowSink, data: np.ndarray, out_rows: slice, out_cols: slice,
    rows: AxisPlan, cols: AxisPlan, stats: StreamStats,
) -> None:
    """Write finished output, with the validity of its source pixels (nearest upsampled)."""
    s = rows.scale
    in_rows = slice(out_rows.start // s, -(-out_rows.stop // s))
    in_cols = slice(out_cols.start // s, -(-out_cols.stop // s))
    valid_in = source.read_valid(in_rows, in_cols)
    valid = None if valid_in is None else nearest_mask(valid_in, in_rows.start, in_cols.start, out_rows, out_cols, s)
    stats.valid_output_values += data.size if valid is None else int(np.count_nonzero(valid))
    sink.write(
        slice(out_rows.start - rows.out_lo, out_rows.stop - rows.out_lo),
        slice(out_cols.start - cols.out_lo, out_cols.stop - cols.out_lo),
        data,
        valid,
    )
