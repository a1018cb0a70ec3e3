"""Shared test helpers of the turbulence plugin (a unique module name: every plugin's tests share sys.path)."""
from __future__ import annotations

import numpy as np
import torch


def clean_image(size: int = 48, seed: int = 0) -> np.ndarray:
    """A smooth RGB test pattern with edges, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    image = np.stack([np.sin(6 * x + 3 * y), np.cos(5 * y), ((x > 0.5) ^ (y > 0.4)).astype(float)], -1)
    image = image + 0.05 * rng.standard_normal(image.shape)
    return ((image - image.min()) / np.ptp(image) * 255).astype(np.uint8)


def clean_tensor(size: int) -> torch.Tensor:
    return torch.from_numpy(clean_image(size)).permute(2, 0, 1).float() / 255
