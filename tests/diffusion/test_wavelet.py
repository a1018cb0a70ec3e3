import math

import pytest
import torch

from restore_core.diffusion.wavelet import haar_forward, haar_inverse


@pytest.mark.parametrize("spatial_dims,shape", [(2, (2, 3, 8, 6)), (3, (2, 2, 4, 6, 8)), (1, (1, 2, 10))])
def test_round_trip_and_energy(spatial_dims, shape):
    x = torch.randn(shape)
    y = haar_forward(x, spatial_dims)
    assert y.shape == (shape[0], shape[1] * 2**spatial_dims, *[s // 2 for s in shape[2:]])
    assert torch.allclose(haar_inverse(y, spatial_dims), x, atol=1e-6)
    assert math.isclose(y.pow(2).sum().item(), x.pow(2).sum().item(), rel_tol=1e-5)


def test_2d_subbands_are_haar():
    x = torch.tensor([[1.0, 2.0], [3.0, 5.0]]).reshape(1, 1, 2, 2)
    ll, lh, hl, hh = haar_forward(x, 2).flatten().tolist()
    assert ll == pytest.approx((1 + 2 + 3 + 5) / 2)
    assert lh == pytest.approx((1 - 2 + 3 - 5) / 2)  # high-pass along the last axis
    assert hl == pytest.approx((1 + 2 - 3 - 5) / 2)  # high-pass along the first axis
    assert hh == pytest.approx((1 - 2 - 3 + 5) / 2)


def test_3d_constant_volume_has_only_lowpass():
    x = torch.full((1, 2, 4, 4, 4), 3.0)
    y = haar_forward(x, 3)
    assert torch.allclose(y[:, :2], torch.full_like(y[:, :2], 3.0 * 2**1.5))
    assert y[:, 2:].abs().max().item() < 1e-6


def test_odd_sizes_rejected():
    with pytest.raises(ValueError):
        haar_forward(torch.zeros(1, 1, 3, 4), 2)
    with pytest.raises(ValueError):
        haar_forward(torch.zeros(1, 1, 4, 4), 3)
