"""The ResShift runner (restore_core.published.resshift_runner): published ResShift checkpoints through ``--weights``.

Pins: (a) a checkpoint saved as ResShift's trainer saves it and its autoencoder are added with
``restore weights add`` (the ResShift entry names the autoencoder in ``diffusion.autoencoder``);
(b) ``restore --plugin image --method resshift --weights NAME`` restores a photograph end to end;
(c) the adaptation against the reference's facts: the eta schedule of ``get_named_eta_schedule``,
the network input scaling ``_scale_input``, the x0 output, y0 = the latent of the bicubically
upsampled LQ, decoding at the end, padding to 16 LQ pixels, and a whole chain equal to the
reference sampler's (numbers recorded from the reference; see ``REFERENCE``).

The tiny pair: the small Swin-UNet fixture (lq_size 32, image_size 16: its feature extractor halves
the LQ image) with a seeded random VQ autoencoder of three levels (f4, 3-channel latent, the VQ
fixture's other settings), which agree at sf = 2: the latent of up(LQ) has LQ/2 pixels, as the LQ
features.  (The small VQ fixture itself is f2, which agrees with that UNet at sf = 1 only.)
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image
from safetensors import safe_open

from restore_core.cli import main
from restore_core.published import build

FIXTURES = Path(__file__).with_name("fixtures")
ARCH = "resshift-swin-unet"
#: The reference config's ``diffusion.params`` for the tiny pair (realsr's, at sf 2), plus the autoencoder's registry name.
DIFFUSION = {
    "schedule_name": "exponential", "schedule_kwargs": {"power": 0.3}, "steps": 4, "min_noise_level": 0.2,
    "etas_end": 0.99, "kappa": 2.0, "predict_type": "xstart", "weighted_mse": False, "timestep_respacing": None,
    "scale_factor": 1.0, "normalize_input": True, "latent_flag": True, "sf": 2, "autoencoder": "tiny-vq",
}
#: Produced by ``python -m tests.published.test_resshift_runner /path/to/ResShift`` (reference commit 3ce1d81e,
#: its UNetModelSwin, VQModelTorch and create_gaussian_diffusion / p_sample_loop on CPU, torch 2.14.1):
#: the chain's prior noise and step noise drawn from torch.manual_seed(7), in the reference's order.
#: (timm, which the reference's swin_transformer imports, installed apart: pip install --target DIR timm; PYTHONPATH=DIR.)
REFERENCE: dict[str, float] = {
    "latent_sum": -0.08972166141029447, "latent_abs_sum": 20.83586753567215, "latent_first": -0.11755238473415375,
    "latent_last": -0.18444648385047913, "latent_at_100": 0.20480424165725708,
    "image_sum": -24.475739737972617, "image_abs_sum": 774.3920029997826, "image_first": -0.14070621132850647,
    "image_last": 0.08928795158863068, "image_at_100": 0.26043078303337097,
}


def unet_fixture() -> tuple[dict, dict[str, torch.Tensor]]:
    with safe_open(str(FIXTURES / "resshift-swin-unet-small.safetensors"), "pt") as handle:
        config = json.loads(handle.metadata()["config"])
        state = {k[len("state_dict."):]: handle.get_tensor(k).float() for k in handle.keys() if k.startswith("state_dict.")}
    return config, state


def vq_config() -> dict:
    with safe_open(str(FIXTURES / "resshift-vq-f4-small.safetensors"), "pt") as handle:
        config = json.loads(handle.metadata()["config"])
    config["ddconfig"].update(ch_mult=[2, 1, 1], num_res_blocks=[1, 1, 1])  # three levels: f4
    return config


def vq_state(config: dict) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return build("resshift-vq-f4", config).state_dict()


def lq_image(height: int = 16, width: int = 16) -> torch.Tensor:
    """A deterministic LQ image in [-1, 1] (the reference's range)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    return torch.stack([torch.sin(6 * x + 2 * y), torch.cos(5 * y - x), torch.sin(3 * (x + y)) * 0.8])[None]


@pytest.fixture
def registered(tmp_path, monkeypatch):
    """(a): the pair added with ``restore weights add``, saved as ResShift saves them (trainer: {'state_dict': module.*},
    the released autoencoder: a bare state dict)."""
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))
    unet_config, unet_state = unet_fixture()
    torch.save({"iters_start": 100, "log_step": {"train": 10, "val": 0}, "state_dict": {f"module.{k}": v for k, v in unet_state.items()}},
               tmp_path / "model_100.pth")
    config = vq_config()
    torch.save(vq_state(config), tmp_path / "autoencoder.pth")
    (tmp_path / "unet.json").write_text(json.dumps(unet_config))
    (tmp_path / "vq.json").write_text(json.dumps(config))
    (tmp_path / "diffusion.yaml").write_text(yaml.safe_dump(DIFFUSION))
    assert main(["weights", "add", "tiny-vq", "--file", str(tmp_path / "autoencoder.pth"), "--arch", "resshift-vq-f4",
                 "--config", str(tmp_path / "vq.json")]) == 0
    assert main(["weights", "add", "tiny-resshift", "--file", str(tmp_path / "model_100.pth"), "--arch", ARCH,
                 "--config", str(tmp_path / "unet.json"), "--diffusion", str(tmp_path / "diffusion.yaml")]) == 0
    return tmp_path


def adapter():
    """The runner's model for the registered entry (as the method loads it)."""
    from restore_core.published.catalogue import WeightsRegistry
    from restore_core.published.resshift_runner import load

    registry = WeightsRegistry()
    entry = registry.get("tiny-resshift")
    spec = {"arch": entry.arch, "config": dict(entry.config), "diffusion": dict(entry.diffusion), "extra": entry.card()}
    return load(spec, registry.path_of("tiny-resshift"), registry, "cpu")


def test_restores_a_photograph_through_weights(registered, capsys):
    """(b) ``--method resshift --weights NAME`` runs the published pair end to end at its own scale; another scale is refused."""
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((12, 20, 3)) * 255).astype(np.uint8)).save(registered / "in.png")  # padded to 16 x 32 inside
    out = registered / "out.png"
    assert main(["--quiet", "--plugin", "image", "--method", "resshift", str(registered / "in.png"), "-o", str(out),
                 "--weights", "tiny-resshift", "--scale", "2", "--device", "cpu", "consistency.name=null"]) == 0
    image = np.asarray(Image.open(out))
    assert image.shape == (24, 40, 3) and image.std() > 0
    capsys.readouterr()
    assert main(["--quiet", "--plugin", "image", "--method", "resshift", str(registered / "in.png"), "-o", str(registered / "x4.png"),
                 "--weights", "tiny-resshift", "--scale", "4", "consistency.name=null"]) == 2
    assert "×2" in capsys.readouterr().err
    assert main(["--quiet", "--plugin", "image", "--method", "sr3", str(registered / "in.png"), "-o", str(registered / "sr3.png"),
                 "--weights", "tiny-resshift", "--scale", "2"]) == 2  # only resshift runs resshift-swin-unet checkpoints


def test_schedule_is_the_reference_exponential_schedule():
    """(c) eta_t of get_named_eta_schedule('exponential') for the published s4 and s15 settings, from its closed form."""
    from restore_core.published.resshift_runner import schedule_of

    for steps, min_noise in ((4, 0.2), (15, 0.04)):
        schedule = schedule_of({**DIFFUSION, "steps": steps, "min_noise_level": min_noise})
        start = min(min_noise / 2.0, min_noise)
        for t in (0, 1, steps - 1):
            exponent = (t / (steps - 1)) ** 0.3 * (steps - 1)
            expected = (start * (0.99 / start) ** (exponent / (steps - 1))) ** 2
            assert math.isclose(float(schedule.etas[t]), expected, rel_tol=1e-12)
        assert schedule.kappa == 2.0 and schedule.num_train_timesteps == steps
    assert math.isclose(float(schedule_of(DIFFUSION).etas[0]), 0.1**2, rel_tol=1e-12)  # min(0.2 / 2, 0.2) squared
    assert math.isclose(float(schedule_of(DIFFUSION).etas[-1]), 0.99**2, rel_tol=1e-12)


def test_denoise_condition_and_decoding_follow_the_reference(registered):
    """(c) denoise = net(x_t / sqrt(kappa^2 eta_t + 1), t, lq=LQ) (x0, unclipped); y0 = encode(bicubic x2 of LQ);
    from_target = decode (quantised) cropped to the HR size; the LQ is reflect-padded to 16 pixels."""
    model = adapter()
    unet_config, unet_state = unet_fixture()
    net = build(ARCH, unet_config)
    net.load_state_dict(unet_state)
    vq = build("resshift-vq-f4", vq_config())
    vq.load_state_dict(vq_state(vq_config()))
    lq = lq_image()
    cond = model.condition(lq, (32, 32))
    with torch.no_grad():
        y0 = vq.encode(F.interpolate(lq, scale_factor=2, mode="bicubic"))
        assert torch.allclose(model.shift_origin(cond), y0, atol=1e-6)
        assert y0.shape == (1, 3, 8, 8) and model.target_grid((32, 32)) == (8, 8)
        x_t = y0 + 0.7 * torch.randn(y0.shape, generator=torch.Generator().manual_seed(1))
        for t in (3, 0):
            eta = float(model.schedule.etas[t])
            expected = net(x_t / math.sqrt(eta * 4.0 + 1.0), torch.tensor([t]), lq=lq)
            assert torch.allclose(model.denoise(x_t, torch.tensor([t]), cond), expected, atol=1e-5)
        assert torch.allclose(model.from_target(y0, cond), vq.decode(y0), atol=1e-5)
        odd = lq[..., :12, :13]
        cond = model.condition(odd, (24, 26))
        padded = F.pad(odd, (0, 3, 0, 4), mode="reflect")
        assert torch.equal(cond.tensors["lq"], padded)
        assert torch.allclose(cond.tensors["y0"], vq.encode(F.interpolate(padded, scale_factor=2, mode="bicubic")), atol=1e-6)
        assert model.from_target(cond.tensors["y0"], cond).shape == (1, 3, 24, 26)


def test_whole_chain_equals_the_reference_sampler(registered):
    """(c) run_plan with the adapter equals ResShift's p_sample_loop (numbers in REFERENCE) for the same noise."""
    from omegaconf import OmegaConf

    from restore_core.engine.plan import SamplingPlan, run_plan

    model = adapter()
    plan = SamplingPlan.from_config(OmegaConf.create({"sampler": {"name": "residual_shift", "steps": 4}}), "residual_shift")
    with torch.no_grad():
        image = run_plan(plan, model, lq_image(), (32, 32), torch.Generator().manual_seed(7))
        model.from_target = lambda target, cond: target  # the same chain, stopped before decoding
        latent = run_plan(plan, model, lq_image(), (32, 32), torch.Generator().manual_seed(7))
    assert image.shape == (1, 3, 32, 32) and latent.shape == (1, 3, 8, 8)
    got = summary(latent, image)
    for key, value in REFERENCE.items():  # measured: within 1e-6 (latent) and 5e-5 (image sum); no input scaling moves latent_sum by 1e-2
        assert math.isclose(got[key], value, rel_tol=1e-5, abs_tol=1e-5), (key, got[key], value)


def summary(latent: torch.Tensor, image: torch.Tensor) -> dict[str, float]:
    """Checksums and a few values of the chain's final latent and of its decoded image."""
    numbers = {}
    for name, tensor in (("latent", latent), ("image", image)):
        flat = tensor.double().flatten()
        numbers.update({f"{name}_sum": float(flat.sum()), f"{name}_abs_sum": float(flat.abs().sum()),
                        f"{name}_first": float(flat[0]), f"{name}_last": float(flat[-1]), f"{name}_at_100": float(flat[100])})
    return numbers


def reference_numbers(reference_dir: str) -> dict[str, float]:
    """The tiny pair's chain through the reference itself (its classes and sampler), printed as REFERENCE."""
    sys.path.insert(0, reference_dir)
    from ldm.models.autoencoder import VQModelTorch
    from models.script_util import create_gaussian_diffusion
    from models.unet import UNetModelSwin

    unet_config, unet_state = unet_fixture()
    net = UNetModelSwin(**unet_config)
    net.load_state_dict(unet_state)
    config = vq_config()
    vq = VQModelTorch(**config)
    vq.load_state_dict(vq_state(config))
    params = {k: v for k, v in DIFFUSION.items() if k != "autoencoder"}
    diffusion = create_gaussian_diffusion(**params)
    torch.manual_seed(7)
    with torch.no_grad():  # p_sample_loop is this loop, then decode_first_stage
        for step in diffusion.p_sample_loop_progressive(y=lq_image(), model=net.eval(), first_stage_model=vq.eval(), clip_denoised=False,
                                                        model_kwargs={"lq": lq_image()}, device="cpu"):
            latent = step["sample"]
        image = diffusion.decode_first_stage(latent, first_stage_model=vq)
    return summary(latent, image)


if __name__ == "__main__":
    print(json.dumps(reference_numbers(sys.argv[1]), indent=1))
