"""Whole rasters as :class:`~restore_core.sample.Sample` objects: the core's reader and writer hooks.

Files are restored by streaming (:meth:`RasterWindows.restore_file`); these
read whole rasters into memory for ``restore eval`` and for methods without a
streaming path.  The metadata travel as ``meta["raster"]`` (a
:class:`RasterInfo`), the georeferencing as the sample's ``geometry`` (a
:class:`RasterGeometry`, scaled by :meth:`Sample.resampled`); masks of rasters
without a nodata value as ``meta["valid"]``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from restore_core.errors import InputError
from restore_core.sample import Sample
from restore_remote_sensing.raster_io import RasterGeometry, gdal_env, inspect_raster, open_output, source_errors
from restore_remote_sensing.sinks import apply_nodata, cast_to_dtype
from restore_remote_sensing.windowed import info_from_sample, open_dataset


def read_raster(path: Path, cfg: Any = None) -> Sample:
    """Read every band of ``path`` as float32 in its own units (nodata pixels keep their value)."""
    import rasterio

    path = Path(path)
    with rasterio.Env(), open_dataset(path) as dataset:
        with source_errors(path):
            info = inspect_raster(path, dataset)
            data = dataset.read(out_dtype="float32")
            valid = np.ones(data.shape, bool) if info.all_valid else dataset.read_masks() > 0
    if info.dtype == "float32":
        valid &= np.isfinite(data)
    if not valid.any():
        raise InputError(path, "every pixel is nodata; there is nothing to restore")
    meta: dict[str, Any] = {"format": "raster", "raster": info}
    if info.mask_mode in ("mask", "alpha") and not valid.all():
        meta["valid"] = valid
    return Sample(data=data, spatial_dims=2, source_dtype=np.dtype(info.dtype), meta=meta, path=path, geometry=info.geometry)


def write_raster(sample: Sample, path: Path, cfg: Any) -> None:
    """Write ``sample`` as a tiled, compressed GeoTIFF (a COG with ``cog: true``) in its source dtype."""
    info = info_from_sample(sample)
    info = dataclasses.replace(info, count=sample.channels, dtype=np.dtype(sample.source_dtype).name)
    if len(info.descriptions) != sample.channels:
        info = dataclasses.replace(info, descriptions=(None,) * sample.channels, colorinterp=(), band_tags=())
    geometry = sample.geometry if isinstance(sample.geometry, RasterGeometry) else RasterGeometry()
    height, width = sample.spatial_shape
    out = cast_to_dtype(sample.data, info.dtype)
    valid = sample.meta.get("valid")
    has_valid = isinstance(valid, np.ndarray) and valid.shape == sample.data.shape
    if has_valid:
        out = apply_nodata(out, valid, info.nodata)
    with gdal_env(cfg), open_output(Path(path), info, geometry, (height, width), cfg) as dst:
        dst.write(out)
        if has_valid and info.mask_mode == "mask":
            dst.write_mask(np.where(valid.any(axis=0), 255, 0).astype(np.uint8))
