"""How raster values reach a diffusion model's [-1, 1] and come back (issue 5, item 5).

The rule (``normalise.*`` in ``configs/remote-sensing/{dmdc,ddsr}.yaml``):

* Each band is mapped by one affine function for the whole file:
  ``[low, high] -> [-headroom, +headroom]`` (``normalise.headroom``, 0.8), where
  ``low``/``high`` are the band's ``normalise.percentiles`` (0.5 %, 99.5 %) of
  its valid pixels, read **once per file** before any window: the whole band
  when it has at most ``normalise.max_pixels`` pixels, else a decimated read
  (GDAL overviews or nearest sampling) of at most that many, so memory stays
  bounded.  Per-band stretching suits uint16 sensors whose digital numbers sit
  in a narrow part of the dtype (Landsat 8 L1: about 6000..10000) and needs no
  sensor calibration table; the map is inverted exactly after the model.
* ``normalise.range: [low, high]`` fixes the range of every band instead (e.g.
  ``[0, 10000]`` for reflectance × 10⁴), which makes adjacent tiles of a
  mosaic use the same map (per-file statistics of two tiles differ slightly).
* Values beyond the percentiles stay inside the model's range up to ``±1`` (the
  headroom: 12.5 % of the range on each side); beyond that the model restores the
  clamped image and the excess passes through a bicubic upsampling
  (:func:`restore_remote_sensing.diffusion_method.restore_radiometry`), so no
  measured value is clipped; only the dtype's representable range bounds the result.

Training files are normalised by the same rule (each file its own statistics).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

Bounds = np.ndarray  # (bands, 2): low, high per band


def band_bounds(data: np.ndarray, valid: np.ndarray | None, percentiles: Sequence[float] = (0.5, 99.5)) -> Bounds:
    """``(bands, 2)`` robust low/high of each band's valid pixels; a flat band gets a unit-wide range."""
    bounds = np.zeros((data.shape[0], 2), np.float64)
    for band in range(data.shape[0]):
        values = data[band] if valid is None else data[band][valid[band]]
        values = values[np.isfinite(values)]
        if values.size == 0:
            bounds[band] = (0.0, 1.0)
            continue
        low, high = np.percentile(values, [float(percentiles[0]), float(percentiles[1])])
        if high - low < 1e-6:
            low, high = low - 0.5, high + 0.5
        bounds[band] = (low, high)
    return bounds


def dataset_bounds(dataset: Any, cfg: Any, nodata: float | None) -> Bounds:
    """Per-band bounds of an open rasterio dataset, from at most ``normalise.max_pixels`` pixels per band."""
    fixed = _fixed(cfg, dataset.count)
    if fixed is not None:
        return fixed
    pixels = dataset.height * dataset.width
    factor = max(1.0, float(np.sqrt(pixels / float(cfg.normalise.max_pixels))))
    shape = (dataset.count, max(1, int(dataset.height / factor)), max(1, int(dataset.width / factor)))
    data = dataset.read(out_shape=shape, out_dtype="float32")
    valid = dataset.read_masks(out_shape=shape) > 0
    if nodata is not None and not np.isnan(nodata):
        valid &= data != nodata
    return band_bounds(data, valid, list(cfg.normalise.percentiles))


def array_bounds(data: np.ndarray, valid: np.ndarray | None, cfg: Any) -> Bounds:
    """Per-band bounds of an in-memory raster (the same rule as :func:`dataset_bounds`)."""
    fixed = _fixed(cfg, data.shape[0])
    if fixed is not None:
        return fixed
    pixels = data.shape[1] * data.shape[2]
    step = max(1, int(np.ceil(np.sqrt(pixels / float(cfg.normalise.max_pixels)))))
    sub = data[:, ::step, ::step]
    return band_bounds(sub, None if valid is None else valid[:, ::step, ::step], list(cfg.normalise.percentiles))


def _fixed(cfg: Any, count: int) -> Bounds | None:
    value = cfg.normalise.get("range")
    if value is None:
        return None
    low, high = float(value[0]), float(value[1])
    return np.tile(np.array([[low, high]], np.float64), (count, 1))


def to_model(data: np.ndarray, bounds: Bounds, headroom: float) -> np.ndarray:
    """``(k, h, w)`` raster units -> model units: ``[low, high] -> [-headroom, headroom]`` per band."""
    low, high = bounds[:, 0, None, None], bounds[:, 1, None, None]
    return ((data - low) / (high - low) * 2.0 - 1.0) * headroom


def from_model(data: np.ndarray, bounds: Bounds, headroom: float) -> np.ndarray:
    """Inverse of :func:`to_model` (float32)."""
    low, high = bounds[:, 0, None, None], bounds[:, 1, None, None]
    return ((data / headroom + 1.0) / 2.0 * (high - low) + low).astype(np.float32)
