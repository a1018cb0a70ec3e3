"""The SRDiff runner (restore_core/published/srdiff_runner.py): published SRDiff checkpoints through ``--weights``.

Pins: a checkpoint saved as LeiaLi/SRDiff's trainer saves it (``utils/utils.py:
save_checkpoint``) is added by name and restores a photo with ``--method srdiff``;
the adapter's denoise is the reference network's noise prediction; its up(LR),
schedule, one reverse step and the whole reference sampler agree with numbers
recorded from the reference code itself.

The recorded numbers (REFERENCE_* below) were made by running the reference
(LeiaLi/SRDiff at 56285083a2d64ed321c249e6ef5d6e745a5d817e, torch 2.14.1, CPU,
float32) on the ``srdiff-small`` fixture's weights, out of this repository::

    hparams.update(fixture config); model = GaussianDiffusion(Unet(...), RRDBNet(...), 100, "l1")
    model.load_state_dict(fixture state, strict=True)
    norm = Compose([ToTensor(), Normalize((0.5,) * 3, (0.5,) * 3)])
    lr_u8 = ((np.arange(108).reshape(6, 6, 3) * 37) % 256).astype(np.uint8)
    img_lr, img_lr_up = norm(lr_u8)[None], norm(imresize(lr_u8 / 256, 4))[None]     # utils/dataset.py
    _, cond = model.rrdb(img_lr, True)
    x = torch.randn(1, 3, 24, 24, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(1); x_prev, x0 = model.p_sample(x, torch.full((1,), 60), cond, img_lr_up)
    torch.manual_seed(3); img_sr, _ = model.sample(img_lr, img_lr_up, (1, 3, 24, 24))
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from safetensors import safe_open

from restore_core.cli import main
from restore_core.diffusion.schedules import make_schedule
from restore_core.engine.plan import SamplingPlan, run_plan
from restore_core.published import build
from restore_core.published.srdiff_runner import SRDiffPlanModel, load, reference_lr_up
from restore_core.published.state_files import WeightsFileError

FIXTURES = Path(__file__).with_name("fixtures")
TOLERANCE = 1e-5

# -- facts recorded from the reference (see the module docstring) --------------------------------
REFERENCE_LR_UP_ROW0 = [  # img_lr_up[0, :, 0, :4]
    [-1.27008056640625, -1.20123291015625, -1.0544052124023438, -0.7982864379882812],
    [-0.98101806640625, -0.91217041015625, -0.7500686645507812, -0.41103363037109375],
    [-0.69195556640625, -0.62310791015625, -0.46100616455078125, -0.12197113037109375],
]
REFERENCE_LR_UP_G10 = [-0.162933349609375, -0.446075439453125, -0.479278564453125, -0.262542724609375]  # [0, 1, 10, 8:12]
REFERENCE_LR_UP_SUM = -60.75
REFERENCE_STEP = {"sum": 33.70887738186866, "abs": 1412.3758007297292, "row": [-0.292773962020874, 1.096005916595459, -1.1985796689987183],
                  "x0_sum": 26.444599203765392, "x0_abs": 1359.1549366340041}
REFERENCE_SAMPLE = {"sum": -52.90659264661372, "abs": 830.5079119633883, "pixel": [-0.7285404801368713, -0.593780517578125, 0.6888446807861328],
                    "row": [0.4741207957267761, -0.475738525390625, -0.4611339569091797, -0.3984490931034088]}


def _fixture(name: str) -> tuple[dict, dict[str, torch.Tensor]]:
    with safe_open(str(FIXTURES / f"srdiff-{name}.safetensors"), "pt") as handle:
        return json.loads(handle.metadata()["config"]), {key: handle.get_tensor(key) for key in handle.keys()}


def _section(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}


def _adapter(name: str = "small") -> tuple[SRDiffPlanModel, dict[str, torch.Tensor]]:
    config, tensors = _fixture(name)
    network = build("srdiff", config)
    network.load_state_dict(_section(tensors, "state_dict."), strict=True)
    return SRDiffPlanModel(network.eval()), tensors


def _lr_u8() -> np.ndarray:
    return ((np.arange(6 * 6 * 3).reshape(6, 6, 3) * 37) % 256).astype(np.uint8)


def _model_units(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0 * 2.0 - 1.0


def _save_as_srdiff_trainer(state: dict[str, torch.Tensor], path: Path) -> None:
    """The layout of SRDiff's save_checkpoint: global_step, optimizer_states, state_dict.model (legacy serialisation)."""
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=2e-4)
    checkpoint = {"global_step": 400000, "optimizer_states": [optimizer.state_dict()], "state_dict": {"model": state}}
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)


def test_a_trainer_checkpoint_added_by_name_restores_a_photo_with_the_srdiff_method(tmp_path, monkeypatch, capsys):
    """restore weights add (the reference's file layout, its schedule in its own names), then --method srdiff --weights NAME:
    exit 0, the x4 shape (odd sizes padded inside), and every pixel within res2img's reach of up(LR) (|HR - up| <= 1/res_rescale)."""
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))
    config, tensors = _fixture("small")
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "schedule.yaml").write_text("beta_schedule: cosine\nbeta_s: 0.008\ntimesteps: 100\npredict: epsilon\nres_rescale: 2.0\n")
    _save_as_srdiff_trainer(_section(tensors, "state_dict."), tmp_path / "model_ckpt_steps_400000.ckpt")
    assert main(["weights", "add", "tiny-srdiff", "--file", str(tmp_path / "model_ckpt_steps_400000.ckpt"), "--arch", "srdiff",
                 "--config", str(tmp_path / "config.json"), "--diffusion", str(tmp_path / "schedule.yaml")]) == 0
    capsys.readouterr()

    image = (np.random.default_rng(0).random((5, 7, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    args = ["--quiet", "--plugin", "image", "--method", "srdiff", str(tmp_path / "in.png"), "-o", str(out), "--weights", "tiny-srdiff",
            "sampler.name=ddpm", "sampler.steps=4", "sampler.clip_sample=1", "consistency.name=null"]
    assert main([*args, "--scale", "4"]) == 0
    restored = np.asarray(Image.open(out))
    assert restored.shape == (20, 28, 3)
    up = reference_lr_up(_model_units(image), (20, 28)).clamp(-1, 1)[0].permute(1, 2, 0).numpy()
    hr = restored.astype(np.float64) / 255.0 * 2.0 - 1.0
    assert np.abs(hr - up).max() <= 0.5 + 2.0 / 255.0
    assert np.abs(hr - up).max() > 0.01  # the network's residual is there, not just up(LR)

    assert main([*args, "--scale", "2"]) == 2  # an x4 checkpoint refuses other factors in one line
    assert "x4 only" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["small", "small-x8"])
def test_denoise_is_the_reference_networks_noise_prediction(name):
    """condition() gives rrdb(img_lr, get_fea=True)'s feature list and denoise() is denoise_fn's output, equal to the
    reference-made fixture outputs (x8 fixture: attention, up_input, weight norm, linear x20)."""
    model, tensors = _adapter(name)
    inputs, expected = _section(tensors, "input."), _section(tensors, "output.")
    with torch.no_grad():
        cond = model.condition(inputs["img_lr"], tuple(inputs["x"].shape[2:]))
        features = cond.tensors["features"].unbind(1)
        assert len(features) == model.network.hparams["rrdb_num_block"] + 1
        for index, feature in enumerate(features):
            torch.testing.assert_close(feature, expected[f"rrdb_fea.{index}"], rtol=0, atol=TOLERANCE)
        cond.tensors["up_lr"] = inputs["img_lr_up"]  # the fixture's img_lr_up (used by the x8 fixture's up_input)
        torch.testing.assert_close(model.denoise(inputs["x"], inputs["t"], cond), expected["denoise"], rtol=0, atol=TOLERANCE)
    assert model.prediction_type == "epsilon" and model.process == "gaussian" and not model.wavelet


def test_up_lr_is_the_references_img_lr_up_and_the_target_round_trips():
    """up_lr = Normalize(imresize(img_lr_uint8 / 256, s)) as the reference's dataset computes it (Matlab bicubic, /256);
    to_target = clamp((HR - up) * 2, -1, 1) and from_target inverts it inside the clamp."""
    model, _ = _adapter()
    cond = model.condition(_model_units(_lr_u8()), (24, 24))
    up = cond.tensors["up_lr"]
    torch.testing.assert_close(up[0, :, 0, :4], torch.tensor(REFERENCE_LR_UP_ROW0), rtol=0, atol=1e-6)
    torch.testing.assert_close(up[0, 1, 10, 8:12], torch.tensor(REFERENCE_LR_UP_G10), rtol=0, atol=1e-6)
    assert float(up.double().sum()) == pytest.approx(REFERENCE_LR_UP_SUM, abs=1e-4)

    hr = up + torch.linspace(-0.45, 0.45, up.numel()).reshape(up.shape)
    target = model.to_target(hr, cond)
    torch.testing.assert_close(target, (hr - up) * 2.0)
    torch.testing.assert_close(model.from_target(target, cond), hr)
    far = model.to_target(up + 0.8, cond)  # beyond 1/res_rescale: clipped as img2res clips (clip_input)
    assert float(far.max()) == 1.0 and torch.allclose(model.from_target(far, cond), up + 0.5)


def test_schedule_is_the_files_buffers_and_the_references_formulas():
    """alpha_bar is the file's alphas_cumprod buffer; it equals make_schedule and the reference's float64 formulas
    (cosine_beta_schedule(100, s=0.008); linear 1e-4..0.02 with the last beta 0.999 when res) at several t."""
    model, _ = _adapter("small")
    steps = model.schedule.num_train_timesteps
    assert steps == 100
    torch.testing.assert_close(model.schedule.alphas_cumprod, model.network.alphas_cumprod.double(), rtol=1e-6, atol=0)
    torch.testing.assert_close(model.schedule.alphas_cumprod, make_schedule("cosine", 100, s=0.008).alphas_cumprod, rtol=0, atol=1e-6)
    grid = np.linspace(0, steps + 1, steps + 1)  # the reference's cosine_beta_schedule, written out
    f = np.cos(((grid / (steps + 1)) + 0.008) / 1.008 * np.pi * 0.5) ** 2
    betas = np.clip(1 - (f / f[0])[1:] / (f / f[0])[:-1], 0, 0.999)
    for t in (0, 37, 50, 99):
        assert float(model.schedule.alpha_bar(t)) == pytest.approx(float(np.prod(1 - betas[: t + 1])), rel=1e-5, abs=1e-9)

    linear, _ = _adapter("small-x8")
    betas = np.linspace(1e-4, 0.02, 20)
    betas[-1] = 0.999
    for t in (0, 10, 19):
        assert float(linear.schedule.alpha_bar(t)) == pytest.approx(float(np.prod(1 - betas[: t + 1])), rel=1e-5)


def test_a_file_whose_schedule_is_not_its_configs_is_refused(tmp_path):
    """The file's buffers are the schedule: a config naming another schedule than the file's is refused in one line."""
    config, tensors = _fixture("small")
    _save_as_srdiff_trainer(_section(tensors, "state_dict."), tmp_path / "m.ckpt")
    wrong = {"hparams": {**config["hparams"], "beta_schedule": "linear"}}
    with pytest.raises(WeightsFileError, match="not the config's linear schedule"):
        load({"arch": "srdiff", "config": wrong, "diffusion": {}}, tmp_path / "m.ckpt", None, "cpu")
    model = load({"arch": "srdiff", "config": config, "diffusion": {"beta_schedule": "cosine", "timesteps": 100}}, tmp_path / "m.ckpt", None, "cpu")
    assert isinstance(model, SRDiffPlanModel)


def test_one_reverse_step_and_the_whole_chain_are_the_references_sampler():
    """DDPM on the full 100-step chain with clip_sample=1 is p_sample (one step at t=60, same noise), and run_plan from
    the same seed is the reference's sample() (x_T, every step's noise, clipped x0, res2img) to 1e-5."""
    model, _ = _adapter()
    lr = _model_units(_lr_u8())
    plan = SamplingPlan.from_config(OmegaConf.create({"sampler": {"name": "ddpm", "steps": 100, "clip_sample": 1.0}}), "gaussian")
    sampler = plan.make_sampler(model.schedule, model.prediction_type)
    x = torch.randn(1, 3, 24, 24, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        cond = model.condition(lr, (24, 24))
        step = sampler.step(model.denoise(x, torch.full((1,), 60), cond), 60, x, generator=torch.Generator().manual_seed(1))
    prev, x0 = step.prev_sample.double(), step.pred_original_sample.double()
    assert float(prev.sum()) == pytest.approx(REFERENCE_STEP["sum"], abs=1e-3)
    assert float(prev.abs().sum()) == pytest.approx(REFERENCE_STEP["abs"], abs=1e-3)
    torch.testing.assert_close(step.prev_sample[0, 0, 5, :3], torch.tensor(REFERENCE_STEP["row"]), rtol=0, atol=TOLERANCE)
    assert float(x0.sum()) == pytest.approx(REFERENCE_STEP["x0_sum"], abs=1e-3)
    assert float(x0.abs().sum()) == pytest.approx(REFERENCE_STEP["x0_abs"], abs=1e-3)

    with torch.no_grad():
        hr = run_plan(plan, model, lr, (24, 24), torch.Generator().manual_seed(3))
    assert float(hr.double().sum()) == pytest.approx(REFERENCE_SAMPLE["sum"], abs=1e-3)
    assert float(hr.double().abs().sum()) == pytest.approx(REFERENCE_SAMPLE["abs"], abs=1e-3)
    torch.testing.assert_close(hr[0, :, 12, 12], torch.tensor(REFERENCE_SAMPLE["pixel"]), rtol=0, atol=TOLERANCE)
    torch.testing.assert_close(hr[0, 2, 3, :4], torch.tensor(REFERENCE_SAMPLE["row"]), rtol=0, atol=TOLERANCE)
