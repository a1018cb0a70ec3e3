import math

import numpy as np
import pytest
import torch

from restore_core.diffusion.residual_shift import (
    ResidualShiftSampler,
    residual_shift_schedule,
    rs_q_sample,
    rs_scale_model_input,
    start_residual_shift,
)
from restore_core.diffusion.samplers import make_sampler


def test_schedule_is_eq10():
    T, kappa, p = 15, 2.0, 0.3
    sched = residual_shift_schedule(T, kappa, p)
    sqrt_eta = sched.etas.sqrt()
    assert sched.num_train_timesteps == T and sched.kappa == kappa
    assert sqrt_eta[0].item() == pytest.approx(0.04 / kappa)  # kappa sqrt(eta_1) = 0.04
    assert sqrt_eta[-1].item() == pytest.approx(0.99)
    # log(sqrt(eta_t)/sqrt(eta_1)) / log(b0) = beta_t = ((t-1)/(T-1))^p (T-1), t = 1..T
    b0 = math.exp(math.log(0.99 / 0.02) / (T - 1))
    beta = np.log(sqrt_eta.numpy() / 0.02) / math.log(b0)
    t = np.arange(1, T + 1)
    assert np.allclose(beta, ((t - 1) / (T - 1)) ** p * (T - 1))
    assert bool((sched.etas.diff() > 0).all())
    assert residual_shift_schedule(4, 2.0, eta_1=1e-3).etas[0].item() == pytest.approx(1e-3)


def test_marginal_at_T_is_centred_near_y0():
    sched = residual_shift_schedule()
    n = 40000
    x0 = torch.full((n, 1, 1, 1), 0.8, dtype=torch.float64)
    y0 = torch.full_like(x0, -0.5)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    xT = rs_q_sample(x0, y0, torch.full((n,), 14), noise, sched)
    eta_T, var = sched.etas[-1].item(), sched.kappa**2 * sched.etas[-1].item()
    mean = xT.mean().item()
    assert abs(mean - (0.8 + eta_T * (-0.5 - 0.8))) < 5 * (var / n) ** 0.5
    assert abs(mean - (-0.5)) < 0.03 + 5 * (var / n) ** 0.5  # eta_T = 0.98: the mean is y0 up to 2 % of the residual
    assert xT.var().item() == pytest.approx(var, rel=5 * (2 / n) ** 0.5)
    assert torch.equal(rs_q_sample(x0, y0, -1, noise, sched), x0)


@pytest.mark.parametrize("steps", [15, 5])
def test_oracle_chain_reaches_x0_and_follows_the_marginals(steps):
    """With x0 known, every intermediate x_t must be distributed as q(x_t | x0, y0)."""
    sched = residual_shift_schedule()
    sampler = make_sampler("residual_shift", sched)
    assert isinstance(sampler, ResidualShiftSampler)
    sampler.set_timesteps(steps)
    assert sampler.timesteps.numel() == steps <= 15 and int(sampler.timesteps[0]) == 14
    n = 20000
    gen = torch.Generator().manual_seed(0)
    x0 = torch.full((n, 1, 1, 1), 0.8, dtype=torch.float64)
    y0 = torch.full_like(x0, -0.5)
    x, t_start = start_residual_shift(y0, sched, gen)
    assert t_start == 14
    for t in sampler.timesteps.tolist():
        eta = sched.eta(t).item()
        mean, var = 0.8 + eta * (-1.3), sched.kappa**2 * eta
        assert abs(x.mean().item() - mean) < 5 * (var / n) ** 0.5 + 1e-12
        assert x.var().item() == pytest.approx(var, rel=5 * (2 / n) ** 0.5)
        x = sampler.step(x0, t, x, gen).prev_sample
    assert torch.allclose(x, x0, atol=1e-12)


def test_sampler_contract_and_input_scaling():
    sched = residual_shift_schedule(6)
    with pytest.raises(ValueError):
        ResidualShiftSampler(sched, prediction_type="epsilon")
    s = ResidualShiftSampler(sched)
    s.set_timesteps(3, t_start=4)
    assert s.timesteps.tolist()[0] == 4 and s.prev_timestep(int(s.timesteps[-1])) == -1
    x = torch.ones(2, 1, 2, 2, 2)
    scaled = rs_scale_model_input(x, torch.tensor([0, 5]), sched)
    assert torch.allclose(scaled[1], x[1] / math.sqrt(4 * sched.etas[-1].item() + 1))
