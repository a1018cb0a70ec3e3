"""Tiny turbulence models trained for two steps on a few simulated pairs (fast; checks wiring, not quality)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from turbulence_support import clean_image

TINY = [
    "model.denoiser.channels=[8,16]", "model.denoiser.attention_levels=[false,false]", "model.denoiser.norm_num_groups=4",
    "model.denoiser.num_head_channels=8", "train.patch=32", "train.batch_size=2", "sampler.steps=2",
]


@pytest.fixture(scope="session")
def pair_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from safetensors.numpy import save_file

    from restore_turbulence.degradation import random_turbulence_degradation

    degrade = random_turbulence_degradation(frames=(1, 2))
    generator = torch.Generator().manual_seed(0)
    hr = torch.from_numpy(clean_image(32)).permute(2, 0, 1).float()[None] / 127.5 - 1
    pairs = [degrade(hr, generator) for _ in range(4)]
    to_u8 = lambda t: ((t.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()  # noqa: E731
    path = tmp_path_factory.mktemp("pairs") / "pairs.safetensors"
    save_file({"lr": np.concatenate([to_u8(p["lr"]) for p in pairs]), "hr": np.concatenate([to_u8(p["hr"]) for p in pairs])}, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_models(pair_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from restore_core.api import train

    out = tmp_path_factory.mktemp("models")
    models = {}
    for method in ("at-ddpm", "at-vardiff"):
        models[method] = train("turbulence", method, data=pair_file, output_dir=out / method, overrides=TINY, steps=2)
    return models
