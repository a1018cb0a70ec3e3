"""R2D2+ (``--method r2d2``): k-space operator, noisy-input start, k-space consistency, train -> restore."""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from restore_core import api
from restore_core.cli import main
from restore_core.engine import plan as plan_module
from restore_core.engine.plan import SamplingPlan
from restore_core.engine.sr_method import build_model
from restore_core.plugins import load_plugin
from restore_core.testing import tiny_overrides
from restore_core.errors import UsageError
from restore_mri import r2d2
from restore_mri.kspace_consistency import KSpaceConsistency, KSpaceTruncation
from restore_mri.plugin import CONFIG_DIR

TINY = tiny_overrides()


def tiny_cfg(*extra: str):
    cfg = OmegaConf.load(CONFIG_DIR / "r2d2.yaml")
    cfg.pop("_types")
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist([*TINY, *extra]))


def tiny_plan(cfg) -> SamplingPlan:
    """The run's plan, resolved with the mri plugin's registry (its ``kspace`` sampler step)."""
    return SamplingPlan.from_config(cfg, "gaussian", load_plugin("mri").registry)


def tiny_model():
    torch.manual_seed(0)
    return build_model(tiny_cfg(), 2, 1).eval()


def smooth_slices(batch: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(h) / h, torch.arange(w) / w, indexing="ij")
    out = []
    for _ in range(batch):
        a, b = (torch.rand(2, generator=g) * 3).tolist()
        out.append(0.5 * torch.cos(2 * np.pi * (a * x + y)) + 0.3 * torch.sin(2 * np.pi * b * y))
    return torch.stack(out)[:, None]


# -- the operator ------------------------------------------------------------------------------
@pytest.mark.parametrize("hr, lr", [((16, 12), (8, 6)), ((15, 12), (8, 6)), ((17, 13), (9, 7))])
def test_zero_filling_is_the_pseudo_inverse_of_kspace_truncation(hr, lr):
    op = KSpaceTruncation((2, 2), hr_size=hr, lr_size=lr)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, *hr, generator=g, dtype=torch.float64)
    y = torch.randn(2, 1, *lr, generator=g, dtype=torch.float64)
    z = torch.randn(2, 1, *hr, generator=g, dtype=torch.float64)
    assert torch.allclose(op.A(op.A_pinv(y)), y, atol=1e-12)  # A A+ = I
    assert torch.allclose(op.A(op.A_pinv(op.A(x))), op.A(x), atol=1e-12)  # A A+ A = A
    assert torch.allclose(op.A_pinv(op.A(op.A_pinv(y))), op.A_pinv(y), atol=1e-12)  # A+ A A+ = A+
    projection = lambda v: op.A_pinv(op.A(v))  # noqa: E731
    assert torch.allclose((projection(x) * z).sum(), (x * projection(z)).sum(), atol=1e-10)  # A+ A symmetric


def test_default_sizes_follow_the_factors():
    op = KSpaceTruncation((2, 4))
    x = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    assert op.A(x).shape[-2:] == (8, 4)
    assert op.A_pinv(op.A(x)).shape[-2:] == (16, 16)


def test_consistency_replaces_or_mixes_the_measured_kspace_centre():
    op = KSpaceTruncation((2, 2), hr_size=(16, 16), lr_size=(8, 8))
    x0 = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    y = torch.randn(1, 1, 8, 8, dtype=torch.float64)
    hard = KSpaceConsistency(op, 1.0).correct_x0(x0, 10, y)
    assert torch.allclose(op.A(hard), y, atol=1e-12)
    # high frequencies (the null space of A) are the estimate's
    assert torch.allclose(hard - op.A_pinv(op.A(hard)), x0 - op.A_pinv(op.A(x0)), atol=1e-12)
    soft = KSpaceConsistency(op, 0.25).correct_x0(x0, 10, y)
    assert torch.allclose(op.A(soft), 0.25 * y + 0.75 * op.A(x0), atol=1e-12)
    with pytest.raises(ValueError):
        KSpaceConsistency(op, 1.5)


# -- noise level and start -------------------------------------------------------------------------
def test_noise_estimate_reads_the_measured_noise_level():
    clean = smooth_slices(6, 64, 64)
    noisy = clean + 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))
    assert r2d2.estimate_sigma(noisy) == pytest.approx(0.05, rel=0.15)
    assert r2d2.estimate_sigma(clean) < 0.01


def test_sampling_starts_from_the_noisy_input_at_its_noise_level(monkeypatch):
    model = tiny_model()
    cfg = tiny_cfg("sampler.steps=50")
    lr = smooth_slices(2, 8, 8)
    sigma = 0.2
    seen = {}

    def spy(denoise, x_start, sampler, **kwargs):
        seen["x_start"], seen["t0"] = x_start.clone(), int(sampler.timesteps[0])
        return x_start

    monkeypatch.setattr(plan_module, "run_reverse_process", spy)
    r2d2.sample_r2d2(model, tiny_plan(cfg), lr, (2.0, 2.0), torch.Generator().manual_seed(0), sigma)
    ab = model.schedule.alphas_cumprod
    t_star = int((((1 - ab) / ab).sqrt() - sigma).abs().argmin())
    assert 0 < t_star < model.schedule.num_train_timesteps - 1
    assert seen["t0"] == t_star
    zero_filled = KSpaceTruncation((2, 2), hr_size=(16, 16), lr_size=(8, 8)).A_pinv(lr)
    assert torch.allclose(seen["x_start"], float(ab[t_star].sqrt()) * zero_filled, atol=1e-6)


def test_output_keeps_the_measured_low_frequencies():
    model = tiny_model()
    with torch.no_grad():  # an untrained UNet predicts zero noise (zero-initialised output); give it some
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(parameter.numel()))
    lr = smooth_slices(2, 8, 8) + 0.05 * torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    out = r2d2.sample_r2d2(model, tiny_plan(tiny_cfg()), lr, (2.0, 2.0), torch.Generator().manual_seed(0), 0.3, lam=1.0)
    assert out.shape == (2, 1, 16, 16)
    op = KSpaceTruncation((2, 2), hr_size=(16, 16), lr_size=(8, 8))
    assert torch.allclose(op.A(out), lr, atol=1e-5)
    assert float((out - op.A_pinv(lr)).abs().max()) > 1e-3  # the diffusion changed the high frequencies


def test_auto_consistency_weight_softens_for_noisy_inputs():
    cfg = tiny_cfg()
    assert r2d2.consistency_weight(cfg, 0.001) == 1.0
    assert r2d2.consistency_weight(cfg, 0.1) == 0.5
    assert r2d2.consistency_weight(tiny_cfg("consistency.lam=0.8"), 0.1) == 0.8


# -- end to end ------------------------------------------------------------------------------------------
def _volume(path: Path, seed: int, shape=(24, 20, 3)) -> Path:
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij")
    data = 400 + 300 * np.cos(2 * np.pi * (grids[0] + 2 * grids[1])) * np.sin(2 * np.pi * grids[2] + seed)
    data = np.abs(data + rng.normal(0, 10, shape)).astype(np.float32)
    affine = np.diag([0.9, 1.1, 3.0, 1.0])
    affine[:3, 3] = [10.0, -20.0, 5.0]
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("mri_train")
    for seed in range(2):
        _volume(folder / f"v{seed}.nii.gz", seed)
    out = tmp_path_factory.mktemp("mri_runs")
    ckpt = api.train("mri", "r2d2", data=folder, output_dir=out, steps=2, overrides=TINY, device="cpu")
    return folder, Path(ckpt)


def test_train_then_restore_doubles_in_plane(trained, tmp_path):
    folder, ckpt = trained
    assert ckpt.is_file()
    src = _volume(tmp_path / "lr.nii.gz", 7, shape=(12, 10, 3))
    out = tmp_path / "sr.nii.gz"
    api.restore(src, plugin="mri", method="r2d2", output=out, overrides=[f"model.checkpoint={ckpt}", *TINY], device="cpu")
    image, source = nib.load(str(out)), nib.load(str(src))
    assert image.shape == (24, 20, 3)
    assert np.allclose(image.affine[:3, :2], source.affine[:3, :2] / 2)
    assert np.allclose(image.affine[:3, 2:], source.affine[:3, 2:])
    data, original = np.asarray(image.dataobj), np.asarray(source.dataobj)
    assert np.isfinite(data).all()
    assert data.min() >= original.min() - 1e-3 and data.max() <= original.max() + 1e-3
    assert abs(float(data.mean()) - float(original.mean())) < 0.25 * float(original.std())


def test_through_plane_factor_is_refused(trained, tmp_path):
    _, ckpt = trained
    src = _volume(tmp_path / "lr.nii.gz", 7, shape=(12, 10, 3))
    with pytest.raises(UsageError, match="in-plane only"):
        api.restore(src, plugin="mri", method="r2d2", output=tmp_path / "o.nii.gz", scale="2,2,2",
                    overrides=[f"model.checkpoint={ckpt}", *TINY], device="cpu")


def test_missing_checkpoint_is_one_clear_error(tmp_path, capsys):
    src = _volume(tmp_path / "lr.nii.gz", 7, shape=(12, 10, 3))
    out = tmp_path / "o.nii.gz"
    missing = tmp_path / "nowhere" / "r2d2.safetensors"
    assert main(["--quiet", "--plugin", "mri", "--method", "r2d2", str(src), "-o", str(out), f"model.checkpoint={missing}"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert not out.exists()
