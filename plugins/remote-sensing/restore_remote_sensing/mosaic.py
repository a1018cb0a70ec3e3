"""Tiles of one mosaic, restored one by one, stay seamless (issue 5, item 7).

Rule (``mosaic.neighbours: true``): the *siblings* of an input (same folder, a
raster extension, not hidden, name not ending with ``output.suffix``) belong to
its mosaic when they share its CRS, band count, data type and pixel vectors
(geotransform terms a, b, d, e) and their origin lies on its pixel grid (a
whole number of pixels away, within 1e-6 pixel), and they do not overlap it:
tiles of one mosaic abut, so a sibling covering some of the input's pixels is
another acquisition of the same place (another date, another product), not a
neighbour, and is never read as context.  Windows are then placed on
the grid of the mosaic's bounding box, and a window reaching into a
neighbouring tile reads that tile.  So each tile's output is the crop of what
restoring the whole mosaic at once would give (same windows, same inputs, same
blending): tile borders are seamless by construction, for diffusion methods as
long as they seed their noise from the window origin.  Windows straddling a
border are restored once per tile that they touch: that is the price.
Headers of a folder are read once per process (cached by names, sizes, times).
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from restore_core.atomic import full_suffix
from restore_remote_sensing.formats import READ_EXTENSIONS
from restore_remote_sensing.raster_io import RasterInfo, compose

_GRID_TOLERANCE = 1e-6  # pixels


@dataclass(frozen=True)
class TileHeader:
    path: Path
    crs: Any
    transform: Any
    height: int
    width: int
    count: int
    dtype: str


@dataclass
class MosaicLayout:
    """The frame of a mosaic: its size, where the input sits, and the neighbours within reach."""

    extent: tuple[int, int]
    primary: tuple[int, int] = (0, 0)
    neighbours: list[tuple[Path, int, int]] = field(default_factory=list)


def _is_candidate(path: Path, exclude_suffix: str) -> bool:
    ext = full_suffix(path)
    stem = path.name[: len(path.name) - len(ext)] if ext else path.name
    return (
        not path.name.startswith(".")
        and ext.lower() in READ_EXTENSIONS
        and not (exclude_suffix and stem.endswith(exclude_suffix))
    )


def sibling_headers(folder: Path, exclude_suffix: str) -> tuple[TileHeader, ...]:
    """Headers of the readable raster siblings in ``folder`` (unreadable files are skipped)."""
    listing = []
    for entry in os.scandir(folder):
        path = Path(entry.path)
        if entry.is_file() and _is_candidate(path, exclude_suffix):
            stat = entry.stat()
            listing.append((entry.name, stat.st_size, stat.st_mtime_ns))
    return _headers(str(folder), tuple(sorted(listing)))


@lru_cache(maxsize=16)
def _headers(folder: str, listing: tuple[tuple[str, int, int], ...]) -> tuple[TileHeader, ...]:
    import rasterio

    headers = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, _, _ in listing:
            path = Path(folder) / name
            try:
                with rasterio.open(path) as ds:
                    headers.append(TileHeader(path, ds.crs, ds.transform, ds.height, ds.width, ds.count, ds.dtypes[0]))
            except Exception:  # not a raster this plugin could use as context
                continue
    return tuple(headers)


def _same_pixels(a: Any, b: Any) -> bool:
    return all(math.isclose(getattr(a, k), getattr(b, k), rel_tol=1e-9, abs_tol=1e-12) for k in "abde")


def mosaic_layout(path: Path, info: RasterInfo, reach: int, exclude_suffix: str) -> MosaicLayout:
    """Place ``path`` and its grid-aligned siblings in one frame; keep neighbours within ``reach`` pixels."""
    alone = MosaicLayout((info.height, info.width))
    transform, crs = info.geometry.transform, info.geometry.crs
    if transform is None or crs is None:
        return alone
    inverse = ~transform
    placed = []
    for header in sibling_headers(path.parent, exclude_suffix):
        if header.path.resolve() == path.resolve():
            continue
        if (header.count, header.dtype) != (info.count, info.dtype) or header.crs != crs:
            continue
        if not _same_pixels(header.transform, transform):
            continue
        col, row = compose(inverse, (header.transform.c, header.transform.f))
        if abs(col - round(col)) > _GRID_TOLERANCE or abs(row - round(row)) > _GRID_TOLERANCE:
            continue
        row, col = int(round(row)), int(round(col))
        if row < info.height and row + header.height > 0 and col < info.width and col + header.width > 0:
            continue  # overlaps the input: another acquisition, not a mosaic tile
        placed.append((header, row, col))
    if not placed:
        return alone
    row0 = min([0] + [r for _, r, _ in placed])
    col0 = min([0] + [c for _, _, c in placed])
    row1 = max([info.height] + [r + h.height for h, r, _ in placed])
    col1 = max([info.width] + [c + h.width for h, _, c in placed])
    near = [
        (h.path, r - row0, c - col0)
        for h, r, c in placed
        if r < info.height + reach and r + h.height > -reach and c < info.width + reach and c + h.width > -reach
    ]
    return MosaicLayout((row1 - row0, col1 - col0), (-row0, -col0), near)
