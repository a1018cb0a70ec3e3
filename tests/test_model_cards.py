"""The shipped model cards tell the truth (no model runs; the cards, configs and docs/benchmarks.md are read).

* ``training_degradation`` is the one of the checkpoint's own training config (``train:``), not a
  fixed word, and names a function of the card's plugin that exists;
* the validation's degradation is the one the plugin evaluates with (its shipped ``eval.degradation``),
  measured with the shipped sampler/consistency settings it records;
* the validation scores are those docs/benchmarks.md reports for the same method and degradation, i.e.
  on the same normalisation (remote sensing: each crop's [min, max], not the uint16 peak);
* the weights are the ones the card describes (sha256), so re-making a card left them alone.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from restore_core.cli import main as restore_cli

REPO = Path(__file__).resolve().parents[1]
# training cards of the shipped checkpoints; exported priors (published layout, an "arch" card) are tested apart
CARDS = sorted(p for p in REPO.glob("plugins/*/restore_*/checkpoints/*.json") if "arch" not in json.loads(p.read_text(encoding="utf-8")))
BENCHMARKS = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
DEGRADATION_KEYS = ("degradation", "degradation_params", "detail_complement", "noise_sigma")
# how close a card's score must be to the benchmark's row (same code, same data: equal up to thread-count noise)
TOLERANCE = {"psnr": 0.05, "ssim": 0.002, "lpips": 0.005}
MRI_LR_LABEL = {"kspace": "×2 k-space", "kspace_rician": "×2 k-space + 5 % Rician"}


def _card(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _tables(section: str) -> list[dict[str, str]]:
    """Every row of every markdown table in one ``<!-- section -->`` of docs/benchmarks.md."""
    match = re.search(rf"<!-- {re.escape(section)}:start -->(.*?)<!-- {re.escape(section)}:end -->", BENCHMARKS, re.S)
    assert match, f"docs/benchmarks.md has no '{section}' section"
    rows, header = [], None
    for line in match.group(1).splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(cells) <= {"---"}:
            rows.append(dict(zip(header, cells)))
    return rows


def _row(section: str, **match: str) -> dict[str, str]:
    found = [row for row in _tables(section) if all(row.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"docs/benchmarks.md '{section}' should have one row {match}, has {len(found)}"
    return found[0]


def _shipped_config(plugin: str, method: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert restore_cli(["config", "--plugin", plugin, "--method", method, "show"]) in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def _resolve(dotted: str) -> Any:
    """The object a dotted name ``package.module.Class.attribute`` names."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for part in parts[split:]:
            owner = getattr(owner, part)
        return owner
    raise AssertionError(f"{dotted} names no importable module")


def _close(card_scores: dict[str, Any], row: dict[str, str], where: str) -> None:
    compared = [m for m in TOLERANCE if m in card_scores]
    assert {"psnr", "ssim"} <= set(compared), f"{where}: the card has no PSNR/SSIM"
    for metric in compared:
        benchmark = float(row[metric])
        assert abs(card_scores[metric] - benchmark) <= TOLERANCE[metric], (
            f"{where}: card {metric} {card_scores[metric]} but docs/benchmarks.md reports {benchmark}"
        )


def test_every_plugin_ships_cards() -> None:
    """The shipped conditional checkpoints have a card each (so the parametrised tests below are not vacuous)."""
    names = {(p.parents[2].name, p.stem) for p in CARDS}
    assert {("image", "sr3"), ("image", "srdiff"), ("mri", "r2d2"), ("mri", "disc-diff"),
            ("remote-sensing", "dmdc"), ("remote-sensing", "ddsr"),
            ("face", "face-estimator"), ("face", "diffbfr-irm-low"), ("face", "diffbfr-irm-high"),
            ("turbulence", "at-ddpm"), ("turbulence", "at-vardiff")} <= names


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.stem)
def test_training_degradation_is_the_training_configs(path: Path) -> None:
    """``training_degradation`` copies the degradation keys of the card's own ``config.train`` (and its init's)."""
    card = _card(path)
    stages = [(card["training_degradation"], card["config"])]
    if isinstance(card.get("init"), dict) and "config" in card["init"]:
        stages.append((card["training_degradation"]["init"], card["init"]["config"]))
    for recorded, config in stages:
        train = config["train"]
        expected = {key: train[key] for key in DEGRADATION_KEYS if key in train}
        assert expected, f"{path.name}: its training config names no degradation setting"
        assert recorded["settings"] == expected and recorded["scales"] == train["scales"]
        for key, value in expected.items():  # the prose states the actual values, not a generic name
            assert f"train.{key} = {json.dumps(value)}" in recorded["description"]
        # the card's own plugin package, or the core's degradations the plugin registers (area)
        assert recorded["function"].startswith((path.parents[1].name + ".", "restore_core.degradations."))
        assert callable(_resolve(recorded["function"]))


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.stem)
def test_validation_degradation_and_settings_are_the_shipped_ones(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The validation LR came from the plugin's eval.degradation, restored with the shipped sampler/consistency."""
    card = _card(path)
    shipped = _shipped_config(card["plugin"], card["method"], capsys)
    validation = card["validation"]
    assert validation["degradation"] == shipped["eval"]["degradation"]
    assert validation["shipped_config"] == {
        "sampler": shipped["sampler"]["name"], "steps": shipped["sampler"]["steps"],
        "consistency": (shipped.get("consistency") or {}).get("name"),
    }
    assert "data range 1" in validation["normalisation"], f"{path.name}: the card does not say how scores were scaled"
    scripts = [word for word in str(validation["benchmark"]).split() if word.endswith(".py")]
    assert scripts and (REPO / scripts[0]).is_file(), f"{path.name}: validation names no benchmark script"


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.stem)
def test_validation_scores_are_the_benchmarks(path: Path) -> None:
    """Each card's scores equal its plugin's rows in docs/benchmarks.md (same data, degradation and normalisation)."""
    card = _card(path)
    plugin, method, validation = card["plugin"], card["method"], card["validation"]
    if plugin == "face":  # a part of a face method: the method's rows of benchmarks/face_quality.py
        assert validation["rows"], f"{path.name}: no validation rows"
        for row in validation["rows"]:
            doc = _row("face-quality", photo=row["photo"], method=row["method"])
            where = f"{path.name} {row['method']} {row['photo']}"
            _close(row, {"psnr": doc["PSNR"], "ssim": doc["SSIM"], "lpips": doc["LPIPS"]}, where)
            _close({"psnr": row["face_psnr"], "ssim": row["face_ssim"], "lpips": row["face_lpips"]},
                   {"psnr": doc["face PSNR"], "ssim": doc["face SSIM"], "lpips": doc["face LPIPS"]}, f"{where} (faces)")
        assert {row["method"] for row in validation["rows"]} >= {method}, f"{path.name}: its method has no row"
        return
    if plugin == "turbulence":  # the rows of benchmarks/turbulence_quality.py --model ours (the eval degradation)
        assert validation["rows"], f"{path.name}: no validation rows"
        for row in validation["rows"]:
            doc = _row("turbulence-quality-ours", strength=row["strength"], input=row["input"], method=row["method"])
            _close(row, {"psnr": doc["PSNR"], "ssim": doc["SSIM"], "lpips": doc["LPIPS"]}, f"{path.name} {row['method']} {row['strength']} {row['input']}")
        assert {row["method"] for row in validation["rows"]} >= {method}, f"{path.name}: its method has no row"
        return
    if plugin == "mri" and "rows" in validation:  # DisC-Diff: the rows of benchmarks/mri_reference.py
        assert validation["degradation"] == "kspace"  # what mri_reference.py applies
        for row in validation["rows"]:
            _close(row, _row("mri-reference", method=row["method"]), f"{path.name} {row['method']}")
        return
    scales = [key for key in validation if re.fullmatch(r"x\d+", key)]
    assert scales, f"{path.name}: no per-scale validation"
    for key in scales:
        scores = validation[key]
        if plugin == "image":
            row = _row("image-quality", scale=f"×{key[1:]}", method=method)
            assert int(row["images"]) == len(scores["images"])
        elif plugin == "mri":
            row = _row("mri-quality", LR=MRI_LR_LABEL[validation["degradation"]], method=method)
            assert int(row["volumes"]) == len(scores["images"])
        else:
            assert plugin == "remote-sensing", f"{path.name}: no benchmark table known for plugin {plugin}"
            row = _row("rs-quality", LR=validation["degradation"], method=method)
            assert int(row["crops"]) == len(scores["images"])
            # against the uint16 peak the dark scene scores ~56 dB; the benchmark maps each crop's [min, max]
            assert scores["psnr"] < 45.0 and "[min, max]" in validation["normalisation"], (
                f"{path.name}: PSNR {scores['psnr']} dB is not on the benchmark's per-crop [min, max] scale")
        _close(scores, row, f"{path.name} {key}")


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.stem)
def test_card_describes_the_weights_beside_it(path: Path) -> None:
    """The .safetensors beside the card is the file the card's sha256 names (re-carding never rewrites weights)."""
    card = _card(path)
    weights = path.with_suffix(".safetensors")
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == card["sha256"]
    assert card["plugin"] == path.parents[2].name
    part = (card["config"].get("train") or {}).get("part")
    if card["plugin"] == "face":  # one network of a face method: the checkpoint its part's section names
        assert part and card["config"][part]["checkpoint"] == path.stem, f"{path.name}: not the checkpoint of part {part}"
    else:
        assert card["method"] == path.stem
