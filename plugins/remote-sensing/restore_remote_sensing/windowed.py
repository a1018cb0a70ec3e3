"""Rasters through the core's streamed windowing back-end: a per-window function in, a GeoTIFF out.

A method holds a :class:`RasterWindows` (composition, not a base class) and
hands it a *window-function factory* ``make(info) -> restore_window``; the
run's values (the file's normalisation bounds, say) travel in that factory's
closure, as arguments, never as attributes set on the method between calls.
:class:`RasterWindows` gives both entry points of the method contract
(:mod:`restore_core.hookspecs`): ``restore_file`` (streaming, bounded memory;
what ``restore`` uses for files) and ``restore(sample)`` (in memory; what
``restore eval`` uses); both run the same windows, blending and nodata rules
of :mod:`restore_core.engine.windows.streamed`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from restore_core.context import RunContext
from restore_core.errors import InputError, UsageError
from restore_core.sample import Sample
from restore_core.engine.windows.frontier import Frontier
from restore_remote_sensing.mosaic import mosaic_layout
from restore_remote_sensing.raster_io import RasterGeometry, RasterInfo, gdal_env, inspect_raster, open_output, source_errors
from restore_remote_sensing.sinks import ArraySink, RasterSink
from restore_remote_sensing.sources import ArraySource, RasterMember, RasterSource
from restore_core.engine.windows.streamed import AxisPlan, StreamStats, WindowFn, plan_axis, stream_restore


def parse_scale(value: Any) -> int:
    """A whole factor >= 1: output pixels must nest exactly in input pixels to keep the grid."""
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"scale must be a whole number for rasters, got '{value}'") from None
    if scale < 1 or not scale.is_integer():
        raise UsageError(f"scale must be a whole number >= 1 for rasters (pixels must nest in the grid), got {value}")
    return int(scale)


def axis_plans(cfg: Any, extent: tuple[int, int], region: tuple[tuple[int, int], tuple[int, int]], scale: int) -> tuple[AxisPlan, AxisPlan]:
    """Row and column window plans from ``tiling.*`` for a region of a frame of size ``extent``."""
    tiling = cfg.tiling
    plans = []
    for size, (lo, hi) in zip(extent, region):
        plans.append(
            plan_axis(size, int(tiling.tile), tiling.overlap, int(tiling.halo), scale, lo, hi, float(tiling.sigma_scale))
        )
    return plans[0], plans[1]


def open_dataset(path: Path) -> Any:
    """rasterio.open without its not-georeferenced warning (the plugin warns once, its own way)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings(), source_errors(path):
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


def info_from_sample(sample: Sample) -> RasterInfo:
    """The sample's raster metadata, or a minimal one for samples from elsewhere."""
    info = sample.meta.get("raster")
    if isinstance(info, RasterInfo):
        return info
    count = sample.channels
    return RasterInfo(
        path=Path(sample.path or "sample"), width=sample.spatial_shape[1], height=sample.spatial_shape[0], count=count,
        dtype=np.dtype(sample.source_dtype).name, geometry=RasterGeometry(), nodata=None, mask_mode="none",
        all_valid=True, descriptions=(None,) * count, colorinterp=(), band_tags=({},) * count,
    )


MakeWindowFn = Callable[[RasterInfo], WindowFn]
"""``make(info) -> restore_window(data, valid, origin) -> (bands, h*s, w*s)`` for one raster."""


class RasterWindows:
    """The streamed back-end for rasters; see the module docstring.  ``last_stats``: the last run's."""

    def __init__(self) -> None:
        self.last_stats: StreamStats | None = None

    def restore_file(self, source: Path, target: Path, cfg: Any, context: RunContext, make_window_fn: MakeWindowFn) -> None:
        """Read windows of ``source``, restore them, write blended blocks to ``target`` (a temporary path)."""
        source, target = Path(source), Path(target)
        scale = parse_scale(cfg.scale)
        with gdal_env(cfg), contextlib.ExitStack() as stack:
            dataset = stack.enter_context(open_dataset(source))
            with source_errors(source):
                info = inspect_raster(source, dataset, context.log)
            raster = self._raster_source(source, dataset, info, cfg, stack)
            rows, cols = axis_plans(cfg, raster.extent, raster.region, scale)
            restore_window = make_window_fn(info)
            frontier = Frontier(info.count, lambda: tempfile.TemporaryFile(dir=target.parent))
            stack.callback(frontier.close)
            geometry = info.geometry.scaled((scale, scale))
            with open_output(target, info, geometry, (info.height * scale, info.width * scale), cfg) as dst:
                sink = RasterSink(dst, info.nodata, info.mask_mode)
                progress = lambda it: context.progress(it, total=len(rows.starts), desc=source.name)  # noqa: E731
                stats = stream_restore(raster, sink, restore_window, rows, cols, frontier, progress)
                if stats.valid_output_values == 0:
                    raise InputError(source, "every pixel is nodata; there is nothing to restore")
        self.last_stats = stats

    def _raster_source(self, path: Path, dataset: Any, info: RasterInfo, cfg: Any, stack: contextlib.ExitStack) -> RasterSource:
        """The input, placed in its mosaic with the neighbours its windows can reach (``mosaic.neighbours``)."""
        if not bool(cfg.mosaic.neighbours):
            return RasterSource(RasterMember(path, dataset, all_valid=info.all_valid))
        reach = int(cfg.tiling.tile) + int(cfg.tiling.halo)
        layout = mosaic_layout(path, info, reach, str(cfg.output.suffix))
        neighbours = []
        for other, row, col in layout.neighbours:
            ds = stack.enter_context(open_dataset(other))
            with source_errors(other):
                all_valid = inspect_raster(other, ds, lambda _: None).all_valid
            neighbours.append(RasterMember(other, ds, row, col, all_valid))
        primary = RasterMember(path, dataset, layout.primary[0], layout.primary[1], info.all_valid)
        return RasterSource(primary, neighbours, layout.extent)

    def restore(self, sample: Sample, cfg: Any, context: RunContext, make_window_fn: MakeWindowFn) -> Sample:
        """In memory: the same windows and blending as :meth:`restore_file`, for small rasters and ``restore eval``."""
        if sample.spatial_dims != 2:
            raise InputError(sample.path or "input", f"expected a 2D raster, got {sample.spatial_dims}D data")
        scale = parse_scale(cfg.scale)
        info = info_from_sample(sample)
        height, width = sample.spatial_shape
        source = ArraySource(sample.data, info.nodata)
        valid = sample.meta.get("valid")
        if isinstance(valid, np.ndarray) and valid.shape == sample.data.shape:
            source.valid = None if valid.all() else valid
        rows, cols = axis_plans(cfg, (height, width), ((0, height), (0, width)), scale)
        sink = ArraySink((sample.channels, height * scale, width * scale), info.nodata, sample.source_dtype)
        stats = stream_restore(source, sink, make_window_fn(info), rows, cols)
        if stats.valid_output_values == 0:
            raise InputError(sample.path or "input", "every pixel is nodata; there is nothing to restore")
        self.last_stats = stats
        result = sample.resampled(sink.data)
        if source.valid is not None:
            upsampled = source.valid.repeat(scale, axis=1).repeat(scale, axis=2)
            result = dataclasses.replace(result, meta={**result.meta, "valid": upsampled})
        return result
