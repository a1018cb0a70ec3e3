"""The base of this plugin's diffusion methods (DMDC, DDSR): a streamed window function around the core's SR engine.

:class:`RSDiffusionSR` is a core :class:`~restore_core.engine.sr_method.DiffusionMethod`
(checkpoint loading, ``restore train``) that *holds* a
:class:`~restore_remote_sensing.windowed.RasterWindows` (the core's streamed
windowing back-end: bounded memory, nodata masked and written back) and runs
the run's :class:`~restore_core.engine.plan.SamplingPlan` in every window.
The file's normalisation is computed once per run and passed to the window
function as an argument.  Per window:

1. every band is mapped to model units by the file's normalisation
   (:mod:`restore_remote_sensing.normalise`, read once per file);
2. the bands the model restores are chosen by the band rule
   (:mod:`restore_remote_sensing.bands`); the others are upsampled bicubically;
3. the model's reverse process starts from noise seeded by the window's
   ``origin`` (its position on the mosaic grid) and ``seed``
   (:func:`restore_core.engine.windows.window_seed`), so a window's result does
   not depend on which windows ran before it or how the scene was tiled into files;
4. values beyond the normalisation range are not clipped: the model restores the in-range
   part and the excess passes through a bicubic upsampling (:func:`restore_radiometry`);
5. the result is mapped back to the file's units and clipped to its dtype's representable range.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from restore_core.context import RunContext
from restore_core.engine.plan import run_plan
from restore_core.engine.sr_method import DiffusionMethod
from restore_core.engine.sr_model import hr_size_for, upsample
from restore_core.engine.windows import window_seed
from restore_core.errors import UsageError
from restore_core.sample import Sample, dtype_range
from restore_remote_sensing.bands import apply_band_rule, band_rule
from restore_remote_sensing.bicubic import bicubic_upsample
from restore_remote_sensing.normalise import Bounds, array_bounds, dataset_bounds, from_model, to_model
from restore_remote_sensing.raster_io import RasterInfo, source_errors
from restore_core.engine.windows.streamed import WindowFn
from restore_remote_sensing.windowed import RasterWindows, open_dataset, parse_scale

CHECKPOINTS = Path(__file__).with_name("checkpoints")
MODEL_CHANNELS = 3


def sample_valid(sample: Sample, nodata: float | None) -> np.ndarray:
    """Which values of an in-memory raster are data (mask/alpha from the reader, nodata value, NaN)."""
    valid = np.isfinite(sample.data)
    mask = sample.meta.get("valid")
    if isinstance(mask, np.ndarray) and mask.shape == sample.data.shape:
        valid &= mask
    if nodata is not None and not np.isnan(nodata):
        valid &= sample.data != nodata
    return valid


def restore_radiometry(restore: Any, lr: torch.Tensor) -> torch.Tensor:
    """The model's restoration of ``lr`` (model units) without clipping any value the sensor measured.

    The model sees (and returns) the normalisation range [-1, 1] only: it restores ``clamp(lr)``.
    Whatever lies outside that range (bright tails: clouds, snow, sand, specular water; negative
    reflectances) is carried by a faithful bicubic upsampling of the excess ``lr - clamp(lr)``,
    so ``out = restore(clamp(lr)) + up(lr) - up(clamp(lr))``: inside the range this is exactly the
    model's output; outside, the model only adds its bounded detail to the true values.
    """
    inside = lr.clamp(-1.0, 1.0)
    hr = restore(inside).clamp(-1.0, 1.0)
    if torch.equal(inside, lr):
        return hr
    size = tuple(hr.shape[2:])
    return hr + upsample(lr, size) - upsample(inside, size)


class RSDiffusionSR(DiffusionMethod):
    """A diffusion SR model applied window by window to GeoTIFFs (subclasses set ``name`` and the training parts)."""

    name = "rs-diffusion"
    spatial_dims = 2
    checkpoint_dir = CHECKPOINTS
    plugin = "remote-sensing"

    def __init__(self) -> None:
        super().__init__()
        self.windows = RasterWindows()

    # -- training data -------------------------------------------------------------------
    def training_tensors(self, sample: Sample, cfg: DictConfig) -> list[torch.Tensor]:
        """A raster read by the plugin's reader: its RGB bands (band rule) in model units (normalisation rule)."""
        info = sample.meta.get("raster")
        valid = sample_valid(sample, getattr(info, "nodata", None))
        rule = band_rule(sample.channels, getattr(info, "colorinterp", ()), cfg.bands.get("rgb", "auto"), MODEL_CHANNELS)
        group = list(rule.model_groups[0])
        bounds = array_bounds(sample.data, valid, cfg)[group]
        return [torch.from_numpy(to_model(sample.data[group], bounds, float(cfg.normalise.headroom)).astype(np.float32))]

    # -- inference ---------------------------------------------------------------------------
    def restore_file(self, source: Path, target: Path, cfg: Any, context: RunContext) -> None:
        """Streamed: the normalisation is read from the file once, before any window."""
        self.windows.restore_file(source, target, cfg, context, lambda info: self.window_function(cfg, context, info))

    def restore(self, sample: Sample, cfg: Any, context: RunContext) -> Sample:
        """In memory (``restore eval``): the normalisation comes from the sample itself."""
        nodata = getattr(sample.meta.get("raster"), "nodata", None)
        bounds = array_bounds(sample.data, sample_valid(sample, nodata), cfg)
        return self.windows.restore(sample, cfg, context, lambda info: self.window_function(cfg, context, info, bounds))

    @property
    def last_stats(self) -> Any:
        return self.windows.last_stats

    def file_bounds(self, cfg: Any, info: RasterInfo) -> Bounds:
        """The file's normalisation (its per-band percentiles)."""
        with open_dataset(info.path) as dataset, source_errors(info.path):
            return dataset_bounds(dataset, cfg, info.nodata)

    def window_function(self, cfg: Any, context: RunContext, info: RasterInfo, bounds: Bounds | None = None) -> WindowFn:
        """``restore_window(data, valid, origin)`` for this run; ``bounds`` default to :meth:`file_bounds`."""
        scale = parse_scale(cfg.scale)
        loaded = self.load(cfg, MODEL_CHANNELS, context)
        model = loaded.model
        trained = [int(s) for s in loaded.trained_scales(cfg)]
        if scale not in trained:
            raise UsageError(f"method '{self.name}' was trained for ×{', ×'.join(map(str, trained))}, not ×{scale}")
        plan = self.plan(cfg, loaded, context)
        plan.check_scale(scale)
        rule = band_rule(info.count, info.colorinterp, cfg.bands.get("rgb", "auto"), model.channels)
        bounds = self.file_bounds(cfg, info) if bounds is None else bounds
        headroom = float(cfg.normalise.headroom)
        value_range = dtype_range(info.dtype)
        seed, device = int(cfg.seed), context.device

        def restore_window(data: np.ndarray, valid: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
            groups = iter(range(len(rule.model_groups)))

            def run_model(x: np.ndarray, _: np.ndarray) -> np.ndarray:
                generator = torch.Generator(device=device).manual_seed(window_seed(seed, origin, next(groups)))
                lr = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None].to(device)
                with torch.no_grad():
                    return restore_radiometry(lambda inside: run_plan(
                        plan, model, inside, hr_size_for(inside, scale, model.wavelet), generator
                    ), lr)[0].float().cpu().numpy()

            def run_bicubic(x: np.ndarray, _: np.ndarray) -> np.ndarray:
                return bicubic_upsample(x, scale)

            restored = apply_band_rule(to_model(data, bounds, headroom), valid, rule, run_model, run_bicubic)
            out = from_model(restored, bounds, headroom)
            return np.clip(out, *value_range) if value_range is not None else out

        return restore_window
