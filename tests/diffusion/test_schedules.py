import math

import pytest
import torch

from restore_core.diffusion.schedules import (
    NoiseSchedule,
    cosine_schedule,
    linear_schedule,
    make_schedule,
    respaced_timesteps,
    scaled_linear_schedule,
)


def test_linear_schedule_matches_ho_et_al():
    sched = linear_schedule(1000)
    assert sched.betas.dtype == torch.float64 and sched.num_train_timesteps == 1000
    assert sched.betas[0].item() == pytest.approx(1e-4) and sched.betas[-1].item() == pytest.approx(2e-2)
    assert torch.allclose(sched.betas.diff(), torch.full((999,), (2e-2 - 1e-4) / 999, dtype=torch.float64))
    # alpha_bar_t = prod (1 - beta_s), computed here by a plain loop
    prod, ref = 1.0, []
    for b in sched.betas.tolist():
        prod *= 1.0 - b
        ref.append(prod)
    assert torch.allclose(sched.alphas_cumprod, torch.tensor(ref, dtype=torch.float64), rtol=1e-12)
    assert torch.allclose(sched.alphas, 1 - sched.betas)


def test_cosine_schedule_follows_eq17():
    T, s = 1000, 0.008
    sched = cosine_schedule(T, s=s)

    def f(t: float) -> float:
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2

    for t in (0, 10, 250, 500, 900):  # alpha_bar index t holds step t+1
        assert sched.alphas_cumprod[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert sched.betas.max().item() <= 0.999 + 1e-12
    assert sched.betas[-1].item() == pytest.approx(0.999)  # clipped at the singular end


def test_scaled_linear_and_factory():
    assert torch.allclose(scaled_linear_schedule(10, 1e-4, 1e-2).betas.sqrt(), torch.linspace(1e-2, 1e-1, 10, dtype=torch.float64))
    assert torch.equal(make_schedule("linear", 50).betas, linear_schedule(50).betas)
    assert torch.equal(make_schedule("cosine", 50, s=0.01).betas, cosine_schedule(50, s=0.01).betas)
    with pytest.raises(ValueError):
        make_schedule("quadratic", 10)


def test_alpha_bar_gathers_any_shape_and_minus_one_is_clean():
    sched = linear_schedule(100)
    t = torch.tensor([[0, 5], [99, -1]])
    ab = sched.alpha_bar(t)
    assert ab.shape == (2, 2) and ab.dtype == torch.float64
    assert ab[0, 1] == sched.alphas_cumprod[5] and ab[1, 1] == 1.0
    with pytest.raises(IndexError):
        sched.alpha_bar(torch.tensor([100]))
    with pytest.raises(TypeError):
        sched.alpha_bar(torch.tensor([1.0]))


def test_schedule_rejects_bad_betas():
    with pytest.raises(ValueError):
        NoiseSchedule(torch.tensor([0.1, 0.0]))
    with pytest.raises(ValueError):
        NoiseSchedule(torch.ones(2, 2) * 0.1)


@pytest.mark.parametrize("spacing", ["trailing", "leading", "linspace"])
@pytest.mark.parametrize("n", [1, 2, 7, 10, 50, 999, 1000])
def test_respacing_count_descending_unique(spacing, n):
    ts = respaced_timesteps(1000, n, spacing)
    assert ts.dtype == torch.long and ts.numel() == n
    assert bool((ts.diff() < 0).all()) if n > 1 else True
    assert ts.unique().numel() == n
    assert 0 <= int(ts.min()) and int(ts.max()) <= 999


def test_respacing_known_grids():
    assert respaced_timesteps(1000, 10, "trailing").tolist() == list(range(999, 0, -100))
    assert respaced_timesteps(1000, 10, "leading").tolist() == list(range(900, -1, -100))
    assert respaced_timesteps(1000, 10, "linspace").tolist()[:2] == [999, 888]
    assert respaced_timesteps(1000, 10, "linspace").tolist()[-1] == 0
    assert respaced_timesteps(20, 20).tolist() == list(range(19, -1, -1))


@pytest.mark.parametrize("spacing", ["trailing", "leading", "linspace"])
@pytest.mark.parametrize("t_start,n", [(300, 4), (0, 1), (49, 50), (999, 10)])
def test_respacing_t_start_starts_there(spacing, t_start, n):
    ts = respaced_timesteps(1000, n, spacing, t_start=t_start)
    assert int(ts[0]) == t_start and ts.numel() == n
    assert ts.unique().numel() == n and int(ts.min()) >= 0


def test_respacing_rejects_impossible_requests():
    with pytest.raises(ValueError):
        respaced_timesteps(1000, 0)
    with pytest.raises(ValueError):
        respaced_timesteps(1000, 11, t_start=9)
    with pytest.raises(ValueError):
        respaced_timesteps(1000, 5, t_start=1000)
    with pytest.raises(ValueError):
        respaced_timesteps(1000, 5, spacing="karras")
