"""The checkpoints shipped in the package load and restore the shipped sample."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restore_core import api

REPO = Path(__file__).resolve().parents[3]
CHECKPOINTS = REPO / "plugins" / "image" / "restore_image" / "checkpoints"


@pytest.mark.parametrize("method", ["sr3", "srdiff"])
def test_shipped_checkpoint_restores_the_sample_consistently(method, tmp_path):
    card = json.loads((CHECKPOINTS / f"{method}.json").read_text())
    assert card["method"] == method and card["steps"] == card["config"]["train"]["steps"] > 0 and card["stored_dtype"] == "float16"
    assert set(card["validation"]) >= {"x2", "x4"}
    crop = np.asarray(Image.open(REPO / "samples" / "image" / "astronaut_lr_x4.png"))[16:32, 16:32]
    src = tmp_path / "crop.png"
    Image.fromarray(crop).save(src)
    out = api.restore(src, plugin="image", method=method, output=tmp_path / "out.png", overrides=["sampler.steps=4"])[0]
    result = np.asarray(Image.open(out)).astype(np.float64)
    assert result.shape == (64, 64, 3)
    # DDNM (on by default) makes the ×4 average pooling of the output equal the input, up to 8-bit
    # rounding, except where clipping to [0, 255] cuts detail off near black or white
    error = np.abs(result.reshape(16, 4, 16, 4, 3).mean(axis=(1, 3)) - crop)
    assert error.mean() < 0.3 and np.median(error) <= 0.5
    assert result.std() > 0.5 * crop.std()  # not a flat or broken image
