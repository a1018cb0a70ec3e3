"""ResShift (`--method resshift`): its shipped checkpoint, its short chain and its 4-step setting.

Everything runs through public entry points: the CLI, `restore_core.evaluation.evaluate`.
The held-out crop comes from samples/image/astronaut_hr.png (astronaut is kept out of training).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from restore_core.cli import main as restore_cli
from restore_core.evaluation import evaluate

REPO = Path(__file__).resolve().parents[3]
CARD = REPO / "plugins" / "image" / "restore_image" / "checkpoints" / "resshift.json"


def _cli_output(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert restore_cli(args) in (0, None)
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The centre 128×128 of the shipped astronaut sample (LR: its ×4 area average, 32×32)."""
    folder = tmp_path_factory.mktemp("held-out")
    hr = np.asarray(Image.open(REPO / "samples" / "image" / "astronaut_hr.png").convert("RGB"))[64:192, 64:192]
    Image.fromarray(hr).save(folder / "astronaut_centre.png")
    return folder


def _psnr(method: str, data: Path, out: Path, steps: int | None = None) -> float:
    flags = {"scale": 4, "device": "cpu", **({"sampler.steps": steps} if steps else {})}
    rows = evaluate("image", method, data=data, output_dir=out, flags=flags, overrides=["eval.lpips=skip"])
    assert len(rows) == 1
    return float(rows[0]["psnr"])


def test_plugins_json_lists_resshift(capsys: pytest.CaptureFixture[str]) -> None:
    """`restore plugins --json` lists resshift among the image plugin's methods."""
    plugins = json.loads(_cli_output(["plugins", "--json"], capsys))
    image = next(p for p in plugins if p["name"] == "image")
    assert "resshift" in image["methods"] and image["status"] == "ok"


def test_shipped_config_is_a_short_residual_shifting_chain(capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped config runs ResShift's chain (T = 15, kappa = 2, p = 0.3) with at most 15 sampler steps,
    and the shipped card is the float16 checkpoint trained with that same chain."""
    shipped = yaml.safe_load(_cli_output(["config", "--plugin", "image", "--method", "resshift", "show"], capsys))
    diffusion = shipped["diffusion"]
    assert diffusion["process"] == "residual_shift" and diffusion["train_steps"] <= 15
    assert (diffusion["kappa"], diffusion["p"]) == (2.0, 0.3)
    assert shipped["sampler"]["steps"] <= 15  # the engine samples a residual_shift model with the chain's own sampler
    assert shipped["model"]["prediction"] == "sample" and shipped["model"]["space"] == "pixel"
    card = json.loads(CARD.read_text())
    assert card["method"] == "resshift" and card["stored_dtype"] == "float16"
    assert card["config"]["diffusion"] == {k: diffusion[k] for k in card["config"]["diffusion"]}
    assert set(card["validation"]) >= {"x2", "x4"}


def test_shipped_resshift_beats_bicubic_on_a_held_out_crop(held_out: Path, tmp_path: Path) -> None:
    """×4 on a held-out 128² crop: the default 15-step chain and the same checkpoint respaced to 4 steps
    both score a higher PSNR than bicubic, and the 4-step run is a different sample (the override took)."""
    bicubic = _psnr("bicubic", held_out, tmp_path / "bicubic")
    full = _psnr("resshift", held_out, tmp_path / "full")
    short = _psnr("resshift", held_out, tmp_path / "short", steps=4)
    assert full > bicubic + 0.2, (full, bicubic)
    assert short > bicubic + 0.2, (short, bicubic)
    assert full != short
