import pytest
import torch

from restore_core.diffusion.samplers import (
    DDIMSampler,
    DDPMSampler,
    DPMSolverPlusPlusSampler,
    Sampler,
    StepOutput,
    make_sampler,
)
from restore_core.diffusion.schedules import cosine_schedule, linear_schedule

from .gaussian_oracle import exact_ode_solution, gaussian_denoiser, run_chain

SCHED = linear_schedule(1000)


def _posterior(t: int, s: int):
    """q(x_s | x_t, x0) on a respaced chain, from Ho et al. eq. 6-7 with beta = 1 - ab_t/ab_s."""
    ab_t = SCHED.alphas_cumprod[t].item()
    ab_s = SCHED.alphas_cumprod[s].item() if s >= 0 else 1.0
    beta = 1 - ab_t / ab_s
    c0 = ab_s**0.5 * beta / (1 - ab_t)
    ct = (1 - beta) ** 0.5 * (1 - ab_s) / (1 - ab_t)
    return c0, ct, beta * (1 - ab_s) / (1 - ab_t)


def test_factory_and_contract():
    for name, cls in [("ddpm", DDPMSampler), ("ddim", DDIMSampler), ("dpm_solver++", DPMSolverPlusPlusSampler)]:
        s = make_sampler(name, SCHED, prediction_type="v_prediction")
        assert isinstance(s, cls) and isinstance(s, Sampler) and s.prediction_type == "v_prediction"
        s.set_timesteps(10, t_start=500)
        assert int(s.timesteps[0]) == 500 and s.timesteps.numel() == 10
        assert s.prev_timestep(int(s.timesteps[0])) == int(s.timesteps[1])
        assert s.prev_timestep(int(s.timesteps[-1])) == -1
        with pytest.raises(ValueError):
            s.prev_timestep(501)
    with pytest.raises(ValueError):
        make_sampler("euler", SCHED)
    with pytest.raises(ValueError):
        DDIMSampler(SCHED, prediction_type="score")


@pytest.mark.parametrize("name", ["ddpm", "ddim", "dpm_solver++"])
def test_final_step_lands_on_x0(name):
    sampler = make_sampler(name, SCHED, prediction_type="sample")
    sampler.set_timesteps(4)
    x = torch.randn(2, 1, 4, 4)
    x0 = torch.randn(2, 1, 4, 4)
    out = None
    for t in sampler.timesteps.tolist():
        out = sampler.step(x0, t, x, torch.Generator().manual_seed(t))
        assert isinstance(out, StepOutput)
        x = out.prev_sample
    assert torch.allclose(x, x0, atol=1e-6)


def test_ddim_eta0_is_deterministic():
    sampler = DDIMSampler(SCHED, eta=0.0)
    sampler.set_timesteps(10)
    model = gaussian_denoiser(SCHED, 0.2, 0.7)
    x = torch.randn(2, 3, 4, 4)
    a = run_chain(sampler, model, x.clone(), torch.Generator().manual_seed(1))
    b = run_chain(sampler, model, x.clone(), torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    stochastic = DDIMSampler(SCHED, eta=1.0)
    stochastic.set_timesteps(10)
    c = run_chain(stochastic, model, x.clone(), torch.Generator().manual_seed(1))
    d = run_chain(stochastic, model, x.clone(), torch.Generator().manual_seed(2))
    assert not torch.allclose(c, d)


def test_ddim_eta1_equals_ddpm_step():
    """eta = 1 gives the DDPM posterior (Song et al. 2021, sec. 4.1): same noise -> same sample."""
    ddim, ddpm = DDIMSampler(SCHED, eta=1.0), DDPMSampler(SCHED)
    for n in (1000, 7):
        ddim.set_timesteps(n)
        ddpm.set_timesteps(n)
        x = torch.randn(2, 1, 3, 3, 3, dtype=torch.float64)
        eps = torch.randn_like(x)
        for t in ddim.timesteps[:3].tolist():
            a = ddim.step(eps, t, x, torch.Generator().manual_seed(t)).prev_sample
            b = ddpm.step(eps, t, x, torch.Generator().manual_seed(t)).prev_sample
            assert torch.allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("cls", [DDIMSampler, DDPMSampler])
def test_one_step_mean_and_variance_equal_ddpm_posterior(cls):
    """Monte Carlo: one step from fixed (x_t, x0) has mean c0 x0 + ct x_t and variance beta_tilde."""
    sampler = cls(SCHED, prediction_type="sample", **({"eta": 1.0} if cls is DDIMSampler else {}))
    sampler.set_timesteps(10)
    t = int(sampler.timesteps[3])
    s = sampler.prev_timestep(t)
    n = 40000
    x_t = torch.full((n, 1, 1, 1), 0.7, dtype=torch.float64)
    x0 = torch.full_like(x_t, -0.4)
    out = sampler.step(x0, t, x_t, torch.Generator().manual_seed(0)).prev_sample.flatten()
    c0, ct, var = _posterior(t, s)
    assert abs(out.mean().item() - (c0 * -0.4 + ct * 0.7)) < 5 * (var / n) ** 0.5
    assert abs(out.var().item() - var) < 5 * var * (2 / (n - 1)) ** 0.5


def _ode_errors(name: str, steps: list[int]) -> list[float]:
    mu, s = 0.3, 0.5
    x_T = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = exact_ode_solution(x_T, 999, SCHED, mu, s)
    errors = []
    for n in steps:
        sampler = make_sampler(name, SCHED)
        sampler.set_timesteps(n)
        errors.append((run_chain(sampler, gaussian_denoiser(SCHED, mu, s), x_T.clone()) - exact).abs().max().item())
    return errors


def test_dpm_solver_converges_to_the_exact_ode_solution_faster_than_ddim():
    steps = [5, 10, 20, 50, 200]
    dpm, ddim = _ode_errors("dpm_solver++", steps), _ode_errors("ddim", steps)
    assert all(a > b for a, b in zip(dpm, dpm[1:])), dpm
    assert all(a > b for a, b in zip(ddim, ddim[1:])), ddim
    assert all(d < e for d, e in zip(dpm, ddim)), (dpm, ddim)
    assert dpm[2] < 0.5 * ddim[2] and dpm[3] < 0.05 * ddim[3]
    assert dpm[-1] < 1e-3


def test_dpm_solver_first_order_is_ddim_and_reset_clears_history():
    x = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    model = gaussian_denoiser(SCHED, 0.1, 0.9, prediction_type="v_prediction")
    ddim = DDIMSampler(SCHED, prediction_type="v_prediction")
    first = DPMSolverPlusPlusSampler(SCHED, prediction_type="v_prediction", solver_order=1)
    for s in (ddim, first):
        s.set_timesteps(8)
    assert torch.allclose(run_chain(ddim, model, x.clone()), run_chain(first, model, x.clone()), atol=1e-10)

    second = DPMSolverPlusPlusSampler(SCHED, prediction_type="v_prediction")
    second.set_timesteps(8)
    t0, t1 = second.timesteps[:2].tolist()
    x1 = second.step(model(x, t0), t0, x).prev_sample
    multistep = second.step(model(x1, t1), t1, x1).prev_sample
    second.reset()
    fresh = second.step(model(x1, t1), t1, x1).prev_sample
    ddim.set_timesteps(8)
    assert torch.allclose(fresh, ddim.step(model(x1, t1), t1, x1).prev_sample, atol=1e-10)
    assert not torch.allclose(multistep, fresh)


def test_clip_sample_bounds_x0():
    sampler = DDIMSampler(cosine_schedule(100), prediction_type="sample", clip_sample=1.0)
    sampler.set_timesteps(5)
    t = int(sampler.timesteps[0])
    out = sampler.step(torch.full((1, 1, 2, 2), 3.0), t, torch.zeros(1, 1, 2, 2))
    assert out.pred_original_sample.max().item() == 1.0
