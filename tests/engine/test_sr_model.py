"""SR3 and SRDiff do their papers' defining things; the sampling loop wires CFG and consistency."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restore_core.diffusion.consistency import DDNM
from restore_core.diffusion.operators import AveragePoolSR
from restore_core.diffusion.samplers import make_sampler
from restore_core.diffusion.wavelet import haar_forward
from restore_core.engine.sampling import Condition, run_reverse_process
from restore_core.engine.sr_model import SRDiffusionModel, upsample
from tests.engine.tiny import DIFFUSION, sr3, srdiff


def build(cfg: dict) -> SRDiffusionModel:
    torch.manual_seed(0)
    model = SRDiffusionModel(cfg, DIFFUSION, spatial_dims=2, channels=3).eval()
    with torch.no_grad():  # MONAI zero-initialises output layers: give them weights
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_(0, 0.05)
    return model


def pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    hr = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    return F.avg_pool2d(hr, 4), hr


def test_sr3_target_is_the_hr_image_and_lr_is_concatenated():
    model = build(sr3())
    lr, hr = pair()
    cond = model.condition(lr, (16, 16))
    assert torch.equal(model.to_target(hr, cond), hr)
    assert model.denoiser.cond_channels == 3  # up(LR) concatenated to the noisy state (SR3 sec. 2.4)
    x_t, t = torch.randn(1, 3, 16, 16), torch.tensor([50])
    other = model.condition(pair(1)[0], (16, 16))
    with torch.no_grad():
        assert not torch.allclose(model.denoise(x_t, t, cond), model.denoise(x_t, t, other))


def test_sr3_without_concatenation_ignores_the_lr():
    model = build({**sr3(), "concat_lr": False})
    x_t, t = torch.randn(1, 3, 16, 16), torch.tensor([50])
    with torch.no_grad():
        a = model.denoise(x_t, t, model.condition(pair(0)[0], (16, 16)))
        b = model.denoise(x_t, t, model.condition(pair(1)[0], (16, 16)))
    assert torch.equal(a, b)  # so the test above really depends on the concatenation


def test_srdiff_target_is_the_residual_and_the_encoder_conditions():
    model = build(srdiff())
    lr, hr = pair()
    cond = model.condition(lr, (16, 16))
    residual = hr - upsample(lr, (16, 16))
    assert torch.allclose(model.to_target(hr, cond), residual)  # SRDiff eq. 5
    assert torch.allclose(model.from_target(residual, cond), hr, atol=1e-6)
    assert model.encoder is not None and "features" in cond.tensors
    x_t, t = torch.randn(1, 3, 16, 16), torch.tensor([50])
    changed = Condition({**cond.tensors, "features": cond.tensors["features"] + 1.0})
    with torch.no_grad():
        assert not torch.allclose(model.denoise(x_t, t, cond), model.denoise(x_t, t, changed))


def test_wavelet_domain_wraps_the_target():
    model = build(srdiff(wavelet=True))
    lr, hr = pair()
    cond = model.condition(lr, (16, 16))
    target = model.to_target(hr, cond)
    assert target.shape == (1, 12, 8, 8)
    assert torch.allclose(target, haar_forward(hr - cond.tensors["up_lr"], 2), atol=1e-6)
    assert torch.allclose(model.from_target(target, cond), hr, atol=1e-5)


@pytest.mark.parametrize("space", ["pixel", "residual"])
def test_ddnm_through_the_loop_makes_the_output_consistent(space):
    # x0-predicting random nets keep values bounded, so float precision is meaningful
    model = build(sr3(prediction="sample") if space == "pixel" else srdiff(prediction="sample"))
    lr, _ = pair()
    cond = model.condition(lr, (16, 16))
    sampler = make_sampler("ddim", model.schedule, prediction_type="sample")
    sampler.set_timesteps(5)
    operator = AveragePoolSR(4, 2)
    measurement = lr if space == "pixel" else lr - operator.A(cond.tensors["up_lr"])
    x0 = run_reverse_process(
        model.denoise, torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)), sampler,
        cond=cond, consistency=[DDNM(operator)], measurement=measurement,
    )
    out = model.from_target(x0, cond)
    assert torch.allclose(F.avg_pool2d(out, 4), lr, atol=1e-5)


def test_cfg_scale_one_and_zero_through_the_loop():
    model = build(sr3(prediction="sample"))
    lr, _ = pair()
    cond = model.condition(lr, (16, 16))
    start = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))

    def run(scale: float | None, condition: Condition | None) -> torch.Tensor:
        sampler = make_sampler("ddim", model.schedule, prediction_type="sample")
        sampler.set_timesteps(4)
        return run_reverse_process(model.denoise, start, sampler, cond=condition, guidance_scale=scale)

    assert torch.allclose(run(1.0, cond), run(None, cond), atol=1e-5)
    assert torch.allclose(run(0.0, cond), run(None, cond.null()), atol=1e-5)
    assert not torch.allclose(run(3.0, cond), run(None, cond), atol=1e-4)


def test_residual_shift_chain_trains_and_samples_in_15_steps():
    from omegaconf import OmegaConf

    from restore_core.engine.sr_method import sample_sr
    from restore_core.engine.training import TrainSettings, diffusion_loss

    cfg_model = {**sr3(prediction="sample")}
    model = SRDiffusionModel(cfg_model, {"process": "residual_shift", "train_steps": 15, "kappa": 2.0}, 2, 3)
    assert model.schedule.num_train_timesteps == 15
    lr, hr = pair()
    settings = TrainSettings(1, 1e-3, 0.0, 0.9, 1.0, 1, 0.0, "l2")
    loss = diffusion_loss(model, lr, hr, torch.Generator().manual_seed(0), settings)
    loss.backward()
    assert torch.isfinite(loss) and any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    calls = []
    original = model.denoise
    model.denoise = lambda x, t, c: calls.append(int(t[0])) or original(x, t, c)  # type: ignore[method-assign]
    cfg = OmegaConf.create({"sampler": {"name": "ddim", "steps": 50, "eta": 0.0}, "start": {"mode": "noise"}, "guidance": {"scale": 1.0}})
    out = sample_sr(model, lr, 4, cfg, torch.Generator().manual_seed(0))
    assert out.shape == hr.shape and len(calls) == 15 and calls[0] == 14


def test_cascade_plan_chains_x2_stages_with_fewer_steps():
    from omegaconf import OmegaConf

    from restore_core.engine.sr_method import cascade_plan
    from restore_core.errors import UsageError

    cfg = OmegaConf.create({"sampler": {"steps": 20}, "train": {"scales": [2, 4]}, "cascade": {"stage_scale": 2, "steps_decay": 0.5}})
    assert cascade_plan(4, cfg) == [(4.0, 20)]
    assert cascade_plan(8, cfg) == [(2.0, 20), (2.0, 10), (2.0, 5)]
    with pytest.raises(UsageError):
        cascade_plan(6, cfg)


def test_a_plugin_registered_sampler_step_is_used():
    from omegaconf import OmegaConf

    from restore_core.diffusion.consistency import ConsistencyStep
    from restore_core.engine.plan import SamplingPlan
    from restore_core.registry import Registry

    class Marker(ConsistencyStep):
        def __init__(self, operator, scale, spatial_dims, strength):
            self.operator, self.strength = operator, strength

    registry = Registry()
    registry.callback("sampler_steps", "toy")(name="marker", factory=Marker)
    cfg = OmegaConf.create({"consistency": {"name": "marker", "operator": "average_pool", "strength": 0.5}})
    plan = SamplingPlan.from_config(OmegaConf.merge({"sampler": {"name": "ddim"}}, cfg), "gaussian", registry)
    (step,) = plan.consistency.steps(object(), 4, 2)
    assert isinstance(step, Marker) and step.strength == 0.5
    with pytest.raises(Exception, match="unknown consistency step 'nope'"):
        SamplingPlan.from_config(OmegaConf.create({"consistency": {"name": "nope"}}), "gaussian", registry)
