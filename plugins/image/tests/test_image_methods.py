"""SR3/SRDiff on images end to end: train (tiny), resume, restore, evaluate."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restore_core import api
from restore_core.cli import main
from restore_core.engine.checkpoint import load_checkpoint, save_checkpoint
from restore_core.testing import tiny_overrides

TINY = tiny_overrides(encoder=True)


def tiny(method: str) -> list[str]:
    return [o for o in TINY if method == "srdiff" or not o.startswith("model.encoder")]


@pytest.fixture(scope="module")
def train_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:48]
    for index in range(2):
        smooth = np.stack([np.sin(x / (5 + index)), np.cos(y / 4), np.sin((x + y) / 7)], -1)
        image = (127 + 100 * smooth + rng.normal(0, 10, smooth.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"t{index}.png")
    return folder


@pytest.fixture(scope="module")
def checkpoints(train_folder, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("runs")
    return {
        method: api.train("image", method, data=train_folder, output_dir=out / method, overrides=tiny(method), steps=4, device="cpu")
        for method in ("sr3", "srdiff")
    }


def test_training_writes_a_safetensors_checkpoint_with_a_model_card(checkpoints):
    for method, path in checkpoints.items():
        assert path.suffix == ".safetensors" and path.is_file()
        modules, card = load_checkpoint(path)
        assert set(modules) == {"model"}
        assert card["steps"] == 4 and card["method"] == method
        assert card["config"]["model"]["space"] == ("pixel" if method == "sr3" else "residual")
        assert card["code_version"] and card["data"]["path"]
        assert json.loads(path.with_suffix(".json").read_text())["sha256"]


def test_resume_continues_bit_for_bit(train_folder, checkpoints, tmp_path):
    resumed = tmp_path / "resumed"
    api.train("image", "sr3", data=train_folder, output_dir=resumed, overrides=tiny("sr3"), steps=2, device="cpu")
    final = api.train("image", "sr3", data=train_folder, output_dir=resumed, overrides=tiny("sr3"), steps=4, device="cpu")
    reference, _ = load_checkpoint(checkpoints["sr3"])
    continued, _ = load_checkpoint(final)
    for key, tensor in reference["model"].items():
        assert torch.equal(tensor, continued["model"][key]), key


@pytest.mark.parametrize("method", ["sr3", "srdiff"])
def test_restore_with_a_checkpoint_is_reproducible(method, checkpoints, tmp_path, capsys):
    src = tmp_path / "lr.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (10, 12, 4), dtype=np.uint8)).save(src)
    outs = []
    for name in ("a.png", "b.png"):
        args = ["--plugin", "image", "--method", method, str(src), "-o", str(tmp_path / name), "--scale", "2",
                "--seed", "7", "--quiet", f"model.checkpoint={checkpoints[method]}", *tiny(method)]
        assert main(args) == 0, capsys.readouterr().err
        outs.append(np.asarray(Image.open(tmp_path / name)))
    assert outs[0].shape == (20, 24, 4) and outs[0].dtype == np.uint8
    np.testing.assert_array_equal(outs[0], outs[1])


def test_tiled_restore_runs_in_windows(checkpoints, tmp_path):
    src = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(4).integers(0, 255, (12, 40, 3), dtype=np.uint8)).save(src)
    written = api.restore(src, plugin="image", method="sr3", scale=2, output=tmp_path / "wide_x2.png",
                          overrides=[f"model.checkpoint={checkpoints['sr3']}", "tiling.tile=16", *tiny("sr3")])
    assert np.asarray(Image.open(written[0])).shape == (24, 80, 3)


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    src = tmp_path / "lr.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src)
    assert main(["--plugin", "image", "--method", "sr3", str(src), "model.checkpoint=/nonexistent/x.safetensors"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert not (tmp_path / "lr_restored.png").exists()


def test_eval_writes_metrics_and_comparisons(checkpoints, train_folder, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", "--plugin", "image", "--method", "srdiff", "--data", str(train_folder), "--out", str(out),
                 "--scale", "2", "--quiet", "eval.lpips=skip", f"model.checkpoint={checkpoints['srdiff']}", *tiny("srdiff")]) == 0
    rows = json.loads((out / "metrics.json").read_text())
    assert len(rows) == 2 and {"psnr", "ssim", "consistency_mse"} <= set(rows[0])
    assert (out / "metrics.csv").is_file() and (out / "t0_compare.png").is_file()


def test_eval_of_bicubic_matches_a_direct_computation(train_folder, tmp_path):
    from restore_core.evaluation import evaluate
    import torch.nn.functional as F

    rows = evaluate("image", "bicubic", data=train_folder, output_dir=tmp_path, flags={"scale": 2}, overrides=["eval.lpips=skip"])
    hr = np.asarray(Image.open(train_folder / "t0.png")).astype(np.float32)
    t = torch.from_numpy(hr).permute(2, 0, 1)[None]
    lr = F.avg_pool2d(t, 2).round()
    up = F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False, antialias=True).clamp(0, 255).round()
    mse = float(((up - t) ** 2).mean()) / 255**2
    assert rows[0]["psnr"] == pytest.approx(10 * np.log10(1 / mse), abs=0.05)


def test_ddnm_makes_the_restored_image_consistent_with_its_input(checkpoints, tmp_path):
    import tifffile

    src = tmp_path / "lr.tif"
    lr = np.random.default_rng(5).uniform(0.2, 0.8, (8, 8, 3)).astype(np.float32)
    tifffile.imwrite(src, lr, photometric="rgb")
    out = api.restore(src, plugin="image", method="srdiff", scale=4, output=tmp_path / "hr.tif",
                      overrides=[f"model.checkpoint={checkpoints['srdiff']}", "consistency.name=ddnm", *tiny("srdiff")])[0]
    hr = tifffile.imread(out)
    assert hr.dtype == np.float32 and hr.shape == (32, 32, 3)
    pooled = hr.reshape(8, 4, 8, 4, 3).mean(axis=(1, 3))
    # exact wherever no output pixel was clipped to the valid range [0, 1] (the smooth right inverse may
    # overshoot on this random, far from natural, input)
    clipped = ((hr <= 0) | (hr >= 1)).reshape(8, 4, 8, 4, 3).any(axis=(1, 3))
    assert clipped.mean() < 0.05
    np.testing.assert_allclose(pooled[~clipped], lr[~clipped], atol=1e-5)


def test_fine_tuning_starts_from_init_and_trains_only_the_named_modules(train_folder, checkpoints, tmp_path):
    start, _ = load_checkpoint(checkpoints["srdiff"])
    tuned = api.train(
        "image", "srdiff", data=train_folder, output_dir=tmp_path / "tuned", steps=2, device="cpu",
        overrides=[*tiny("srdiff"), f"train.init={checkpoints['srdiff']}", "train.trainable=encoder", "train.ema_decay=0.0"],
    )
    weights, card = load_checkpoint(tuned)
    init_card = json.loads(checkpoints["srdiff"].with_suffix(".json").read_text())
    assert card["init"]["path"] == str(checkpoints["srdiff"]) and card["init"]["sha256"] == init_card["sha256"]
    assert card["init"]["steps"] == 4 and card["init"]["config"]["model"] == init_card["config"]["model"]
    changed = {key for key, tensor in start["model"].items() if not torch.equal(tensor, weights["model"][key])}
    assert changed and all(key.startswith("encoder.") for key in changed)  # the denoiser kept the init weights


def test_fine_tuning_refuses_an_unknown_module_and_a_checkpoint_of_another_network(train_folder, checkpoints, tmp_path, capsys):
    base = ["train", "--plugin", "image", "--method", "srdiff", "--data", str(train_folder), "--steps", "1", "--device", "cpu", *tiny("srdiff")]
    assert main([*base, "--out", str(tmp_path / "a"), "train.trainable=[kernel_predictor]"]) == 2
    assert "train.trainable: 'kernel_predictor' names no parameters" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "b"), f"train.init={checkpoints['sr3']}"]) == 2
    err = capsys.readouterr().err  # another method's network: its stored config differs
    assert "train.init:" in err and "was trained with model." in err and len(err.strip().splitlines()) == 1
    alien = save_checkpoint(tmp_path / "alien.safetensors", {"model": {"weight": torch.zeros(3)}}, {})
    assert main([*base, "--out", str(tmp_path / "d"), f"train.init={alien}"]) == 2
    err = capsys.readouterr().err  # no stored config: the weights themselves must fit
    assert "train.init:" in err and "does not fit this method's network" in err and len(err.strip().splitlines()) == 1
    assert main([*base, "--out", str(tmp_path / "c"), f"train.init={checkpoints['srdiff']}", "model.prediction=epsilon"]) == 2
    err = capsys.readouterr().err
    assert "train.init:" in err and "model.prediction" in err and len(err.strip().splitlines()) == 1
    assert not any((tmp_path / d / "model.safetensors").exists() for d in "abcd")


def test_a_fine_tuning_run_resumes_only_with_the_same_trainable_modules(train_folder, checkpoints, tmp_path, capsys):
    out = tmp_path / "tuned"
    args = ["train", "--plugin", "image", "--method", "srdiff", "--data", str(train_folder), "--device", "cpu", "--out", str(out),
            *tiny("srdiff"), f"train.init={checkpoints['srdiff']}"]
    assert main([*args, "--steps", "2", "train.trainable=[encoder]"]) == 0
    assert main([*args, "--steps", "4", "train.trainable=[denoiser]"]) == 2
    assert "train.trainable" in capsys.readouterr().err
    assert main([*args, "--steps", "4", "train.trainable=[encoder]"]) == 0
    _, card = load_checkpoint(out / "model.safetensors")
    assert card["steps"] == 4 and card["init"]["path"] == str(checkpoints["srdiff"])
