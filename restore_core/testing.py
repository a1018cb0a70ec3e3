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


__all__ = ["TINY_UNET", "TINY_RRDB", "tiny_overrides"]
