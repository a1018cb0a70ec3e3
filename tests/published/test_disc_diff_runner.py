"""The DisC-Diff runner (restore_core/published/disc_diff_runner.py): a published SuperResModel run by ``--method disc-diff``.

Pins: a checkpoint saved as the reference saves it (``th.save(model.state_dict())``)
is added with the reference's own config names and restores a NIfTI pair end to
end through ``restore --plugin mri --method disc-diff --ref ... --weights NAME``;
the schedule is guided-diffusion's ``get_named_beta_schedule`` and its model-unit
form is the same diffusion (same noise) for data in [-1, 1] instead of the
reference's [0, 1]; ``denoise`` is the reference network's seventh output's first
channel at the mapped state; ``low_res`` is the reference's same-size k-space LR;
and one DDIM step equals one step of the reference's own ``SpacedDiffusion``
(numbers recorded below from the reference code).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from safetensors import safe_open

from restore_core.cli import main
from restore_core.diffusion.samplers import make_sampler
from restore_core.engine.sampling import Condition
from restore_core.published import build
from restore_core.published.disc_diff_runner import reference_betas
from restore_core.published.runners import load_runner

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "disc-diff-small.safetensors"
#: config/config_test.yaml's diffusion keys, as the reference names them
DIFFUSION = {"noise_schedule": "linear", "diffusion_steps": 1000, "learn_sigma": True, "predict_xstart": False, "rescale_timesteps": False}


def _fixture() -> tuple[dict, dict[str, torch.Tensor]]:
    with safe_open(str(FIXTURE), "pt") as handle:
        config = json.loads(handle.metadata()["config"])
        state = {k[len("state_dict."):]: handle.get_tensor(k) for k in handle.keys() if k.startswith("state_dict.")}
    return config, state


@pytest.fixture
def saved(tmp_path) -> tuple[Path, dict, dict]:
    """The fixture saved as DisC-Diff's trainer saves checkpoints: a plain state dict through torch.save."""
    config, state = _fixture()
    path = tmp_path / "DisC_Diff_small.pt"
    torch.save(state, path)
    return path, config, state


def _runner(path: Path, config: dict, diffusion: dict = DIFFUSION):
    return load_runner({"arch": "disc-diff", "config": config, "diffusion": diffusion}, path, None, "cpu")


def _network(config: dict, state: dict) -> torch.nn.Module:
    network = build("disc-diff", config).eval()
    network.load_state_dict(state, strict=True)
    return network


def test_weights_add_then_restore_a_nifti_pair_through_the_cli(saved, tmp_path, monkeypatch):
    """`restore weights add` (reference names in --diffusion) then `restore --plugin mri --method disc-diff --ref --weights`: exit 0, HR shape."""
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))
    path, config, _ = saved
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "diffusion.json").write_text(json.dumps(DIFFUSION))
    assert main(["weights", "add", "disc-small", "--file", str(path), "--arch", "disc-diff",
                 "--config", str(tmp_path / "config.json"), "--diffusion", str(tmp_path / "diffusion.json")]) == 0
    grid = np.meshgrid(*[np.arange(n) / n for n in (24, 20, 3)], indexing="ij")
    anatomy = np.cos(2 * np.pi * (grid[0] + 2 * grid[1])) * np.sin(2 * np.pi * grid[2])
    affine = np.diag([1.0, 1.0, 3.0, 1.0])
    t2, t1 = (500 + 300 * anatomy).astype(np.float32), (800 - 200 * anatomy).astype(np.float32)
    nib.save(nib.Nifti1Image(t1, affine), str(tmp_path / "t1.nii.gz"))
    nib.save(nib.Nifti1Image(t2[::2, ::2], affine @ np.diag([2.0, 2.0, 1.0, 1.0])), str(tmp_path / "t2_lr.nii.gz"))
    out = tmp_path / "sr.nii.gz"
    code = main(["--quiet", "--plugin", "mri", "--method", "disc-diff", str(tmp_path / "t2_lr.nii.gz"), "--ref", str(tmp_path / "t1.nii.gz"),
                 "--weights", "disc-small", "--scale", "2", "-o", str(out), "sampler.steps=2"])
    assert code == 0
    image = nib.load(str(out))
    data = np.asarray(image.dataobj)
    assert image.shape == (24, 20, 3) and np.isfinite(data).all()
    assert np.allclose(image.affine, affine)


def test_schedule_is_guided_diffusions_and_its_model_unit_form_is_the_same_diffusion(saved):
    """Reference betas (linear with 1000/T scaling, cosine with max_beta 0.999); in [-1, 1]: alpha_bar/(4 - 3 alpha_bar), same eps."""
    linear = reference_betas("linear", 1000).betas.numpy()
    assert np.allclose(linear, np.linspace(1e-4, 0.02, 1000, dtype=np.float64), rtol=0, atol=1e-17)  # torch vs numpy linspace: last-bit rounding
    assert np.allclose(reference_betas("linear", 250).betas.numpy(), np.linspace(4e-4, 0.08, 250), rtol=0, atol=1e-15)
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    cosine = [min(1 - f((i + 1) / 100) / f(i / 100), 0.999) for i in range(100)]
    assert np.allclose(reference_betas("cosine", 100).betas.numpy(), cosine, rtol=0, atol=1e-12)

    path, config, _ = saved
    runner = _runner(path, config)
    assert runner.prediction_type == "epsilon" and runner.process == "gaussian" and runner.channels == 1
    ab_ref = np.cumprod(1 - linear)
    for t in (0, 1, 250, 526, 999):
        ab = ab_ref[t]
        assert float(runner.reference_schedule.alpha_bar(t)) == pytest.approx(ab, rel=1e-12)
        assert float(runner.schedule.alpha_bar(t)) == pytest.approx(ab / (4 - 3 * ab), rel=1e-10)
        # q_sample in model units of x0_p = 2 x0_r - 1, mapped back, is the reference's q_sample of x0_r with the same eps
        x0_r, eps = torch.rand(64, dtype=torch.float64), torch.randn(64, dtype=torch.float64)
        ab_p = float(runner.schedule.alpha_bar(t))
        x_t_p = math.sqrt(ab_p) * (2 * x0_r - 1) + math.sqrt(1 - ab_p) * eps
        x_t_r = (math.sqrt(4 - 3 * ab) * x_t_p + math.sqrt(ab)) / 2
        torch.testing.assert_close(x_t_r, math.sqrt(ab) * x0_r + math.sqrt(1 - ab) * eps, rtol=0, atol=1e-9)


def test_denoise_is_the_reference_networks_eps_at_the_mapped_state(saved):
    """eps = output[6][:, :C] of forward(x_r, t, low_res=.., other=..) with x_r, low_res, other in the reference's [0, 1]."""
    path, config, state = saved
    runner, network = _runner(path, config), _network(config, state)
    g = torch.Generator().manual_seed(1)
    lr, ref, x_p = torch.rand(2, 1, 6, 5, generator=g) * 2 - 1, torch.rand(2, 1, 12, 10, generator=g) * 2 - 1, torch.randn(2, 1, 12, 10, generator=g)
    t = torch.tensor([100, 800])
    cond = runner.condition(lr, (12, 10), ref)
    torch.testing.assert_close(cond.tensors["other"], (ref + 1) / 2)
    assert float(cond.tensors["low_res"].min()) >= 0  # |ifft| as the reference's getLR
    torch.testing.assert_close(cond.tensors["up_lr"], 2 * cond.tensors["low_res"] - 1)
    ab = torch.tensor(np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[[100, 800]]).view(-1, 1, 1, 1)
    x_r = ((torch.sqrt(4 - 3 * ab) * x_p + torch.sqrt(ab)) / 2).float()
    with torch.no_grad():
        expected = network(x_r, t, low_res=cond.tensors["low_res"], other=cond.tensors["other"])[6][:, :1]
        got = runner.denoise(x_p, t, cond)
    assert got.shape == (2, 1, 12, 10)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert float(expected.std()) > 0.05
    assert torch.equal(runner.condition(lr, (12, 10)).tensors["other"], torch.zeros(2, 1, 12, 10))  # no reference: empty image


def test_low_res_is_the_references_same_size_kspace_lr(saved):
    """A band-limited HR slice in [0, 1]: getLR's zero-filled (masked) k-space LR at scale 2 equals the runner's low_res."""
    path, config, _ = saved
    runner = _runner(path, config)
    n = 16
    y, x = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    hr = 0.5 + 0.2 * np.cos(2 * np.pi * (3 * y + x) / n) + 0.15 * np.sin(2 * np.pi * (y - 2 * x) / n + 0.3)
    # dataset/data_processing.getLR, its masked branch, in 2-D: centre +-n/(2 s) of the shifted spectrum, abs(ifft)
    spectrum = np.fft.fftshift(np.fft.fftn(hr))
    mask = np.zeros_like(spectrum)
    c, d = n // 2, n // 4
    mask[c - d:c + d, c - d:c + d] = 1
    reference_lr = np.abs(np.fft.ifftn(np.fft.ifftshift(spectrum * mask)))
    lr_model_units = torch.tensor(2 * hr[::2, ::2] - 1, dtype=torch.float32).view(1, 1, 8, 8)  # band-limited: sampling = truncation
    low_res = runner.condition(lr_model_units, (n, n)).tensors["low_res"][0, 0].double().numpy()
    assert np.allclose(low_res, reference_lr, atol=1e-6)
    assert np.ptp(reference_lr) > 0.5


def test_one_ddim_step_equals_the_reference_samplers(saved):
    """One eta=0 DDIM step 526 -> 473 of config_test.yaml's respaced chain ("20"), against DisC-Diff's SpacedDiffusion.ddim_sample.

    Reference numbers made by running the reference's guided_diffusion/gaussian_diffusion.py + respace.py
    (commit 53e4295, `shap` stubbed) with this fixture's network: SpacedDiffusion(space_timesteps(1000, "20"),
    get_named_beta_schedule("linear", 1000), EPSILON, LEARNED_RANGE).ddim_sample(net, x, t=[10],
    clip_denoised=False, model_kwargs={low_res, other}, eta=0), inputs drawn below (torch 2.14.1, CPU).
    """
    path, config, _ = saved
    runner = _runner(path, config)
    g = torch.Generator().manual_seed(0)
    x_r = torch.randn(1, 1, 12, 10, generator=g)
    low_res = torch.rand(1, 1, 12, 10, generator=g)
    other = torch.rand(1, 1, 12, 10, generator=g)
    sampler = make_sampler("ddim", runner.schedule, prediction_type=runner.prediction_type, eta=0.0, timestep_spacing="linspace")
    sampler.set_timesteps(20)
    reference_map = [0, 53, 105, 158, 210, 263, 315, 368, 421, 473, 526, 578, 631, 684, 736, 789, 841, 894, 946, 999]
    assert sampler.timesteps.tolist() == reference_map[::-1]  # "linspace" spacing is the reference's respacing "20"
    ab_t, ab_s = (float(runner.reference_schedule.alpha_bar(k)) for k in (526, 473))
    x_p = (2 * x_r - math.sqrt(ab_t)) / math.sqrt(4 - 3 * ab_t)
    cond = Condition({"up_lr": 2 * low_res - 1, "low_res": low_res, "other": other})
    with torch.no_grad():
        step = sampler.step(runner.denoise(x_p, torch.tensor([526]), cond), 526, x_p)
    sample = (math.sqrt(4 - 3 * ab_s) * step.prev_sample + math.sqrt(ab_s)) / 2
    pred_xstart = (step.pred_original_sample + 1) / 2
    assert float(sample.sum()) == pytest.approx(9.843289375305176, abs=2e-3)
    assert float(sample.abs().sum()) == pytest.approx(135.20814514160156, abs=2e-3)
    torch.testing.assert_close(sample[0, 0, 0, :4], torch.tensor([-1.4137818813323975, -1.5324960947036743, -0.3357715308666229, -0.36173126101493835]), rtol=0, atol=1e-4)
    assert float(sample[0, 0, 5, 5]) == pytest.approx(-0.3611685335636139, abs=1e-4)
    assert float(pred_xstart.sum()) == pytest.approx(78.96502685546875, abs=5e-3)
    torch.testing.assert_close(pred_xstart[0, 0, 0, :4], torch.tensor([-3.89839243888855, -5.052555561065674, -1.1301748752593994, 0.7751927375793457]), rtol=0, atol=5e-4)


def test_sizes_the_network_cannot_halve_are_padded_and_cropped(tmp_path):
    """A 2-level network (halves once) on an odd 11 x 9 slice: replicate-padded to 12 x 10, output cropped back to 11 x 9."""
    config, _ = _fixture()
    config = {**config, "channel_mult": [1, 2]}
    torch.manual_seed(0)
    network = build("disc-diff", config).eval()
    for parameter in network.out.parameters():  # the zero-initialised output layer made non-zero
        torch.nn.init.normal_(parameter, std=0.1)
    torch.save(network.state_dict(), tmp_path / "two_levels.pt")
    runner = _runner(tmp_path / "two_levels.pt", config)
    g = torch.Generator().manual_seed(2)
    x_p, lr, ref = torch.randn(1, 1, 11, 9, generator=g), torch.rand(1, 1, 6, 5, generator=g) * 2 - 1, torch.rand(1, 1, 11, 9, generator=g) * 2 - 1
    cond = runner.condition(lr, (11, 9), ref)
    t = torch.tensor([300])
    ab = float(runner.reference_schedule.alpha_bar(300))
    x_r = (math.sqrt(4 - 3 * ab) * x_p + math.sqrt(ab)) / 2
    pad = lambda v: torch.nn.functional.pad(v, (0, 1, 0, 1), mode="replicate")
    with torch.no_grad():
        got = runner.denoise(x_p, t, cond)
        expected = network(pad(x_r), t, low_res=pad(cond.tensors["low_res"]), other=pad(cond.tensors["other"]))[6][:, :1, :11, :9]
    assert got.shape == (1, 1, 11, 9)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
