"""DisC-Diff (``--method disc-diff``): streams, disentanglement loss, curriculum, reference by affines, bad references."""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from restore_core.plugins import load_plugin
from restore_core.testing import tiny_overrides
from restore_core import api
from restore_core.cli import main
from restore_core.engine.training import TrainSettings
from restore_mri.disc_diff import DiscDiffMethod, detail_difficulty, disentanglement_loss, make_loss, paired_volumes
from restore_mri.plugin import CONFIG_DIR
from restore_mri.reference import reference_to_grid

TINY = tiny_overrides("model.denoiser.se_reduction=2", "train.curriculum.ramp_steps=4")


def tiny_cfg(*extra: str):
    cfg = OmegaConf.load(CONFIG_DIR / "disc-diff.yaml")
    cfg.method, cfg.seed = "disc-diff", 0
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist([*TINY, *extra]))


def tiny_model():
    """A tiny untrained model whose zero-initialised output layer is randomised (so outputs depend on inputs)."""
    torch.manual_seed(0)
    model = DiscDiffMethod().build_model(tiny_cfg(), 1).eval()
    for parameter in model.denoiser.unet.out.parameters():
        torch.nn.init.normal_(parameter, std=0.1)
    return model


SETTINGS = TrainSettings(1, 1e-3, 0.0, 0.9, 1.0, 1, 0.0, "charbonnier")


# -- the network ---------------------------------------------------------------------------
def test_each_input_has_its_own_encoder_stream_and_the_reference_changes_the_output():
    model = tiny_model()
    names = {n.split(".")[1] for n, _ in model.denoiser.named_parameters() if n.startswith(("lr_stream", "ref_stream"))}
    assert names == {"conv_in", "down_blocks"}
    x, up = torch.randn(1, 1, 16, 16), torch.randn(1, 1, 16, 16)
    t = torch.tensor([50])
    with torch.no_grad():
        a = model.denoiser(x, t, up, torch.zeros_like(x))
        b = model.denoiser(x, t, up, torch.randn_like(x))
    assert not torch.allclose(a, b)
    # each stream has its own weights: up(LR) reaches the LR stream's, the reference the reference stream's
    model.denoiser(x, t, up, torch.randn_like(x)).sum().backward()
    for stream in ("lr_stream", "ref_stream"):
        assert model.denoiser.get_submodule(stream)["conv_in"].conv.weight.grad.abs().sum() > 0


def test_bottleneck_splits_every_stream_into_shared_and_specific_parts():
    model = tiny_model()
    with torch.no_grad():
        out, shared, specific = model.denoiser.forward_with_parts(torch.randn(2, 1, 16, 16), torch.tensor([3, 70]), torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16))
    assert out.shape == (2, 1, 16, 16) and len(shared) == len(specific) == 3
    assert shared[0].shape == specific[0].shape == (2, 8, 8, 8)


# -- the loss ------------------------------------------------------------------------------
def test_disentanglement_loss_pulls_shared_together_and_pushes_specific_apart():
    a = torch.randn(2, 4, 3, 3)
    close = [a, a + 0.01, a - 0.01]
    far = [a, a + 1.0, a - 1.0]
    assert disentanglement_loss(close, far) < 1e-3
    assert disentanglement_loss(far, close) > 1e3


def test_training_loss_is_charbonnier_plus_the_disentanglement_term():
    model = tiny_model()
    batch = (torch.randn(2, 1, 8, 8), torch.randn(2, 1, 16, 16), {"ref": torch.randn(2, 1, 16, 16)})
    total, terms = make_loss(0.5, 0.0)(model, batch, torch.Generator().manual_seed(0), SETTINGS)
    assert total.item() == pytest.approx(terms["charbonnier"] + 0.5 * terms["disent"], rel=1e-5)
    without, terms0 = make_loss(0.0, 0.0)(model, batch, torch.Generator().manual_seed(0), SETTINGS)
    assert without.item() == pytest.approx(terms0["charbonnier"], rel=1e-5) and terms0["disent"] > 0


def test_reference_dropout_zeroes_the_reference_of_some_samples(monkeypatch):
    model = tiny_model()
    seen = []
    real = model.denoiser.forward_with_parts
    monkeypatch.setattr(model.denoiser, "forward_with_parts", lambda x, t, up, ref: seen.append(ref) or real(x, t, up, ref))
    batch = (torch.randn(64, 1, 4, 4), torch.randn(64, 1, 8, 8), {"ref": torch.rand(64, 1, 8, 8) + 1})
    make_loss(0.1, 0.5)(model, batch, torch.Generator().manual_seed(0), SETTINGS)
    zeroed = (seen[0].flatten(1).abs().sum(dim=1) == 0).sum().item()
    assert 16 < zeroed < 48


def test_curriculum_difficulty_is_the_detail_the_degradation_removed():
    hr = torch.zeros(2, 1, 16, 16)
    hr[1, 0, ::2] = 1.0  # stripes at the Nyquist frequency vanish in the LR
    lr = torch.nn.functional.avg_pool2d(hr, 2)
    score = detail_difficulty(lr, hr)
    assert score[1] > score[0] + 0.3


# -- the reference on the output grid ------------------------------------------------------
def test_a_reference_on_another_grid_is_resampled_by_the_affines():
    ref = np.random.default_rng(0).random((20, 20, 6)).astype(np.float32)
    identity = reference_to_grid(ref, np.eye(4), np.eye(4), ref.shape)
    assert identity.overlap == 1.0 and np.array_equal(identity.data, ref)
    shifted_grid = np.eye(4)
    shifted_grid[:3, 3] = [2.0, 3.0, 1.0]  # output voxel 0 sits at reference voxel (2, 3, 1)
    moved = reference_to_grid(ref, np.eye(4), shifted_grid, (10, 10, 4))
    assert np.allclose(moved.data, ref[2:12, 3:13, 1:5], atol=1e-6) and moved.overlap == 1.0
    half = reference_to_grid(ref, np.eye(4), np.diag([0.5, 0.5, 1.0, 1.0]), (40, 40, 6))
    assert np.allclose(half.data[::2, ::2], ref, atol=1e-6)
    far = np.eye(4)
    far[:3, 3] = [500.0, 0.0, 0.0]
    assert reference_to_grid(ref, np.eye(4), far, (10, 10, 4)).overlap == 0.0


# -- train -> restore, bad inputs ----------------------------------------------------------
def _pair(folder: Path, name: str, seed: int, shape=(24, 20, 3), affine=None) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij")
    anatomy = np.cos(2 * np.pi * (grids[0] + 2 * grids[1])) * np.sin(2 * np.pi * grids[2] + seed)
    affine = np.diag([1.0, 1.0, 3.0, 1.0]) if affine is None else affine
    t2 = (500 + 300 * anatomy + rng.normal(0, 5, shape)).astype(np.float32)
    t1 = (800 - 200 * anatomy + rng.normal(0, 5, shape)).astype(np.float32)
    paths = (folder / f"T2w_{name}.nii.gz", folder / f"T1w_{name}.nii.gz")
    for data, path in zip((t2, t1), paths):
        nib.save(nib.Nifti1Image(data, affine), str(path))
    return paths


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("disc_train")
    for seed in range(2):
        _pair(folder, f"{seed:03d}", seed)
    out = tmp_path_factory.mktemp("disc_runs")
    return Path(api.train("mri", "disc-diff", data=folder, output_dir=out, steps=2, overrides=TINY, device="cpu"))


def _lr_and_ref(tmp_path: Path) -> tuple[Path, Path]:
    t2, t1 = _pair(tmp_path, "x", 9)
    image = nib.load(str(t2))
    lr_affine = image.affine @ np.diag([2.0, 2.0, 1.0, 1.0])
    lr = tmp_path / "t2_lr.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj)[::2, ::2], lr_affine), str(lr))
    return lr, t1


def test_training_pairs_the_contrasts_by_name(tmp_path):
    _pair(tmp_path, "a", 0)
    _pair(tmp_path, "b", 1)
    (tmp_path / "T2w_lonely.nii.gz").write_bytes((tmp_path / "T2w_a.nii.gz").read_bytes())
    assert [(t.name, r.name) for t, r in paired_volumes(tmp_path, "T2w", "T1w")] == [("T2w_a.nii.gz", "T1w_a.nii.gz"), ("T2w_b.nii.gz", "T1w_b.nii.gz")]


def test_training_images_pair_each_target_slice_with_the_same_reference_slice(tmp_path):
    t2_path, t1_path = _pair(tmp_path, "a", 0, shape=(24, 20, 5))
    images = DiscDiffMethod().training_images(tmp_path, tiny_cfg())
    assert len(images) == 5 and all(im.shape == (2, 24, 20) for im in images)
    t2, t1 = (np.asarray(nib.load(str(p)).dataobj, dtype=np.float32) for p in (t2_path, t1_path))
    for z, image in enumerate(images):  # channel 0 is the target's slice z, channel 1 the reference's, each normalised
        assert np.corrcoef(image[0].numpy().ravel(), t2[..., z].ravel())[0, 1] > 0.999
        assert np.corrcoef(image[1].numpy().ravel(), t1[..., z].ravel())[0, 1] > 0.999


def test_train_then_restore_with_a_reference(trained, tmp_path):
    lr, t1 = _lr_and_ref(tmp_path)
    out = tmp_path / "sr.nii.gz"
    api.restore(lr, plugin="mri", method="disc-diff", output=out, ref=t1, overrides=[f"model.checkpoint={trained}", *TINY], device="cpu")
    image = nib.load(str(out))
    assert image.shape == (24, 20, 3)
    assert np.allclose(image.affine, nib.load(str(t1)).affine)
    assert np.isfinite(np.asarray(image.dataobj)).all()


def test_the_reference_steers_the_result(trained, tmp_path):
    lr, t1 = _lr_and_ref(tmp_path)
    method = DiscDiffMethod()
    cfg = tiny_cfg(f"model.checkpoint={trained}", "consistency.lam=0")
    from restore_core.context import RunContext
    from restore_mri.nifti import read_nifti

    sample = read_nifti(lr)
    reference = np.asarray(nib.load(str(t1)).dataobj, dtype=np.float32)
    context = RunContext(quiet=True, log=lambda m: None)
    with_ref = method.restore_with_reference(sample, reference, 2, (2.0, 2.0), cfg, context).data
    without = method.restore_with_reference(sample, None, 2, (2.0, 2.0), cfg, context).data
    assert not np.allclose(with_ref, without)


def test_without_a_reference_disc_diff_says_what_to_do(trained, tmp_path, capsys):
    lr, _ = _lr_and_ref(tmp_path)
    out = tmp_path / "o.nii.gz"
    assert main(["--quiet", "--plugin", "mri", "--method", "disc-diff", str(lr), "-o", str(out), f"model.checkpoint={trained}", *TINY]) == 2
    assert "--ref" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("problem", ["missing", "corrupt", "elsewhere", "series"])
def test_bad_references_are_one_clear_line(trained, tmp_path, capsys, problem):
    lr, t1 = _lr_and_ref(tmp_path)
    ref = tmp_path / f"ref_{problem}.nii.gz"
    if problem == "corrupt":
        ref.write_bytes(b"\x1f\x8b not really a nifti")
    elif problem == "elsewhere":
        affine = np.diag([1.0, 1.0, 3.0, 1.0])
        affine[:3, 3] = [1000.0, 0.0, 0.0]
        nib.save(nib.Nifti1Image(np.asarray(nib.load(str(t1)).dataobj), affine), str(ref))
    elif problem == "series":
        nib.save(nib.Nifti1Image(np.ones((24, 20, 3, 2), np.float32), np.diag([1.0, 1.0, 3.0, 1.0])), str(ref))
    out = tmp_path / "o.nii.gz"
    code = main(["--quiet", "--plugin", "mri", "--method", "disc-diff", str(lr), "--ref", str(ref), "-o", str(out), f"model.checkpoint={trained}", *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(ref) in err[0] and not out.exists()
    if problem == "elsewhere":
        assert "does not overlap" in err[0]
    if problem == "series":
        assert "one 3D volume" in err[0]


def test_default_method_is_r2d2_and_disc_diff_when_a_reference_is_given():

    registry = load_plugin("mri").registry
    assert registry.default_method() == "r2d2"
    assert registry.default_method(with_ref=True) == "disc-diff"
