"""Each face method does its paper's defining thing; these tests fail when it is removed.

* DifFace: the reverse chain starts from the *estimator's output* f(y) forward-diffused to N < T
  (not from noise, not from the LQ face), and at small N the result stays at f(y).
* DiffBFR: the full-resolution IRM stage starts from the diffused, upsampled *low-resolution stage
  result* (truncated sampling at both stages), and the TEM re-diffuses the IRM output a little and
  denoises it with the unconditional prior.
"""
from __future__ import annotations

import pytest
import torch

import restore_core.engine.plan as plan_module
from restore_core.api import make_context, prepare
from restore_face.methods.common import resize_faces
from restore_face.parts import part_config


def method_and_run(name: str, overrides, *extra: str):
    record, cfg = prepare("face", name, overrides=[*overrides, *extra])
    return record.registry.get("methods", name).factory(), cfg, make_context(cfg, quiet=True, registry=record.registry)


@pytest.fixture
def starts(monkeypatch):
    """Every truncated start of the plans: (x0 it diffuses, t0)."""
    calls = []
    original = plan_module.start_truncated

    def recording(x0, t0, schedule, generator=None):
        calls.append((x0.clone(), int(t0), schedule.num_train_timesteps))
        return original(x0, t0, schedule, generator)

    monkeypatch.setattr(plan_module, "start_truncated", recording)
    return calls


def lq_face() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(1, 3, 32, 32, generator=generator) * 2 - 1) * 0.5


def test_difface_diffuses_the_estimators_output_to_n(tiny_parts, starts):
    method, cfg, context = method_and_run("difface", tiny_parts["difface"], "start.t0_fraction=0.3")
    lq = lq_face()
    method.restore_faces(lq, cfg, context)
    estimate = method.estimate(lq, cfg, context)
    assert len(starts) == 1
    x0, t0, steps = starts[0]
    assert t0 == int(0.3 * steps) < steps - 1
    assert torch.allclose(x0, estimate, atol=1e-6)
    assert not torch.allclose(x0, lq, atol=1e-2)  # the start is f(y), not the LQ face


def test_difface_at_small_n_keeps_the_estimate_and_from_noise_does_not(tiny_parts):
    method, cfg, context = method_and_run("difface", tiny_parts["difface"], "start.t0_fraction=0.02", "sampler.eta=0")
    lq = lq_face()
    estimate = method.estimate(lq, cfg, context)
    near = method.restore_faces(lq, cfg, context)
    _, noise_cfg, _ = method_and_run("difface", tiny_parts["difface"], "start.mode=noise", "sampler.eta=0")
    far = method.restore_faces(lq, noise_cfg, context)
    assert float((near - estimate).abs().mean()) < 0.5 * float((far - estimate).abs().mean())


def test_diffbfr_high_stage_starts_from_the_low_stage_result(tiny_parts, starts):
    method, cfg, context = method_and_run("diffbfr", tiny_parts["diffbfr"], "tem.enabled=false")
    lq = lq_face()
    out = method.restore_faces(lq, cfg, context)
    low = method.irm_stage("irm_low", lq, lq, cfg, context, offset=0)
    assert len(starts) == 3  # low, high (restore_faces), then low again (above)
    (low_start, low_t0, steps), (high_start, high_t0, _) = starts[0][:3], starts[1][:3]
    assert low_start.shape[-1] == 8 and torch.allclose(low_start, resize_faces(lq, 8))  # truncated from the diffused LQ
    high = method.irm["irm_high"].load(part_config(cfg, "irm_high"), 3, context).model  # its target may be the Haar domain
    expected = high.to_target(resize_faces(low, 32), high.condition(lq, (32, 32)))
    assert torch.allclose(high_start, expected, atol=1e-6)
    assert 0 < high_t0 < steps - 1 and 0 < low_t0 < steps - 1
    assert out.shape == lq.shape


def test_diffbfr_texture_module_refines_the_irm_output_with_the_prior(tiny_parts, starts):
    method, cfg, context = method_and_run("diffbfr", tiny_parts["diffbfr"])
    _, no_tem_cfg, _ = method_and_run("diffbfr", tiny_parts["diffbfr"], "tem.enabled=false")
    lq = lq_face()
    with_tem = method.restore_faces(lq, cfg, context)
    irm = method.restore_faces(lq, no_tem_cfg, context)
    tem_start, tem_t0, steps = starts[2]
    assert torch.allclose(tem_start, irm, atol=1e-6)  # TEM starts from the IRM result ...
    assert tem_t0 == int(0.1 * steps)  # ... re-diffused only a little
    assert not torch.allclose(with_tem, irm, atol=1e-3)
