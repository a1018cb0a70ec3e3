"""The base of this plugin's diffusion methods (DMDC, DDSR): a streamed window function around the core's SR engine.

:class:`RSDiffusionSR` is both a :class:`WindowedMethod` (streaming, bounded
memory, nodata masked and written back) and a :class:`DiffusionSRMethod`
(checkpoint loading, the reverse process, ``restore train``).  Per window:

1. every band is mapped to model units by the file's normalisation
   (:mod:`restore_remote_sensing.normalise`, read once per file);
2. the bands the model restores are chosen by the band rule
   (:mod:`restore_remote_sensing.bands`); the others are upsampled bicubically;
3. the model's reverse process starts from noise seeded by the window's
   ``origin`` (its position on the mosaic grid) and ``seed``, so a window's
   result does not depend on which windows ran before it or how the scene was
   tiled into files;
4. the result is mapped back to the file's units and clipped to its dtype.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from omegaconf import DictConfig

from restore_core.context import RunContext
from restore_core.engine.sr_method import DiffusionSRMethod, sample_sr
from restore_core.errors import InputError, UsageError
from restore_core.sample import Sample
from restore_remote_sensing.bands import apply_band_rule, band_rule
from restore_remote_sensing.bicubic import bicubic_upsample, dtype_range
from restore_remote_sensing.normalise import Bounds, array_bounds, dataset_bounds, from_model, to_model
from restore_remote_sensing.raster_io import RasterInfo, source_errors
from restore_remote_sensing.streaming import WindowFn
from restore_remote_sensing.windowed import WindowedMethod, open_dataset, parse_scale

CHECKPOINTS = Path(__file__).with_name("checkpoints")
MODEL_CHANNELS = 3
TRAINING_SUFFIXES = (".tif", ".tiff")


def origin_seed(seed: int, origin: tuple[int, int], group: int = 0) -> int:
    """A 63-bit seed from the run's seed, a window's origin and the band group: independent of tiling order."""
    value = int(seed) & 0xFFFFFFFF
    for part in (int(origin[0]), int(origin[1]), int(group)):
        value = (value * 0x9E3779B97F4A7C15 + (part & 0xFFFFFFFF) + 1) % (1 << 63)
    return value


def sample_valid(sample: Sample, nodata: float | None) -> np.ndarray:
    """Which values of an in-memory raster are data (mask/alpha from the reader, nodata value, NaN)."""
    valid = np.isfinite(sample.data)
    mask = sample.meta.get("valid")
    if isinstance(mask, np.ndarray) and mask.shape == sample.data.shape:
        valid &= mask
    if nodata is not None and not np.isnan(nodata):
        valid &= sample.data != nodata
    return valid


class RSDiffusionSR(WindowedMethod, DiffusionSRMethod):
    """A diffusion SR model applied window by window to GeoTIFFs (subclasses set ``name`` and the training parts)."""

    name = "rs-diffusion"
    spatial_dims = 2

    def __init__(self) -> None:
        DiffusionSRMethod.__init__(self)
        self._pending_bounds: Bounds | None = None

    def checkpoint_dir(self) -> Path:
        return CHECKPOINTS

    # -- training data -------------------------------------------------------------------
    def training_images(self, data: Path, cfg: DictConfig) -> Sequence[torch.Tensor]:
        """Every GeoTIFF in ``data``: its RGB bands (band rule) in model units (normalisation rule)."""
        files = sorted(p for p in Path(data).iterdir() if p.suffix.lower() in TRAINING_SUFFIXES and not p.name.startswith("."))
        if not files:
            raise InputError(data, "holds no GeoTIFF training images (.tif)")
        images = []
        for path in files:
            with open_dataset(path) as dataset, source_errors(path):
                raster = dataset.read(out_dtype="float32")
                valid = dataset.read_masks() > 0
                nodata = dataset.nodata
                colorinterp = dataset.colorinterp
            if nodata is not None and not np.isnan(nodata):
                valid &= raster != nodata
            rule = band_rule(raster.shape[0], colorinterp, cfg.bands.get("rgb", "auto"), MODEL_CHANNELS)
            group = list(rule.model_groups[0])
            bounds = array_bounds(raster, valid, cfg)[group]
            images.append(torch.from_numpy(to_model(raster[group], bounds, float(cfg.normalise.headroom)).astype(np.float32)))
        return images

    # -- inference ---------------------------------------------------------------------------
    def restore(self, sample: Sample, cfg: Any, context: RunContext) -> Sample:
        """In memory (``restore eval``): the normalisation comes from the sample itself."""
        nodata = getattr(sample.meta.get("raster"), "nodata", None)
        self._pending_bounds = array_bounds(sample.data, sample_valid(sample, nodata), cfg)
        try:
            return WindowedMethod.restore(self, sample, cfg, context)
        finally:
            self._pending_bounds = None

    def scene_bounds(self, cfg: Any, info: RasterInfo) -> Bounds:
        """The file's normalisation, read once before any window."""
        if self._pending_bounds is not None:
            return self._pending_bounds
        with open_dataset(info.path) as dataset, source_errors(info.path):
            return dataset_bounds(dataset, cfg, info.nodata)

    def window_function(self, cfg: Any, context: RunContext, info: RasterInfo) -> WindowFn:
        scale = parse_scale(cfg.scale)
        model, stored = self._load(cfg, MODEL_CHANNELS, context.device)
        self._warn_if_architecture_differs(cfg, stored, context)
        trained = [int(s) for s in (stored.get("train") or cfg.train).get("scales", [scale])]
        if scale not in trained:
            raise UsageError(f"method '{self.name}' was trained for ×{', ×'.join(map(str, trained))}, not ×{scale}")
        rule = band_rule(info.count, info.colorinterp, cfg.bands.get("rgb", "auto"), model.channels)
        bounds = self.scene_bounds(cfg, info)
        headroom = float(cfg.normalise.headroom)
        value_range = dtype_range(info.dtype)
        seed, device = int(cfg.seed), context.device

        def restore_window(data: np.ndarray, valid: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
            groups = iter(range(len(rule.model_groups)))

            def run_model(x: np.ndarray, _: np.ndarray) -> np.ndarray:
                generator = torch.Generator(device=device).manual_seed(origin_seed(seed, origin, next(groups)))
                lr = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None].to(device)
                with torch.no_grad():
                    hr = sample_sr(model, lr, scale, cfg, generator, registry=context.registry)
                return hr[0].float().cpu().numpy()

            def run_bicubic(x: np.ndarray, _: np.ndarray) -> np.ndarray:
                return bicubic_upsample(x, scale)

            restored = apply_band_rule(to_model(data, bounds, headroom), valid, rule, run_model, run_bicubic)
            out = from_model(restored, bounds, headroom)
            return np.clip(out, *value_range) if value_range is not None else out

        return restore_window
