"""The defining ideas of the sampling path, each observed in what ``restore`` writes.

Every test runs the public path: a tiny model trained with ``api.train`` on
the image plugin, then ``api.restore`` on a float32 TIFF (so the output keeps
full precision), and looks for the idea's effect in the written file.  The
models have ``model.concat_lr=false`` and no encoder, and consistency is off:
the LR then reaches the output only through the start of the chain (or the
colour correction), so a start that ignores the LR shows at once.

Each docstring names the removal that was checked to make the test fail
(applied in a separate git worktree, this file run against it).
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
import torch.nn.functional as F
from PIL import Image

from restore_core import api
from restore_core.diffusion.schedules import cosine_schedule
from restore_core.engine.checkpoint import load_checkpoint, save_checkpoint
from tests.engine.tiny import DIFFUSION, overrides, sr3

SCALE = 2
RUNS = itertools.count()
# pixel-space SR3 whose only way to see the LR is the chain's start; no DDNM projection
COMMON = [*overrides(sr3()), "model.wavelet=false", "model.concat_lr=false", "consistency.name=null"]


def lr_image(pattern: int) -> np.ndarray:
    """A 12x12 RGB float image in [0, 1]: per-channel levels 0.3/0.5/0.7 plus a sinusoid chosen by ``pattern``."""
    y, x = np.mgrid[0:12, 0:12] / 12
    return np.stack(
        [level + 0.15 * np.sin(2 * np.pi * ((pattern + 1) * x + channel * y)) for channel, level in enumerate((0.3, 0.5, 0.7))], -1
    ).astype(np.float32)


def model_space(image: np.ndarray) -> np.ndarray:
    """[0, 1] float image -> the model's [-1, 1] (the image plugin's mapping of float images inside [0, 1])."""
    return image * 2.0 - 1.0


def up_lr(image: np.ndarray) -> np.ndarray:
    """up(LR) of SR3/SRDiff, computed here: bicubic ×2, in model space, (H, W, C)."""
    lr = torch.from_numpy(model_space(image)).permute(2, 0, 1)[None]
    return F.interpolate(lr, scale_factor=SCALE, mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()


def rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a))))


def centred_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two (H, W, C) images after removing each channel's mean (the levels alone do not count)."""
    a, b = a - a.mean((0, 1)), b - b.mean((0, 1))
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Inputs (two LR patterns as float32 TIFF) and two smooth 40x48 training photographs."""
    root = tmp_path_factory.mktemp("ideas")
    train = root / "train"
    train.mkdir()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:48]
    for index in range(2):
        smooth = np.stack([np.sin(x / (5 + index)), np.cos(y / 4), np.sin((x + y) / 7)], -1)
        Image.fromarray((127 + 100 * smooth + rng.normal(0, 10, smooth.shape)).clip(0, 255).astype(np.uint8)).save(train / f"t{index}.png")
    for pattern in range(2):
        tifffile.imwrite(root / f"lr{pattern}.tif", lr_image(pattern), photometric="rgb")
    return root


def train(folder: Path, name: str, prediction: str) -> Path:
    return api.train("image", "sr3", data=folder / "train", output_dir=folder / name,
                     overrides=[*COMMON, f"model.prediction={prediction}"], steps=4, device="cpu")


@pytest.fixture(scope="module")
def epsilon_model(folder) -> Path:
    """A 4-step noise-predicting model: its output is nearly zero, so x0 = (x_t - sqrt(1-ab) eps)/sqrt(ab) ~ x_t/sqrt(ab)."""
    return train(folder, "epsilon", "epsilon")


@pytest.fixture(scope="module")
def residual_shift_model(folder) -> Path:
    """A 4-step x0-predicting model whose card declares the residual-shifting process (kappa 0.1, 15 steps).

    The sr3 config has no ``diffusion.process`` key, so the checkpoint's own
    card says which process it was built for, as a shipped ResShift
    checkpoint does: the restore path builds the network from the card.  A
    small kappa keeps the start close to up(LR).  The weights were trained under the Gaussian
    process; the test needs only a network whose output depends on its input.
    """
    modules, card = load_checkpoint(train(folder, "x0", "sample"))
    card = {k: v for k, v in card.items() if k != "sha256"}
    card["config"]["diffusion"] = {"process": "residual_shift", "train_steps": 15, "kappa": 0.1}
    path = folder / "residual_shift.safetensors"
    save_checkpoint(path, modules, card)
    return path


def restored(folder: Path, checkpoint: Path, pattern: int, *extra: str) -> np.ndarray:
    """``restore`` the LR pattern ×2 with ``checkpoint``; the output in model space, (H, W, C)."""
    out = folder / f"out{next(RUNS)}.tif"
    api.restore(folder / f"lr{pattern}.tif", plugin="image", method="sr3", output=out, scale=SCALE,
                overrides=[f"model.checkpoint={checkpoint}", *COMMON, *extra], device="cpu")
    result = tifffile.imread(out)
    assert result.dtype == np.float32 and result.shape == (24, 24, 3)
    return model_space(result)


def test_truncated_start_forward_diffuses_up_lr_to_t0(folder, epsilon_model):
    """Pins the truncated start of CCDF/DifFace (``start.mode=truncated``, ``start.t0_fraction``).

    The chain starts at x_t0 = sqrt(ab) up(LR) + sqrt(1 - ab) n with
    t0 = fraction * train_steps; with a near-zero noise prediction the DDIM
    chain returns x_t0/sqrt(ab), so the output lies around up(LR) with RMS
    sqrt((1 - ab_t0)/ab_t0): 0.058 at t0 = 2, 0.35 at t0 = 20 (cosine
    schedule, 100 steps).  From pure noise (``start.mode=noise``) the
    output is unrelated to up(LR).  Checked to fail when the sampling plan (``run_plan``; then ``sample_sr``)'s
    truncated branch starts from pure noise at t0 (``torch.randn`` of the
    estimate's shape), when it falls through to ``start_from_noise``, and
    when ``start_truncated`` returns its noise instead of ``q_sample``.
    """
    alphas_cumprod = cosine_schedule(DIFFUSION["train_steps"]).alphas_cumprod
    reference = up_lr(lr_image(0))
    for fraction in (0.02, 0.2):
        out = restored(folder, epsilon_model, 0, "start.mode=truncated", f"start.t0_fraction={fraction}")
        t0 = int(fraction * DIFFUSION["train_steps"])
        predicted = float(((1 - alphas_cumprod[t0]) / alphas_cumprod[t0]).sqrt())
        assert rms(out - reference) == pytest.approx(predicted, rel=0.25), fraction
    from_noise = rms(restored(folder, epsilon_model, 0, "start.mode=noise") - reference)
    assert from_noise > 0.5


def test_colour_correction_matches_the_inputs_channel_statistics(folder, epsilon_model):
    """Pins the colour correction (``colour_correction=true``, survey eq. 47).

    The output's per-channel mean and std (model space) equal the LR input's,
    to the [-1, 1] clamp; without it they are the chain's own (near 0 and 1
    here, from a 4-step model started from noise).  Checked to fail when
    ``match_mean_std`` is taken out of the sampling plan (``run_plan``; then ``sample_sr``).
    """
    lr = model_space(lr_image(0))
    corrected = restored(folder, epsilon_model, 0, "start.mode=noise", "colour_correction=true")
    assert np.allclose(corrected.mean((0, 1)), lr.mean((0, 1)), atol=0.01)
    assert np.allclose(corrected.std((0, 1)), lr.std((0, 1)), atol=0.01)
    plain = restored(folder, epsilon_model, 0, "start.mode=noise", "colour_correction=false")
    assert np.abs(plain.std((0, 1)) - lr.std((0, 1))).min() > 0.3


def test_residual_shift_chain_starts_from_up_lr(folder, residual_shift_model):
    """Pins ResShift's start x_T = up(LR) + kappa sqrt(eta_T) n (Yue et al. 2023, sec. 2.2).

    With no LR concatenation, no encoder and no consistency, up(LR) reaches
    the network only through that start, so each output follows its own
    input's pattern (centred correlation with its up(LR) ~0.4) and not the
    other input's.  Checked to fail when the sampling plan (``run_plan``; then ``sample_sr``) calls
    ``start_from_noise`` instead of ``start_residual_shift``, and when
    ``start_residual_shift`` returns ``kappa sqrt(eta_T) n`` without up(LR):
    the two outputs are then the same image.
    """
    outputs = [restored(folder, residual_shift_model, pattern) for pattern in range(2)]
    for own in range(2):
        mine = centred_correlation(outputs[own], up_lr(lr_image(own)))
        other = centred_correlation(outputs[own], up_lr(lr_image(1 - own)))
        assert mine > 0.25 and mine - other > 0.25, (own, mine, other)
