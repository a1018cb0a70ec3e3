import pytest
import torch

from restore_core.diffusion.consistency import (
    CONSISTENCY_STEPS,
    DDNM,
    DPS,
    ILVR,
    AveragePoolSR,
    BicubicSR,
    ConsistencyStep,
    DDNMPlus,
)
from restore_core.diffusion.samplers import make_sampler
from restore_core.diffusion.schedules import linear_schedule

from .gaussian_oracle import gaussian_denoiser, gaussian_x0, run_chain

SCHED = linear_schedule(1000)
MU, S = 0.0, 0.8


def _problem(shape=(2, 3, 16, 16), scale=4, spatial_dims=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x_true = torch.randn(shape, generator=gen) * S + MU
    op = AveragePoolSR(scale, spatial_dims)
    return op, op.A(x_true), torch.randn(shape, generator=gen)


def test_base_step_is_identity_and_registry():
    step = ConsistencyStep()
    x = torch.randn(1, 1, 4, 4)
    assert step.correct_x0(x, 5, x) is x and step.correct_prev(x, 4, x, SCHED) is x
    assert set(CONSISTENCY_STEPS) == {"ilvr", "ddnm", "ddnm+", "dps"}
    assert isinstance(CONSISTENCY_STEPS["ddnm"](AveragePoolSR(2)), DDNM)
    assert isinstance(CONSISTENCY_STEPS["ilvr"](2, 2), ILVR)


@pytest.mark.parametrize("sampler,prediction_type", [("ddim", "epsilon"), ("ddpm", "v_prediction"), ("dpm_solver++", "epsilon")])
def test_ddnm_output_is_exactly_consistent(sampler, prediction_type):
    op, y, x_T = _problem()
    s = make_sampler(sampler, SCHED, prediction_type=prediction_type)
    s.set_timesteps(20)
    model = gaussian_denoiser(SCHED, MU, S, prediction_type)
    gen = torch.Generator().manual_seed(3)
    out = run_chain(s, model, x_T, gen, DDNM(op), y)
    assert (op.A(out) - y).abs().max().item() < 1e-5
    plain = run_chain(s, model, x_T, torch.Generator().manual_seed(3))
    assert (op.A(plain) - y).abs().max().item() > 0.1  # the consistency comes from DDNM


def test_ddnm_3d_volume_and_bicubic():
    op, y, x_T = _problem((1, 1, 8, 8, 8), 2, 3)
    s = make_sampler("ddim", SCHED)
    s.set_timesteps(10)
    out = run_chain(s, gaussian_denoiser(SCHED, MU, S), x_T, None, DDNM(op), y)
    assert (op.A(out) - y).abs().max().item() < 1e-5
    bic = BicubicSR(2)
    x = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    y2 = bic.A(torch.randn_like(x))
    assert torch.allclose(bic.A(DDNM(bic).correct_x0(x, 0, y2)), y2, atol=1e-10)


def test_ilvr_output_lowpass_matches_y():
    op, y, x_T = _problem(scale=2)
    s = make_sampler("ddpm", SCHED)
    s.set_timesteps(25)
    model = gaussian_denoiser(SCHED, MU, S)
    out = run_chain(s, model, x_T, torch.Generator().manual_seed(0), ILVR(2, 2), y)
    assert (op.A(out) - y).abs().max().item() < 1e-5
    # mid-chain the low-pass follows the diffused reference, not y itself
    x_prev = ILVR(2, 2).correct_prev(torch.zeros_like(x_T), 500, y, SCHED, torch.Generator().manual_seed(1))
    ab = SCHED.alphas_cumprod[500].item()
    assert (op.A(x_prev) - ab**0.5 * y).std().item() == pytest.approx((1 - ab) ** 0.5 / 2, rel=0.2)
    # conditioning range: nothing happens below t_stop
    assert torch.equal(ILVR(2, 2, t_stop=100).correct_prev(x_T, 50, y, SCHED), x_T)


def test_dps_reduces_measurement_residual():
    op, y, x_T = _problem()
    model = gaussian_denoiser(SCHED, MU, S)

    def x0_fn_for(t):
        return lambda x_t: gaussian_x0(x_t, t, SCHED, MU, S)

    residuals = {}
    for zeta in (0.0, 1.0, 2.0):
        s = make_sampler("ddim", SCHED)
        s.set_timesteps(50)
        out = run_chain(s, model, x_T.clone(), None, DPS(op, zeta), y, x0_fn_for)
        residuals[zeta] = (op.A(out) - y).flatten(1).norm(dim=1)
    assert torch.all(residuals[1.0] < 0.6 * residuals[0.0]), residuals
    assert torch.all(residuals[2.0] < 0.2 * residuals[0.0]), residuals


def test_dps_without_a_differentiable_x0_fails_loudly():
    op, y, x_T = _problem()
    with pytest.raises(ValueError):
        DPS(op).correct_prev(x_T, 10, y, SCHED, x_t=x_T, x0=x_T)


def test_ddnm_plus_noiseless_is_ddnm_and_noisy_eases_off_at_the_end():
    op, y, x_T = _problem()
    model = gaussian_denoiser(SCHED, MU, S)
    s = make_sampler("ddim", SCHED)
    s.set_timesteps(20)
    out = run_chain(s, model, x_T, None, DDNMPlus(op, 0.0), y)
    assert (op.A(out) - y).abs().max().item() < 1e-5

    x0, x_prev = torch.randn_like(x_T), torch.randn_like(x_T)
    plus = DDNMPlus(op, sigma_y=0.5)
    # high noise (t_prev = 900): full correction, x_prev += sqrt(ab) A^+(y - A x0)
    ab = SCHED.alphas_cumprod[900].item()
    full = plus.correct_prev(x_prev, 900, y, SCHED, x0=x0)
    assert torch.allclose(full, x_prev + ab**0.5 * op.A_pinv(y - op.A(x0)), atol=1e-6)
    # low noise (t_prev = 5): lambda = sqrt(1 - ab)/(sqrt(ab) sigma_y) < 1
    ab = SCHED.alphas_cumprod[5].item()
    lam = (1 - ab) ** 0.5 / (ab**0.5 * 0.5)
    part = plus.correct_prev(x_prev, 5, y, SCHED, x0=x0)
    assert lam < 0.1
    assert torch.allclose(part, x_prev + ab**0.5 * lam * op.A_pinv(y - op.A(x0)), atol=1e-6)
    assert torch.equal(plus.correct_prev(x_prev, -1, y, SCHED, x0=x0), x_prev)
