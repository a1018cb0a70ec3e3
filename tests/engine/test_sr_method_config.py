"""Sampling and training settings that cannot work fail before any work, with one clear line."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from restore_core.context import RunContext
from restore_core.engine.checkpoint import save_checkpoint
from restore_core.engine.plan import SamplingPlan
from restore_core.engine.sr_method import DiffusionSRMethod, sample_sr
from restore_core.errors import ConfigError, InputError, UsageError
from tests.engine.test_sr_model import build
from tests.engine.tiny import DIFFUSION, sr3

BASE = {"sampler": {"name": "ddim", "steps": 2, "eta": 0.0}, "start": {"mode": "noise", "t0_fraction": 0.5}, "guidance": {"scale": 1.0}}


def config(**sections) -> OmegaConf:
    merged = OmegaConf.merge(OmegaConf.create(BASE), OmegaConf.create(sections))
    return merged


@pytest.mark.parametrize(
    "sections, process, needle",
    [
        ({"sampler": {"name": "euler"}}, "gaussian", "unknown sampler.name 'euler'; known: ddim, ddpm, dpm_solver++, iddpm, residual_shift"),
        ({"sampler": {"name": "residual_shift"}}, "gaussian", "sampler.name=residual_shift needs a residual-shifting model"),
        ({"start": {"mode": "warm"}}, "gaussian", "unknown start.mode 'warm'; known: noise, noisy_input, truncated"),
        ({"start": {"mode": "truncated", "t0_fraction": 0.0}}, "gaussian", "start.t0_fraction must lie in (0, 1]"),
        ({"start": {"mode": "truncated", "t0_fraction": 1.5}}, "gaussian", "start.t0_fraction must lie in (0, 1]"),
        ({"sampler": {"steps": 0}}, "gaussian", "sampler.steps must be at least 1"),
        ({"consistency": {"name": "ilvr"}}, "residual_shift", "consistency.name=ilvr needs a Gaussian noise schedule"),
        ({"consistency": {"name": "ddnm+"}}, "residual_shift", "consistency.name=ddnm+ needs"),
        ({"consistency": {"name": "dps"}}, "residual_shift", "consistency.name=dps needs"),
    ],
)
def test_impossible_sampling_settings_are_config_errors(sections, process, needle):
    with pytest.raises(ConfigError) as info:
        SamplingPlan.from_config(config(**sections), process)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_possible_settings_pass():
    SamplingPlan.from_config(config(consistency={"name": "ddnm"}), "residual_shift")
    SamplingPlan.from_config(config(start={"mode": "truncated", "t0_fraction": 1.0}), "gaussian")


def test_truncated_start_at_fraction_one_starts_at_the_last_timestep():
    model = build(sr3())
    lr = torch.rand(1, 3, 4, 4) * 2 - 1
    out = sample_sr(model, lr, 2, config(start={"mode": "truncated", "t0_fraction": 1.0}), torch.Generator().manual_seed(0))
    assert out.shape == (1, 3, 8, 8) and torch.isfinite(out).all()


def test_consistency_refuses_a_fractional_scale_instead_of_rounding_it():
    model = build(sr3())
    lr = torch.rand(1, 3, 4, 4) * 2 - 1
    with pytest.raises(UsageError, match="needs an integer scale, got 2.5"):
        sample_sr(model, lr, 2.5, config(consistency={"name": "ddnm"}), torch.Generator().manual_seed(0))


# -- the loaded checkpoint decides the architecture and the cascade ---------------------------
class Toy(DiffusionSRMethod):
    def __init__(self, folder: Path, images=None, error: Exception | None = None) -> None:
        self.checkpoint_dir = folder
        super().__init__()
        self.images, self.error = images, error

    def degradation(self, cfg, scale, context):
        return lambda hr, generator: F.avg_pool2d(hr, scale)

    def training_images(self, data, cfg, context):
        if self.error is not None:
            raise self.error
        return self.images


def full_config(scales, channels=(8, 16)) -> OmegaConf:
    model = {**sr3(), "checkpoint": "toy", "denoiser": {**sr3()["denoiser"], "channels": list(channels)}}
    return config(
        method="toy", plugin="toy", seed=0, model=model, diffusion=DIFFUSION, train={"scales": scales, "patch": 16, "batch_size": 1},
        cascade={"stage_scale": 2, "steps_decay": 0.5}, tiling={"tile": 64, "overlap": 0.25, "batch_size": 1},
    )


@pytest.fixture
def trained_on_x2(tmp_path) -> Path:
    stored = full_config([2])
    model = build(OmegaConf.to_container(stored.model))
    save_checkpoint(tmp_path / "toy.safetensors", {"model": model.state_dict()}, {"config": OmegaConf.to_container(stored), "channels": 3})
    return tmp_path


def recording(method: Toy) -> list[float]:
    stages: list[float] = []

    def once(model, plan, lr, scale, cfg, context, offset):
        stages.append(scale)
        return F.interpolate(lr, scale_factor=scale)

    method.sample_in_windows = once  # type: ignore[method-assign]
    return stages


def test_cascade_follows_the_checkpoints_trained_scales(trained_on_x2):
    method = Toy(trained_on_x2)
    stages = recording(method)
    method.super_resolve(torch.zeros(1, 3, 4, 4), 4, full_config([2, 4]), RunContext(quiet=True))
    assert stages == [2.0, 2.0]  # the checkpoint knows ×2 only: ×4 runs as a ×2 cascade


def test_architecture_overrides_warn_once(trained_on_x2):
    method = Toy(trained_on_x2)
    recording(method)
    logged: list[str] = []
    context = RunContext(quiet=True, log=logged.append)
    for _ in range(2):
        method.super_resolve(torch.zeros(1, 3, 4, 4), 2, full_config([2], channels=(8, 32)), context)
    assert len(logged) == 1 and "model.denoiser.channels" in logged[0] and "checkpoint's architecture is used" in logged[0]
    method.super_resolve(torch.zeros(1, 3, 4, 4), 2, full_config([2]), context)
    assert len(logged) == 1


def test_bad_sampler_fails_before_any_sampling(trained_on_x2):
    method = Toy(trained_on_x2)
    stages = recording(method)
    with pytest.raises(ConfigError, match="unknown sampler.name"):
        method.super_resolve(torch.zeros(1, 3, 4, 4), 4, OmegaConf.merge(full_config([2]), {"sampler": {"name": "nope"}}), RunContext(quiet=True))
    assert stages == []


# -- training data errors name the data ------------------------------------------------------------
def test_missing_training_folder_is_named(tmp_path):
    with pytest.raises(InputError) as info:
        Toy(tmp_path).train(full_config([2]), RunContext(quiet=True), data=tmp_path / "nope")
    assert str(info.value) == f"{tmp_path / 'nope'}: no such file or directory"


def test_unreadable_training_images_become_an_input_error(tmp_path):
    method = Toy(tmp_path, error=OSError("cannot identify image file 'broken.png'"))
    with pytest.raises(InputError) as info:
        method.train(full_config([2]), RunContext(quiet=True), data=tmp_path)
    assert str(info.value).startswith(f"{tmp_path}: cannot read the training images") and "broken.png" in str(info.value)


def test_images_smaller_than_the_patch_name_the_folder_and_sizes(tmp_path):
    method = Toy(tmp_path, images=[torch.zeros(3, 8, 12), torch.zeros(3, 32, 32)])
    with pytest.raises(InputError) as info:
        method.train(full_config([2]), RunContext(quiet=True), data=tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path}: ") and "8x12" in message and "patch size 16" in message


def test_no_training_images_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="holds no training images"):
        Toy(tmp_path, images=[]).train(full_config([2]), RunContext(quiet=True), data=tmp_path)
