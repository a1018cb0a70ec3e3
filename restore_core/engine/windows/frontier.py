"""The frontier of the streaming machinery: partial output sums that the next window row adds to.

See :mod:`restore_core.engine.windows.streamed`.  Rows that a later window row
still reaches are kept here instead of in memory, column-major, so that a
column range is one contiguous run of bytes; since every window row writes and
reads all columns once, left to right, a pair of sequential streams suffices
and no seeking is needed.  For files the streams are anonymous temporary files
(their pages live in the OS cache, not in the process), which is what keeps
the process's memory independent of the scene width.  Reads and writes go
through column slices of ``_CHUNK``, so that the column-major copies are small
whatever the strip's width.
"""
from __future__ import annotations

import io
from typing import BinaryIO, Callable

import numpy as np

_CHUNK = 64  # columns per read or write: the transposed copies stay small whatever the strip's width


class Frontier:
    """Partial sums of output rows a later window row still adds to, stored column-major.

    Written and read strictly in column order, once per window row, so two
    sequential streams suffice: one holds what the previous row left, the
    other receives what this row leaves.  ``make_file`` gives in-memory
    buffers by default; pass ``tempfile.TemporaryFile`` for scenes.
    """

    def __init__(self, channels: int, make_file: Callable[[], BinaryIO] = io.BytesIO) -> None:
        self.channels = channels
        self._files = [make_file(), make_file()]
        self._writing = 0
        self.rows_in = 0
        self.rows_out = 0

    def next_row(self, rows_out: int) -> None:
        """What was written becomes readable; writing starts afresh with ``rows_out`` rows per column."""
        self._files[self._writing].seek(0)
        self._writing ^= 1
        self._files[self._writing].seek(0)
        self._files[self._writing].truncate()
        self.rows_in, self.rows_out = self.rows_out, rows_out

    def read(self, ncols: int) -> np.ndarray:
        """The next ``ncols`` columns left by the previous row, ``(C, rows_in, ncols)``."""
        out = np.empty((self.channels, self.rows_in, ncols), np.float32)
        self.read_into(out)
        return out

    def read_into(self, out: np.ndarray) -> None:
        """Fill ``out`` ``(C, rows_in, ncols)`` with the next ``ncols`` columns, ``_CHUNK`` columns at a time."""
        handle = self._files[self._writing ^ 1]
        ncols, column = out.shape[2], self.channels * self.rows_in * 4
        buffer = memoryview(bytearray(min(ncols, _CHUNK) * column))
        for a in range(0, ncols, _CHUNK):
            b = min(a + _CHUNK, ncols)
            part = buffer[: (b - a) * column]
            if handle.readinto(part) != len(part):
                raise RuntimeError("frontier stream ended early")
            out[:, :, a:b] = np.frombuffer(part, np.float32).reshape(b - a, self.channels, self.rows_in).transpose(1, 2, 0)

    def write(self, block: np.ndarray) -> None:
        """Append ``(C, rows_out, ncols)`` partial sums, ``_CHUNK`` columns at a time."""
        handle = self._files[self._writing]
        for a in range(0, block.shape[2], _CHUNK):
            handle.write(np.ascontiguousarray(block[:, :, a : a + _CHUNK].transpose(2, 0, 1), np.float32).data)

    def close(self) -> None:
        for handle in self._files:
            handle.close()
