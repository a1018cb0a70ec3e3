"""The blind face degradation: the papers' ranges, reproducible draws, each component doing its part."""
from __future__ import annotations

import pytest
import torch

from restore_face.degradation import PRESETS, BlindFaceParameters, blind_face_degradation, blind_face_degradation_for, degrade_face


def face_like(size: int = 64) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    stripes = torch.sin(x * 20) * 0.3
    return torch.stack([x * 0.5 + stripes, y * 0.5, stripes])[None].clamp(-1, 1)


def test_the_paper_ranges_are_the_presets():
    assert PRESETS["difface"] == {"blur_sigma": (0.1, 15.0), "downsample": (0.8, 32.0), "noise": (0.0, 20.0), "jpeg_quality": (30.0, 100.0)}
    assert PRESETS["gfpgan"]["downsample"] == (0.8, 8.0) and PRESETS["gfpgan"]["jpeg_quality"] == (60.0, 100.0)


def test_same_seed_same_lq_and_size_kept():
    degrade = blind_face_degradation(size=64)
    hr = face_like().repeat(3, 1, 1, 1)
    a = degrade(hr, torch.Generator().manual_seed(3))
    b = degrade(hr, torch.Generator().manual_seed(3))
    assert a.shape == hr.shape and torch.equal(a, b)
    assert not torch.equal(a[0], a[1])  # each face draws its own parameters


def test_draws_are_scaled_to_the_crop_size():
    draw = blind_face_degradation(size=128).draw
    draws = [draw(torch.Generator().manual_seed(s)) for s in range(200)]
    assert max(d.blur_sigma for d in draws) <= 15 * 128 / 512 + 1e-9
    assert min(d.downsample for d in draws) >= 1.0 and max(d.downsample for d in draws) <= 32 * 128 / 512
    assert all(30 <= d.jpeg_quality <= 100 and 0 <= d.noise <= 20 for d in draws)


def test_each_component_degrades():
    hr = face_like()
    identity = BlindFaceParameters(blur_sigma=0.0, downsample=1.0, noise=0.0, jpeg_quality=100)
    assert torch.equal(degrade_face(hr, identity), hr)
    for change in ({"blur_sigma": 2.0}, {"downsample": 4.0}, {"noise": 10.0}, {"jpeg_quality": 20}):
        params = BlindFaceParameters(**{**identity.__dict__, **change})
        out = degrade_face(hr, params, torch.Generator().manual_seed(0))
        assert float((out - hr).abs().mean()) > 0.01, change


def test_registered_factory_refuses_a_scale():
    with pytest.raises(ValueError, match="scale 1"):
        blind_face_degradation_for(scale=4)
    with pytest.raises(ValueError, match="unknown blind face preset"):
        blind_face_degradation(preset="nope")
