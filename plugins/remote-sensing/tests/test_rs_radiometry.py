"""Radiometric fidelity (issue 15, item 1): the diffusion methods clip no measured value.

Bright tails (clouds, snow, specular water) lie far above the per-band 99.5th percentile the model's
normalisation maps to +0.8, and signed reflectance goes negative; the shipped DMDC must restore those
pixels at their own values, not at the edge of the model's range.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from restore_core import api
from restore_remote_sensing.diffusion_method import restore_radiometry


def test_inside_the_range_the_model_output_is_unchanged_and_the_excess_passes_through():
    """restore(clamp(lr)) inside [-1, 1]; outside, the bicubic excess is added to the bounded restoration."""
    lr = torch.full((1, 3, 8, 8), 0.5)
    lr[..., 2:4, 2:4] = 3.0  # a bright cloud, 3x the model's range
    lr[..., 6:, 6:] = -2.5  # negative reflectance

    def model(inside: torch.Tensor) -> torch.Tensor:
        assert float(inside.abs().max()) <= 1.0  # the model never sees out-of-range input
        return torch.nn.functional.interpolate(inside, scale_factor=2, mode="nearest")

    out = restore_radiometry(model, lr)
    assert float(out.max()) > 2.5 and float(out.min()) < -2.0
    inside = torch.full((1, 3, 8, 8), 0.5)
    assert torch.equal(restore_radiometry(model, inside), model(inside))


@pytest.mark.parametrize("dtype, tail", [("uint8", "bright"), ("int16", "negative")])
def test_dmdc_keeps_bright_tails_and_negative_values(tmp_path, make_raster, read_raster, dtype, tail):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64].astype(np.float64)
    base = 60 + 30 * np.sin(x / 4) * np.cos(y / 5) + 5 * rng.standard_normal((64, 64))
    data = np.stack([base, base * 0.9, base * 1.1])
    if tail == "bright":
        data[:, 30:34, 30:34] = 250.0  # a small cloud (0.4 % of the pixels): far above the 99.5th percentile (about 100)
    else:
        data = data * 20.0 - 400.0  # reflectance x 10^4 around 800
        data[:, 30:34, 30:34] = -1500.0  # dark water below zero (0.4 % of the pixels), far below the 0.5th percentile
    source = make_raster(tmp_path / f"scene_{dtype}.tif", data.astype(dtype))
    out = api.restore(source, plugin="remote-sensing", method="dmdc", output=tmp_path / "out.tif", scale=4,
                      device="cpu", overrides=["mosaic.neighbours=false"])[0]
    restored, _ = read_raster(out)
    patch = restored[:, 124:132, 124:132].astype(np.float64)  # the centre of the 16x16-pixel tail at x4
    if tail == "bright":
        assert patch.mean() > 235.0, f"bright tail clipped: {patch.mean():.1f} (input 250)"
    else:
        assert patch.mean() < -1400.0, f"negative tail clipped: {patch.mean():.1f} (input -1500)"
