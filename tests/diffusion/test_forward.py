import pytest
import torch

from restore_core.diffusion.forward import expand_to, q_sample
from restore_core.diffusion.schedules import linear_schedule


@pytest.mark.parametrize("shape", [(3, 2, 4, 4), (3, 1, 2, 3, 4), (3, 5)])
def test_expand_to_any_rank(shape):
    like = torch.zeros(shape, dtype=torch.float32)
    c = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    out = expand_to(c, like)
    assert out.shape == (3,) + (1,) * (len(shape) - 1) and out.dtype == torch.float32
    assert torch.equal((like + out).reshape(3, -1)[:, 0], c.float())
    assert expand_to(torch.tensor(2.0), like).shape == (1,) * len(shape)
    with pytest.raises(ValueError):
        expand_to(torch.ones(2), like)


def test_q_sample_marginal_mean_and_variance():
    """q(x_t | x_0) = N(sqrt(ab_t) x0, (1 - ab_t) I) (Ho et al. eq. 4), checked by Monte Carlo."""
    sched = linear_schedule(1000)
    n = 40000
    gen = torch.Generator().manual_seed(0)
    x0 = torch.tensor([-0.8, 0.1, 0.9], dtype=torch.float64).reshape(1, 3, 1, 1).expand(n, 3, 1, 1)
    for t in (10, 400, 999):
        noise = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
        xt = q_sample(x0, torch.full((n,), t), noise, sched)
        ab = sched.alphas_cumprod[t].item()
        mean, var = xt.mean(0).flatten(), xt.var(0).flatten()
        se_mean = ((1 - ab) / n) ** 0.5
        se_var = (1 - ab) * (2 / (n - 1)) ** 0.5
        assert torch.all((mean - ab**0.5 * x0[0].flatten()).abs() < 5 * se_mean)
        assert torch.all((var - (1 - ab)).abs() < 5 * se_var)


def test_q_sample_per_sample_t_and_3d():
    sched = linear_schedule(100)
    x0 = torch.ones(2, 1, 2, 2, 2)
    noise = torch.zeros_like(x0)
    xt = q_sample(x0, torch.tensor([0, 99]), noise, sched)
    assert xt.shape == x0.shape and xt.dtype == torch.float32
    assert torch.allclose(xt[0], torch.full_like(xt[0], sched.alphas_cumprod[0].sqrt().item()))
    assert torch.allclose(xt[1], torch.full_like(xt[1], sched.alphas_cumprod[99].sqrt().item()))
    assert torch.equal(q_sample(x0, -1, torch.randn_like(x0), sched), x0)
