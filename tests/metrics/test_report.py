"""evaluate_pair and write_results."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from restore_core.metrics import evaluate_pair, psnr, ssim, write_results


class RecordingLPIPS:
    """Stands in for LPIPSMetric: records what it was given."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, pred: torch.Tensor, target: torch.Tensor, spatial_dims: int, slice_axis: int) -> float:
        self.calls.append(
            {"max": float(max(pred.max(), target.max())), "dims": spatial_dims, "axis": slice_axis}
        )
        return 0.5


def test_evaluate_pair_scores_and_scales_lpips_input() -> None:
    rng = np.random.default_rng(0)
    target = rng.random((12, 12, 12)) * 1000.0
    pred = target + rng.normal(0, 10, target.shape)
    recorder = RecordingLPIPS()
    scores = evaluate_pair(pred, target, 1000.0, 3, lpips=recorder, lpips_slice_axis=2)  # type: ignore[arg-type]
    assert scores["psnr"] == pytest.approx(psnr(pred, target, 1000.0))
    assert scores["ssim"] == pytest.approx(ssim(pred, target, 1000.0, 3))
    assert scores["lpips"] == 0.5
    assert (
        recorder.calls[0]["max"] < 1.1 and recorder.calls[0]["dims"] == 3 and recorder.calls[0]["axis"] == 2
    )
    assert set(evaluate_pair(pred, target, 1000.0, 3)) == {"psnr", "ssim"}


def test_write_results_csv_and_json(tmp_path: Path) -> None:
    rows = [
        {"case": "a", "psnr": np.float32(30.5), "ssim": 0.9},
        {"case": "b", "psnr": float("inf"), "lpips": 0.1},
    ]
    write_results(rows, tmp_path / "out" / "r.csv", tmp_path / "out" / "r.json")
    with (tmp_path / "out" / "r.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == ["case", "psnr", "ssim", "lpips"]
    assert table[0]["lpips"] == "" and table[1]["ssim"] == ""
    assert float(table[0]["psnr"]) == 30.5
    loaded = json.loads((tmp_path / "out" / "r.json").read_text())
    assert loaded[0]["psnr"] == 30.5 and loaded[1]["psnr"] == "inf"
    write_results(rows, None, tmp_path / "only.json")
    assert not (tmp_path / "r.csv").exists()
