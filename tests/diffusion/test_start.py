import math

import pytest
import torch

from restore_core.diffusion.schedules import cosine_schedule, linear_schedule
from restore_core.diffusion.start import (
    estimate_noise_sigma,
    start_from_noise,
    start_from_noisy_input,
    start_truncated,
)

SCHED = linear_schedule(1000)


def _smooth(shape, seed=0):
    """A smooth test image/volume: a few low-frequency sinusoids per channel."""
    gen = torch.Generator().manual_seed(seed)
    grids = torch.meshgrid(*[torch.linspace(0, 1, n, dtype=torch.float64) for n in shape[2:]], indexing="ij")
    out = torch.zeros(shape, dtype=torch.float64)
    for _ in range(3):
        phase = torch.rand(len(grids), generator=gen) * 6.28
        freq = torch.rand(len(grids), generator=gen) * 2 + 0.5
        out += math.prod(torch.cos(2 * math.pi * f * g + p) for f, g, p in zip(freq, grids, phase))
    return out


def test_start_from_noise():
    x, t = start_from_noise((2, 1, 4, 4, 4), SCHED, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert t == 999 and x.shape == (2, 1, 4, 4, 4) and x.dtype == torch.float64
    y, _ = start_from_noise((2, 1, 4, 4, 4), SCHED, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(x, y)


def test_start_truncated_is_forward_diffusion_to_t0():
    x0 = torch.full((20000, 1, 1, 1), 0.5, dtype=torch.float64)
    x, t = start_truncated(x0, 300, SCHED, torch.Generator().manual_seed(0))
    ab = SCHED.alphas_cumprod[300].item()
    assert t == 300
    assert abs(x.mean().item() - ab**0.5 * 0.5) < 5 * ((1 - ab) / 20000) ** 0.5
    assert x.std().item() == pytest.approx((1 - ab) ** 0.5, rel=0.03)
    with pytest.raises(ValueError):
        start_truncated(x0, 1000, SCHED)


@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.5])
def test_start_from_noisy_input_matches_noise_level(sigma):
    sched = cosine_schedule(1000)
    x = _smooth((1, 1, 64, 64)).float()
    y = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    x_t, t = start_from_noisy_input(y, sigma, sched)
    ab = sched.alphas_cumprod
    nsr = ((1 - ab) / ab).sqrt()
    assert abs(nsr[t] - sigma) <= min(abs(nsr[t - 1] - sigma), abs(nsr[t + 1] - sigma))
    assert torch.allclose(x_t, ab[t].sqrt().item() * y)
    # the noise in x_t has the std of q(x_t | x): sqrt(1 - ab_t)
    assert (x_t - ab[t].sqrt().item() * x).std().item() == pytest.approx((1 - ab[t].item()) ** 0.5, rel=0.05)


def test_start_from_noisy_input_top_up_per_sample():
    x = _smooth((2, 1, 64, 64)).float()
    sigma = torch.tensor([0.05, 0.2])
    y = x + sigma.reshape(2, 1, 1, 1) * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    x_t, t = start_from_noisy_input(y, sigma, SCHED, torch.Generator().manual_seed(1), top_up_noise=True)
    ab = SCHED.alphas_cumprod[t].item()
    assert ((1 - ab) / ab) ** 0.5 >= 0.2 > ((1 - SCHED.alphas_cumprod[t - 1].item()) / SCHED.alphas_cumprod[t - 1].item()) ** 0.5
    residual_std = (x_t - ab**0.5 * x).flatten(1).std(dim=1)
    assert torch.allclose(residual_std, torch.full((2,), (1 - ab) ** 0.5), rtol=0.05)


@pytest.mark.parametrize("shape,spatial_dims", [((2, 3, 128, 128), 2), ((1, 1, 32, 32, 32), 3), ((1, 1, 65, 63), 2)])
def test_estimate_noise_sigma_recovers_known_sigma(shape, spatial_dims):
    x = _smooth(shape)
    sigma = torch.tensor([0.05, 0.2])[: shape[0]]
    noisy = x + sigma.reshape(-1, *([1] * (len(shape) - 1))) * torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    est = estimate_noise_sigma(noisy, spatial_dims)
    assert est.shape == (shape[0],)
    assert torch.allclose(est, sigma.double(), rtol=0.10)
    assert estimate_noise_sigma(x, spatial_dims).max().item() < 0.01  # the smooth image alone reads as ~noise-free
