"""The core's degradations: ×s area downsampling and the mixed training degradation."""
from __future__ import annotations

import pytest
import torch

from restore_core.degradations import area_downsample, mixed_downsample


def _hr() -> torch.Tensor:
    return torch.rand((6, 3, 32, 32), generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_mixed_is_deterministic_under_a_seed_and_keeps_the_lr_grid():
    degrade = mixed_downsample(4)
    a = degrade(_hr(), torch.Generator().manual_seed(3))
    b = degrade(_hr(), torch.Generator().manual_seed(3))
    c = degrade(_hr(), torch.Generator().manual_seed(4))
    assert a.shape == (6, 3, 8, 8)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("kind", ["area", "bicubic", "blur_area"])
def test_each_kind_is_what_it_says(kind):
    hr = _hr()
    lr = mixed_downsample(4, kinds=(kind,), p_noise=0.0)(hr, torch.Generator().manual_seed(0))
    area = area_downsample(4)(hr)
    if kind == "area":
        assert torch.equal(lr, area)
    else:  # both smooth more than the box: less variance than area pooling, but the same mean
        assert not torch.allclose(lr, area)
        assert lr.mean().item() == pytest.approx(area.mean().item(), abs=0.02)
        assert lr.var().item() < area.var().item()


def test_noise_is_added_only_when_drawn():
    hr = _hr()
    clean = mixed_downsample(4, kinds=("area",), p_noise=0.0)(hr, torch.Generator().manual_seed(0))
    noisy = mixed_downsample(4, kinds=("area",), p_noise=1.0, noise_sigma=(0.05, 0.05))(hr, torch.Generator().manual_seed(0))
    assert (noisy - clean).std().item() == pytest.approx(0.05, rel=0.2)


def test_mixed_refuses_unknown_kinds_and_volumes():
    with pytest.raises(ValueError, match="kinds"):
        mixed_downsample(4, kinds=("nearest",))
    with pytest.raises(ValueError, match="2-D"):
        mixed_downsample(2)(torch.zeros(1, 1, 8, 8, 8), None)
