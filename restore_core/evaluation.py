"""``restore eval``: degrade held-out HR files, restore them, score against the originals.

For every file the plugin reads in ``data``: LR = the plugin's degradation
model applied to the HR image (and quantised to the file's dtype, as a saved
LR image would be); the method restores it; PSNR, SSIM, LPIPS and data
consistency (MSE between the LR input and the re-degraded output) are
computed on [0, 1]-scaled values. Results go to ``metrics.csv`` and
``metrics.json``, with a side-by-side PNG per file.

Randomness: file ``i`` is degraded with a CPU generator seeded ``seed + i``
(degradations run on CPU tensors, whatever ``--device`` is).  The data
consistency re-degrades the restoration with a fresh generator seeded
identically, so a random degradation (blur kernel, noise) is re-applied
exactly as it made the LR input, and its output is measured in the HR
file's units before scaling, as the LR was.

``scale`` is one integer factor for every axis or one per axis (``2,2,1``);
the HR is centre-cropped to a multiple of it and the degradation gets the
integers (one int, or a tuple).  Non-integer scales cannot be evaluated.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from omegaconf import ListConfig

from restore_core.api import make_context, prepare, read_sample, run_flags
from restore_core.errors import InputError, UsageError
from restore_core.sample import Sample


def _peak(sample: Sample) -> float:
    dtype = np.dtype(sample.source_dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else float(max(1e-12, sample.data.max()))


def _quantise(data: np.ndarray, dtype: np.dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(data), info.min, info.max).astype(np.float32)
    return data.astype(np.float32)


def eval_scale(value: Any) -> tuple[int, ...]:
    """Integer factors from ``2``, ``"2,2,1"``, ``"2x2x1"`` or ``[2, 2, 1]``; others are a UsageError."""
    items = list(value) if isinstance(value, (list, tuple, ListConfig)) else str(value).replace("x", ",").split(",")
    factors = []
    for item in items:
        try:
            factor = float(item)
        except (TypeError, ValueError):
            raise UsageError(f"scale must be numbers like 2 or 2,2,1, got '{value}'") from None
        if not factor.is_integer() or factor < 1:
            raise UsageError(f"restore eval needs integer scale factors >= 1 (the HR is cropped to a multiple of them), got '{value}'")
        factors.append(int(factor))
    return tuple(factors)


def _crop(sample: Sample, factors: tuple[int, ...], max_size: int | None) -> Sample:
    """Centre-crop to a multiple of each axis' factor (and at most ``max_size``) per axis."""
    per_axis = factors * sample.spatial_dims if len(factors) == 1 else factors
    if len(per_axis) != sample.spatial_dims:
        raise UsageError(f"scale has {len(factors)} factors but {sample.path} has {sample.spatial_dims} spatial axes")
    slices = []
    for size, scale in zip(sample.spatial_shape, per_axis):
        keep = min(size, max_size) if max_size else size
        keep -= keep % scale
        if keep == 0:
            raise InputError(sample.path or "input", f"is smaller than the scale {scale}")
        start = (size - keep) // 2
        slices.append(slice(start, start + keep))
    data = sample.data[(slice(None), *slices)]
    if sample.meta.get("has_alpha"):
        data = data[:-1]
    return dataclasses.replace(sample, data=np.ascontiguousarray(data), meta={**sample.meta, "has_alpha": False})


def degradation_generator(seed: int, index: int) -> Any:
    """The CPU generator that degrades file ``index`` (and re-degrades its restoration)."""
    import torch

    return torch.Generator().manual_seed(int(seed) + index)


def _redegrade(degrade: Any, peak: float, seed: int, index: int) -> Any:
    """Re-apply file ``index``'s degradation (same generator state) to a [0, 1]-scaled restoration."""
    import torch

    def apply(restored: np.ndarray) -> Any:
        hr_units = torch.as_tensor(np.asarray(restored, np.float32) * peak)[None]
        return degrade(hr_units, degradation_generator(seed, index))[0] / peak

    return apply


def _display(data: np.ndarray) -> np.ndarray:
    """What the comparison PNG shows: grey or the first three channels (bands 1-3)."""
    return data[:3] if data.shape[0] >= 3 else data[:1]


def _lpips(mode: str, weights: str | None, sample: Sample) -> Any:
    if mode == "skip" or sample.spatial_dims not in (2, 3) or sample.channels not in (1, 3):
        return None
    from restore_core.metrics import LPIPSMetric

    try:
        return LPIPSMetric(weights)
    except (ImportError, FileNotFoundError) as exc:
        if mode == "required" or weights:
            raise UsageError(f"LPIPS: {exc}") from None
        return None


def evaluate(
    plugin: str,
    method: str | None,
    *,
    data: str | Path,
    output_dir: str | Path | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    flags: Mapping[str, Any] | None = None,
    lpips_weights: str | None = None,
    limit: int | None = None,
    quiet: bool | None = True,
) -> list[dict[str, Any]]:
    """Evaluate ``plugin``/``method`` on the HR files in ``data``; returns one row per file."""
    import torch

    from restore_core.metrics import consistency_mse, evaluate_pair, side_by_side_png, write_results

    record, cfg = prepare(plugin, method, config=config, flags=run_flags(quiet, **dict(flags or {})), overrides=overrides)
    registry = record.registry
    assert registry is not None
    folder = Path(data)
    files = sorted(p for p in folder.iterdir() if p.is_file() and registry.can_read(p)) if folder.is_dir() else [folder]
    if not files:
        raise InputError(folder, "holds no file this plugin reads")
    files = files[:limit] if limit else files
    factors = eval_scale(cfg.scale)
    scale: int | tuple[int, ...] = factors[0] if len(factors) == 1 else factors
    evaluation = cfg.get("eval") or {}
    degradation_name = evaluation.get("degradation")
    if not degradation_name:
        raise UsageError(f"set eval.degradation (one of: {', '.join(registry.names('degradations')) or 'none'})")
    degrade = registry.get("degradations", str(degradation_name)).factory(scale=scale)
    context = make_context(cfg, registry=registry)
    method_obj = registry.get("methods", str(cfg.method)).factory()
    out = Path(output_dir) if output_dir else Path("runs") / f"eval-{cfg.plugin}-{cfg.method}"
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    lpips_metric = None
    for index, path in enumerate(files):
        hr = _crop(read_sample(registry, path, cfg), factors, evaluation.get("max_size"))
        peak = _peak(hr)
        hr_tensor = torch.from_numpy(hr.data)[None]
        lr_data = _quantise(degrade(hr_tensor, degradation_generator(cfg.seed, index))[0].numpy(), hr.source_dtype)
        lr = dataclasses.replace(hr, data=lr_data, geometry=None)
        began = time.perf_counter()
        restored = method_obj.restore(lr, cfg, context)
        seconds = time.perf_counter() - began
        if index == 0:
            lpips_metric = _lpips(str(evaluation.get("lpips", "auto")), lpips_weights, hr)
        pred = _quantise(restored.data, hr.source_dtype) / peak
        target = hr.data / peak
        scores = evaluate_pair(pred, target, 1.0, hr.spatial_dims, lpips_metric)
        scores["consistency_mse"] = consistency_mse(lr.data / peak, pred, _redegrade(degrade, peak, cfg.seed, index))
        label = scale if isinstance(scale, int) else ",".join(map(str, scale))
        row = {"file": path.name, "plugin": str(cfg.plugin), "method": str(cfg.method), "scale": label, **scores, "seconds": round(seconds, 3)}
        rows.append(row)
        side_by_side_png([_display(lr.data), _display(restored.data), _display(hr.data)], ["input (LR)", str(cfg.method), "reference (HR)"], out / f"{path.stem}_compare.png")
    write_results(rows, out / "metrics.csv", out / "metrics.json")
    return rows
