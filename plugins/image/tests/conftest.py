"""Fixtures of the image plugin's tests."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rgb8() -> np.ndarray:
    """A smooth 8-bit RGB test image with some texture, (H, W, 3)."""
    y, x = np.mgrid[0:24, 0:32]
    return (np.stack([x * 7, y * 9, (x + y) * 4], axis=-1) % 256).astype(np.uint8)
