"""Zero-shot restoration with an unconditional prior: the plan's consistency holds, --weights loads, errors are one line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from restore_core.cli import main
from restore_core.diffusion.operators import GaussianBlur, Identity
from restore_core.engine.plan import SamplingPlan, run_plan
from restore_core.engine.prior import UnconditionalPrior
from restore_core.published import build

TINY_ADM = dict(
    image_size=16, in_channels=3, model_channels=32, out_channels=3, num_res_blocks=1, attention_resolutions=[2],
    channel_mult=[1, 1], num_head_channels=32, use_scale_shift_norm=True, resblock_updown=False, dropout=0.0,
)
DIFFUSION = {"beta_schedule": "linear", "timesteps": 1000, "learn_sigma": False, "prediction": "eps"}


def tiny_prior_file(folder: Path, config: dict = TINY_ADM, diffusion: dict = DIFFUSION) -> Path:
    """A small random guided-diffusion network saved as a published .pt, its card (arch/config/schedule) beside it."""
    torch.manual_seed(0)
    network = build("guided-diffusion", config)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.normal_(0.0, 0.02)
    path = folder / "prior.pt"
    torch.save({"state_dict": network.state_dict()}, path)
    (folder / "prior.json").write_text(json.dumps({"arch": "guided-diffusion", "config": config, "diffusion": diffusion}))
    return path


def test_ddnm_output_reprojects_exactly_onto_the_measurement(tmp_path):
    """DDNM's defining identity (Wang et al. 2023, eq. 13): A(x0) = y at every step, so A(output) = y (no clipping)."""
    network = build("guided-diffusion", TINY_ADM)
    prior = UnconditionalPrior(network, DIFFUSION, 3).eval()
    cfg = {"sampler": {"name": "ddim", "steps": 4, "eta": 0.85}, "consistency": {"name": "ddnm", "operator": "average_pool"}}
    from omegaconf import OmegaConf

    plan = SamplingPlan.from_config(OmegaConf.create(cfg), "gaussian")
    lr = torch.rand(1, 3, 4, 4) * 2 - 1
    with torch.no_grad():
        hr = run_plan(plan, prior, lr, (16, 16), torch.Generator().manual_seed(0))
        unprojected = run_plan(SamplingPlan.from_config(OmegaConf.create({**cfg, "consistency": {"name": None}}), "gaussian"),
                               prior, lr, (16, 16), torch.Generator().manual_seed(0))
    assert torch.allclose(F.avg_pool2d(hr, 4), lr, atol=1e-4)
    assert not torch.allclose(F.avg_pool2d(unprojected, 4), lr, atol=1e-1)  # the prior alone ignores y


def test_learned_variance_channels_are_dropped():
    """An iDDPM/ADM network with learn_sigma outputs [eps, v]; the samplers see eps only."""
    network = build("guided-diffusion", {**TINY_ADM, "out_channels": 6})
    prior = UnconditionalPrior(network, {**DIFFUSION, "learn_sigma": True}, 3)
    out = prior.denoise(torch.zeros(2, 3, 16, 16), torch.tensor([5, 5]), None)
    assert out.shape == (2, 3, 16, 16)


def test_blur_and_identity_operators_are_pseudo_inverses():
    x = torch.rand(1, 3, 20, 24)
    blur = GaussianBlur(1, 2, blur_sigma=1.0, rcond=1e-6)
    y = blur.A(x)
    assert torch.allclose(blur.A(blur.A_pinv(y)), y, atol=1e-3)  # A A+ y = y on the kept range
    assert torch.allclose(y.mean(), x.mean(), atol=1e-3)  # replicated borders keep the mean of smooth data roughly
    assert torch.equal(Identity().A_pinv(Identity().A(x)), x)
    with pytest.raises(ValueError):
        GaussianBlur(2, 2)


@pytest.fixture
def lr_photo(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    image = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    path = tmp_path / "in.png"
    Image.fromarray(image).save(path)
    return path


@pytest.mark.parametrize("method", ["ddnm", "ilvr", "dps", "ccdf", "ddnm+"])
def test_each_preset_runs_a_prior_given_by_weights(tmp_path, lr_photo, method):
    """--method M --weights FILE: the prior's architecture comes from the card beside the file."""
    weights = tiny_prior_file(tmp_path)
    out = tmp_path / f"{method}.png"
    assert main(["--quiet", "--plugin", "image", "--method", method, str(lr_photo), "-o", str(out), "--weights", str(weights),
                 "--device", "cpu", "sampler.steps=2"]) == 0
    assert np.asarray(Image.open(out)).shape == (32, 32, 3)


def test_deblurring_and_denoising_run_at_scale_one(tmp_path, lr_photo):
    weights = tiny_prior_file(tmp_path)
    for operator in ("gaussian_blur", "identity"):
        out = tmp_path / f"{operator}.png"
        assert main(["--quiet", "--plugin", "image", "--method", "ddnm", str(lr_photo), "-o", str(out), "--weights", str(weights),
                     "--scale", "1", f"consistency.operator={operator}", "sampler.steps=2"]) == 0
        assert np.asarray(Image.open(out)).shape == (8, 8, 3)


def test_bad_weights_are_one_line_and_write_nothing(tmp_path, lr_photo, capsys):
    out = tmp_path / "o.png"
    assert main(["--quiet", "--plugin", "image", "--method", "ddnm", str(lr_photo), "-o", str(out), "--weights", "nope-not-a-name"]) == 2
    assert "neither a file nor a name in the weights registry" in capsys.readouterr().err
    wrong = tiny_prior_file(tmp_path, {**TINY_ADM, "model_channels": 64})
    (tmp_path / "prior.json").write_text(json.dumps({"arch": "guided-diffusion", "config": TINY_ADM, "diffusion": DIFFUSION}))
    assert main(["--quiet", "--plugin", "image", "--method", "ddnm", str(lr_photo), "-o", str(out), "--weights", str(wrong)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "does not fit architecture 'guided-diffusion'" in err and "mis-shaped" in err
    assert not out.exists()


def test_conditional_methods_take_their_own_checkpoint_as_weights(tmp_path, lr_photo, capsys):
    """--weights on a conditional method: its own checkpoint file, or a published checkpoint of an architecture
    it runs; an unconditional prior's name is refused in one line."""
    out = tmp_path / "o.png"
    assert main(["--quiet", "--plugin", "image", "--method", "srdiff", str(lr_photo), "-o", str(out), "--weights", "adm-256-uncond"]) == 2
    err = capsys.readouterr().err
    assert "cannot run 'guided-diffusion' checkpoints" in err and "zero-shot" in err and not out.exists()


def test_a_published_architecture_serves_as_the_sr_engines_denoiser():
    """Registered denoisers include the published architectures: SR3-style conditioning on an ADM UNet by config."""
    from restore_core.engine.sr_model import SRDiffusionModel
    from restore_core.registry import core_registry

    model_cfg = {"space": "pixel", "concat_lr": True, "prediction": "epsilon",
                 "denoiser": {"name": "guided-diffusion", **{k: v for k, v in TINY_ADM.items() if k not in ("in_channels", "out_channels")}}}
    model = SRDiffusionModel(model_cfg, {"schedule": "linear", "train_steps": 100}, 2, 3, core_registry())
    assert model.denoiser.net.input_blocks[0][0].weight.shape[1] == 6  # x_t and up(LR) concatenated
    cond = model.condition(torch.zeros(1, 3, 8, 8), (16, 16))
    assert model.denoise(torch.zeros(1, 3, 16, 16), torch.tensor([3]), cond).shape == (1, 3, 16, 16)


def test_iddpm_learned_variance_spans_beta_tilde_to_beta():
    """iDDPM eq. 15: the step's noise has variance beta_tilde for v = -1 (DDPM's fixed_small: identical draws)
    and beta for v = +1, on the respaced chain."""
    from restore_core.diffusion.samplers import make_sampler
    from restore_core.diffusion.schedules import make_schedule

    schedule = make_schedule("linear", 1000)
    x, eps = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1)), torch.zeros(1, 3, 8, 8)
    iddpm, ddpm = make_sampler("iddpm", schedule), make_sampler("ddpm", schedule)
    for sampler in (iddpm, ddpm):
        sampler.set_timesteps(5)
    t = int(iddpm.timesteps[1])
    ab_t, ab_s = iddpm._alpha_bars(t)
    beta = 1 - ab_t / ab_s
    beta_tilde = (1 - ab_s) / (1 - ab_t) * beta
    mean = ab_s**0.5 * beta / (1 - ab_t) * (x / ab_t**0.5) + (1 - beta) ** 0.5 * (1 - ab_s) / (1 - ab_t) * x

    def draw(v: float) -> torch.Tensor:
        iddpm.variance_source = lambda: torch.full_like(x, v)
        return iddpm.step(eps, t, x, torch.Generator().manual_seed(0)).prev_sample

    assert torch.allclose(draw(-1.0), ddpm.step(eps, t, x, torch.Generator().manual_seed(0)).prev_sample, atol=1e-5)
    noise = (draw(-1.0) - mean) / beta_tilde**0.5
    assert torch.allclose(draw(1.0), mean + beta**0.5 * noise, atol=1e-4)
    assert torch.allclose(draw(0.0), mean + (beta * beta_tilde) ** 0.25 * noise, atol=1e-4)  # geometric midpoint


def test_iddpm_needs_a_learned_variance_prior():
    from omegaconf import OmegaConf

    from restore_core.errors import ConfigError

    prior = UnconditionalPrior(build("guided-diffusion", TINY_ADM), DIFFUSION, 3)
    plan = SamplingPlan.from_config(OmegaConf.create({"sampler": {"name": "iddpm", "steps": 2}}), "gaussian")
    with pytest.raises(ConfigError, match="learned variance"):
        run_plan(plan, prior, torch.zeros(1, 3, 4, 4), (16, 16), torch.Generator().manual_seed(0))


def test_a_learned_variance_prior_samples_with_iddpm_and_ddnm():
    """The prior hands its v channels to the iDDPM sampler while DDNM corrects the eps part."""
    from omegaconf import OmegaConf

    prior = UnconditionalPrior(build("guided-diffusion", {**TINY_ADM, "out_channels": 6}), {**DIFFUSION, "learn_sigma": True}, 3).eval()
    plan = SamplingPlan.from_config(OmegaConf.create({"sampler": {"name": "iddpm", "steps": 3}, "consistency": {"name": "ddnm"}}), "gaussian")
    lr = torch.rand(1, 3, 4, 4) * 2 - 1
    with torch.no_grad():
        hr = run_plan(plan, prior, lr, (16, 16), torch.Generator().manual_seed(0))
    assert hr.shape == (1, 3, 16, 16) and torch.isfinite(hr).all()
    assert torch.allclose(F.avg_pool2d(hr, 4), lr, atol=1e-4)


def test_ddnm_on_a_scaled_residual_target_reprojects_exactly():
    """A residual target scaled by s (SRDiff's res_rescale) measures (y - A up(y)) * s, so DDNM still gives A(out) = y."""
    from omegaconf import OmegaConf

    from restore_core.engine.sampling import Condition
    from restore_core.engine.sr_model import upsample
    from restore_core.published.srdiff_runner import SRDiffTargetSpace

    class ScaledResidualModel(torch.nn.Module):
        process, wavelet, spatial_dims, channels, target_channels, prediction_type = "gaussian", False, 2, 3, 3, "epsilon"

        def __init__(self) -> None:
            super().__init__()
            from restore_core.diffusion.schedules import make_schedule

            self.schedule, self.space = make_schedule("linear", 100), SRDiffTargetSpace(2.0, clip=False)

        def condition(self, lr, hr_size):
            return Condition({"up_lr": upsample(lr, hr_size)})

        def target_grid(self, hr_size):
            return hr_size

        def to_target(self, hr, cond):
            return self.space.to_target(hr, cond.tensors["up_lr"])

        def from_target(self, target, cond):
            return self.space.from_target(target, cond.tensors["up_lr"])

        def denoise(self, x_t, t, cond):
            return 0.3 * x_t  # any predictor: DDNM's projection must hold regardless

    plan = SamplingPlan.from_config(OmegaConf.create({"sampler": {"name": "ddim", "steps": 4}, "consistency": {"name": "ddnm"}}), "gaussian")
    lr = torch.rand(1, 3, 4, 4) * 2 - 1
    hr = run_plan(plan, ScaledResidualModel(), lr, (16, 16), torch.Generator().manual_seed(0))
    assert torch.allclose(F.avg_pool2d(hr, 4), lr, atol=1e-4)


def test_weights_file_of_a_methods_own_checkpoint_runs(tmp_path, lr_photo):
    """--weights FILE.safetensors on a conditional method runs that checkpoint (the config is read-only)."""
    shipped = Path(__file__).resolve().parents[2] / "plugins/image/restore_image/checkpoints/sr3.safetensors"
    out = tmp_path / "o.png"
    assert main(["--quiet", "--plugin", "image", "--method", "sr3", str(lr_photo), "-o", str(out), "--weights", str(shipped),
                 "--scale", "2", "sampler.steps=2"]) == 0
    assert np.asarray(Image.open(out)).shape == (16, 16, 3)


def test_user_errors_are_one_line_with_exit_2(tmp_path, lr_photo, capsys):
    """Wrong operator for the scale, guidance on a prior, iddpm without learned variance, weights on a baseline."""
    weights = tiny_prior_file(tmp_path)
    cases = [
        (["--method", "ddnm", "--weights", str(weights), "consistency.operator=gaussian_blur"], "a blur keeps the grid"),
        (["--method", "ddnm", "--weights", str(weights), "guidance.scale=2.0"], "guidance.scale must be 1"),
        (["--method", "ddnm", "--weights", str(weights), "sampler.name=iddpm"], "needs a prior with learned variance"),
        (["--method", "bicubic", "--weights", str(weights)], "takes no --weights"),
    ]
    for args, needle in cases:
        out = tmp_path / "o.png"
        assert main(["--quiet", "--plugin", "image", str(lr_photo), "-o", str(out), *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err and not out.exists(), (args, err)


def test_guided_diffusion_linear_schedule_scales_with_the_number_of_steps():
    """guided-diffusion's linear betas are 1e-4..0.02 times 1000/T (improved-diffusion's T = 4000 models)."""
    prior = UnconditionalPrior(build("guided-diffusion", TINY_ADM), {**DIFFUSION, "timesteps": 4000, "rescale_timesteps": True}, 3)
    betas = 1 - prior.schedule.alphas_cumprod[1:] / prior.schedule.alphas_cumprod[:-1]
    assert abs(float(prior.schedule.alphas_cumprod[0]) - (1 - 2.5e-5)) < 1e-9 and abs(float(betas[-1]) - 0.005) < 1e-6
    assert prior.timestep_scale == 0.25
