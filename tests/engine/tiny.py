"""Tiny model configs so engine tests run in seconds on a CPU."""
from __future__ import annotations

from typing import Any

TINY_DENOISER: dict[str, Any] = {
    "name": "conditional_unet",
    "channels": [8, 16],
    "num_res_blocks": 1,
    "attention_levels": [False, False],
    "norm_num_groups": 4,
    "num_head_channels": 8,
}
TINY_ENCODER: dict[str, Any] = {"name": "rrdb", "num_features": 8, "num_blocks": 1, "growth_channels": 4}
DIFFUSION: dict[str, Any] = {"schedule": "cosine", "train_steps": 100}


def sr3(wavelet: bool = False, prediction: str = "epsilon") -> dict[str, Any]:
    return {"space": "pixel", "wavelet": wavelet, "concat_lr": True, "prediction": prediction, "encoder": None, "denoiser": dict(TINY_DENOISER)}


def srdiff(wavelet: bool = False, prediction: str = "epsilon") -> dict[str, Any]:
    return {**sr3(wavelet, prediction), "space": "residual", "encoder": dict(TINY_ENCODER)}


def overrides(model: dict[str, Any], steps: int = 3) -> list[str]:
    """key=value overrides that shrink an image method to the tiny model."""
    den = model["denoiser"]
    items = [
        f"model.denoiser.channels=[{','.join(map(str, den['channels']))}]",
        "model.denoiser.attention_levels=[false,false]",
        f"model.denoiser.norm_num_groups={den['norm_num_groups']}",
        f"model.denoiser.num_head_channels={den['num_head_channels']}",
        f"diffusion.train_steps={DIFFUSION['train_steps']}",
        f"sampler.steps={steps}",
        "train.patch=16",
        "train.batch_size=2",
        "train.checkpoint_every=2",
    ]
    if model.get("encoder"):
        items += ["model.encoder.num_features=8", "model.encoder.num_blocks=1", "model.encoder.growth_channels=4"]
    return items
