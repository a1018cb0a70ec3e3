"""Helpers for testing methods and plugins with tiny models (importable from any plugin's tests).

:data:`TINY_UNET` shrinks the core's ``conditional_unet`` (and networks that
take its keyword arguments) and the training loop to a few thousand
parameters and a few steps, so a test trains and samples in seconds on a CPU.
"""
from __future__ import annotations

TINY_UNET: tuple[str, ...] = (
    "model.denoiser.channels=[8,16]",
    "model.denoiser.attention_levels=[false,false]",
    "model.denoiser.norm_num_groups=4",
    "model.denoiser.num_head_channels=8",
    "diffusion.train_steps=100",
    "sampler.steps=3",
    "train.patch=16",
    "train.batch_size=2",
    "train.checkpoint_every=2",
)
"""``key=value`` overrides for a tiny denoiser, a 100-step schedule, 3 sampler steps and 16² patches."""

TINY_RRDB: tuple[str, ...] = ("model.encoder.num_features=8", "model.encoder.num_blocks=1", "model.encoder.growth_channels=4")
"""``key=value`` overrides for a tiny RRDB encoder (SRDiff, DDSR)."""


def tiny_overrides(*extra: str, encoder: bool = False) -> list[str]:
    """:data:`TINY_UNET` (+ :data:`TINY_RRDB` when ``encoder``) followed by ``extra``."""
    return [*TINY_UNET, *(TINY_RRDB if encoder else ()), *extra]


def lpips_metric_or_none() -> "object | None":
    """The LPIPS metric with ``$RESTORE_LPIPS_WEIGHTS`` (default ``../shared/metrics``), or None where the
    ``lpips`` extra or its weights are missing and ``RESTORE_REQUIRE_LPIPS`` (set in CI) does not demand it."""
    import importlib.util
    import os
    from pathlib import Path

    from restore_core.metrics import LPIPSMetric

    default = Path(__file__).resolve().parents[1].parent / "shared" / "metrics" / "lpips_alex.safetensors"
    weights = Path(os.environ.get("RESTORE_LPIPS_WEIGHTS", default))
    required = os.environ.get("RESTORE_REQUIRE_LPIPS", "").lower() in ("1", "true", "yes")
    available = importlib.util.find_spec("lpips") is not None and weights.is_file()
    return LPIPSMetric(weights) if available or required else None


def gain_over_baseline(scores: dict, method: str, metric: str, baseline: str = "bicubic") -> float:
    """How much ``method`` beats ``baseline`` in ``metric`` (PSNR/SSIM: higher is better; LPIPS: lower is better)."""
    sign = -1.0 if metric == "lpips" else 1.0
    return sign * (float(scores[method][metric]) - float(scores[baseline][metric]))


__all__ = ["TINY_UNET", "TINY_RRDB", "tiny_overrides", "lpips_metric_or_none", "gain_over_baseline"]
