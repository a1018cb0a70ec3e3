"""Each method's defining idea, removed, makes a test fail.

* AT-DDPM: the chain starts from the turbulent frame diffused forward to t0 < T, and only the steps
  below t0 run.
* AT-VarDiff: the denoiser is guided by a latent from a variational encoder of the degraded input,
  trained with KL(q(z | y, x) || p(z | y)).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restore_core.api import make_context, prepare
from restore_core.engine.plan import run_plan
from restore_core.engine.training import TrainSettings
from restore_turbulence.methods.at_vardiff import variational_loss
from turbulence_support import clean_tensor

from conftest import TINY


def _loaded(method: str, weights: Path, *extra: str):
    record, cfg = prepare("turbulence", method, overrides=[*TINY, f"weights={weights}", *extra])
    context = make_context(cfg, quiet=True, registry=record.registry)
    obj = record.registry.get("methods", method).factory()
    loaded = obj.load(cfg, 3, context)
    return obj, cfg, context, loaded, obj.plan(cfg, loaded, context)


def _condition(size: int = 32) -> torch.Tensor:
    frame = clean_tensor(size) * 2 - 1
    return torch.cat([frame, frame])[None]


def test_at_ddpm_starts_from_the_forward_diffused_frame(tiny_models: dict[str, Path]) -> None:
    _, cfg, _, loaded, plan = _loaded("at-ddpm", tiny_models["at-ddpm"], "sampler.steps=50")
    model = loaded.model
    first_inputs, calls = [], []
    denoise = model.denoise

    def spy(x_t: torch.Tensor, t: torch.Tensor, cond):  # noqa: ANN001
        if not calls:
            first_inputs.append((x_t.clone(), int(torch.as_tensor(t).reshape(-1)[0])))
        calls.append(int(torch.as_tensor(t).reshape(-1)[0]))
        return denoise(x_t, t, cond)

    model.denoise = spy
    cond = _condition()
    run_plan(plan, model, cond, (32, 32), torch.Generator().manual_seed(0))
    x_start, t_start = first_inputs[0]
    total = model.schedule.num_train_timesteps
    assert t_start == int(float(cfg.start.t0_fraction) * total) < total - 1
    assert max(calls) == t_start  # only steps at or below t0 run: the chain never visits t0 < t < T
    abar = float(model.schedule.alphas_cumprod[t_start])
    # the diffused input is the fused frame (the frame itself for one frame) in the model's target space
    # (residual over the fused frame: zero), so x_t0 = sqrt(abar) target(fused) + sqrt(1 - abar) eps
    condition = model.condition(cond, (32, 32))
    start_target = model.to_target(cond[:, 3:], condition)
    residual = (x_start - abar**0.5 * start_target) / (1 - abar) ** 0.5  # must be N(0, I) noise
    assert abs(float(residual.std()) - 1) < 0.1
    assert abs(float(torch.corrcoef(torch.stack([residual.flatten(), cond[:, 3:].flatten()]))[0, 1])) < 0.1


def test_at_vardiff_denoiser_is_guided_by_the_prior_latent(tiny_models: dict[str, Path]) -> None:
    _, _, _, loaded, _ = _loaded("at-vardiff", tiny_models["at-vardiff"])
    model = loaded.model
    cond = model.condition(_condition(), (32, 32))
    mean, _ = model.latent.prior_stats(_condition())
    assert torch.equal(cond.tensors["features"], mean)
    x_t, t = torch.randn(1, 3, 32, 32), torch.tensor([500])
    with torch.no_grad():
        guided = model.denoise(x_t, t, cond)
        cond.tensors["features"] = cond.tensors["features"] + 1.0
        moved = model.denoise(x_t, t, cond)
    assert float((guided - moved).abs().max()) > 1e-4


def test_at_vardiff_trains_the_prior_by_kl_to_the_posterior(tiny_models: dict[str, Path]) -> None:
    _, cfg, _, loaded, _ = _loaded("at-vardiff", tiny_models["at-vardiff"])
    model = loaded.model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    lr, hr = _condition(), clean_tensor(32)[None] * 2 - 1
    settings = TrainSettings.from_config(dict(cfg.train))
    loss, terms = variational_loss(0.01)(model, (lr, hr), torch.Generator().manual_seed(0), settings)
    assert "kl" in terms
    loss.backward()
    prior_grad = sum(float(p.grad.abs().sum()) for p in model.latent.prior.parameters() if p.grad is not None)
    posterior_grad = sum(float(p.grad.abs().sum()) for p in model.latent.posterior.parameters() if p.grad is not None)
    assert prior_grad > 0 and posterior_grad > 0


@pytest.mark.parametrize("method", ["at-ddpm", "at-vardiff"])
def test_the_burst_average_enters_the_condition(method: str, tiny_models: dict[str, Path]) -> None:
    _, _, _, loaded, _ = _loaded(method, tiny_models[method])
    cond = _condition()
    other = cond.clone()
    other[:, 3:] = -other[:, 3:]
    x_t, t = torch.randn(1, 3, 32, 32), torch.tensor([300])
    with torch.no_grad():
        a = loaded.model.denoise(x_t, t, loaded.model.condition(cond, (32, 32)))
        b = loaded.model.denoise(x_t, t, loaded.model.condition(other, (32, 32)))
    assert float((a - b).abs().max()) > 1e-4
