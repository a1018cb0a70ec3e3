"""Training extensions methods build on: batch extras, their own loss, curricula, Charbonnier."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restore_core.context import RunContext
from restore_core.engine.checkpoint import load_checkpoint
from restore_core.engine.pairs import CurriculumPairs, PatchPairs, competence, split_degraded
from restore_core.engine.sr_model import SRDiffusionModel
from restore_core.engine.training import TrainSettings, charbonnier_loss, diffusion_loss, noisy_input, train_model
from tests.engine.tiny import DIFFUSION, sr3


def images(n: int = 4, channels: int = 1, size: int = 20) -> list[torch.Tensor]:
    return [torch.rand(channels, size, size, generator=torch.Generator().manual_seed(i)) * 2 - 1 for i in range(n)]


def test_a_degradation_may_return_extras_and_replace_the_target():
    hr = torch.rand(2, 2, 8, 8)
    lr, target, extras = split_degraded(hr, {"lr": hr[:, :1, ::2, ::2], "hr": hr[:, :1], "ref": hr[:, 1:]})
    assert target.shape == (2, 1, 8, 8) and torch.equal(extras["ref"], hr[:, 1:])
    assert len(split_degraded(hr, hr[..., ::2, ::2])) == 2
    with pytest.raises(TypeError, match="'lr'"):
        split_degraded(hr, {"low": hr})


def test_competence_grows_from_the_start_fraction_to_one():
    values = [competence(step, 0.25, 100) for step in (0, 25, 50, 100, 200)]
    assert values[0] == pytest.approx(0.25) and values[-2] == values[-1] == 1.0
    assert all(a < b for a, b in zip(values[:4], values[1:4]))


def test_curriculum_serves_easy_patches_first_then_everything():
    # difficulty = patch mean: early batches must come from the low end of the pool
    pairs = CurriculumPairs(
        images(8), patch=8, batch_size=4, degradations={2: lambda hr, g: F.avg_pool2d(hr, 2)},
        difficulty=lambda lr, hr: hr.mean(dim=(1, 2, 3)), pool_factor=8, start_fraction=0.125, ramp_steps=100,
    )
    stream = iter(pairs)
    pairs.set_step(0)
    early = torch.cat([next(stream)[1].mean(dim=(1, 2, 3)) for _ in range(20)])
    pairs.set_step(100)
    late = torch.cat([next(stream)[1].mean(dim=(1, 2, 3)) for _ in range(20)])
    assert early.mean() < late.mean() - 0.05


def test_curriculum_is_reproducible_from_its_state():
    def make():
        return CurriculumPairs(images(), patch=8, batch_size=2, degradations={2: lambda hr, g: F.avg_pool2d(hr, 2)},
                               difficulty=lambda lr, hr: hr.std(dim=(1, 2, 3)), seed=3)
    a, b = make(), make()
    next(iter(a))
    b.set_state(a.state())
    assert torch.equal(next(iter(a))[1], next(iter(b))[1])


def test_noisy_input_draws_what_diffusion_loss_uses():
    torch.manual_seed(0)
    model = SRDiffusionModel(sr3(), DIFFUSION, 2, 1)
    lr, hr = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 16, 16)
    settings = TrainSettings(1, 1e-3, 0.0, 0.9, 1.0, 1, 0.0, "l2")
    draw = noisy_input(model, lr, hr, torch.Generator().manual_seed(1), settings)
    expected = F.mse_loss(model.denoise(draw.x_t, draw.t, draw.cond), draw.noise)
    assert torch.allclose(diffusion_loss(model, lr, hr, torch.Generator().manual_seed(1), settings), expected)


def test_charbonnier_is_a_smooth_l1():
    a, b = torch.zeros(4), torch.tensor([0.0, 1.0, -2.0, 3.0])
    assert charbonnier_loss(a, b, eps=1e-6).item() == pytest.approx(1.5, abs=1e-5)
    assert charbonnier_loss(a, a, eps=1e-3).item() == pytest.approx(1e-3)


def test_a_method_loss_receives_the_batch_extras_and_its_terms_are_logged(tmp_path):
    torch.manual_seed(0)
    model = SRDiffusionModel(sr3(), DIFFUSION, 2, 1)
    seen: list[torch.Tensor] = []

    def degrade(hr, generator):
        return {"lr": F.avg_pool2d(hr, 2), "code": hr.mean(dim=(1, 2, 3))}

    def loss_fn(model, batch, generator, settings):
        lr, hr, extras = batch
        seen.append(extras["code"])
        return diffusion_loss(model, lr, hr, generator, settings), {"extra_term": 0.5}

    logs: list[str] = []
    pairs = PatchPairs(images(2), patch=16, batch_size=2, degradations={2: degrade})
    settings = TrainSettings(2, 1e-3, 0.0, 0.9, 1.0, 2, 0.0, "l2")
    out = train_model(model, pairs, settings, tmp_path, RunContext(quiet=True, log=logs.append), {"config": {}}, loss_fn=loss_fn)
    assert len(seen) == 2 and seen[0].shape == (2,)
    assert any("extra_term 0.5000" in line for line in logs)
    assert load_checkpoint(out)[1]["steps"] == 2
