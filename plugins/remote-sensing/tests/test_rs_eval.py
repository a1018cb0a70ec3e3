"""`restore eval` on multi-band rasters (4 bands: R, G, B, NIR)."""
from __future__ import annotations

import json

import numpy as np

from restore_core.cli import main


def test_eval_scores_four_band_rasters(make_raster, tmp_path):
    folder = tmp_path / "val"
    folder.mkdir()
    y, x = np.mgrid[0:48, 0:48]
    data = np.stack([(1000 + 300 * np.sin((x + k) / 5) * np.cos(y / 7)) for k in range(4)]).astype(np.uint16)
    make_raster(folder / "scene.tif", data)
    out = tmp_path / "eval"
    assert main(["eval", "--plugin", "remote-sensing", "--data", str(folder), "--out", str(out), "--scale", "2", "--quiet"]) == 0
    rows = json.loads((out / "metrics.json").read_text())
    assert rows[0]["psnr"] > 20 and 0 < rows[0]["ssim"] <= 1
    assert (out / "scene_compare.png").is_file()
