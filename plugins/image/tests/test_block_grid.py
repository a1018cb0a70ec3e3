"""No block grid: the shipped image models restore a smooth image without periodic edges.

A faint 4×4 grid showed on smooth areas of srdiff/sr3 outputs (issue "quality", item 4). Its causes,
measured with :func:`restore_core.metrics.grid_artefact.boundary_gradient_ratio` (mean |gradient|
across every 4th pixel boundary over the others; 1 = no grid) on this smooth image: DDNM's average-pool
pseudo-inverse is replication, so the last consistency correction is constant on 4×4 blocks (sr3 1.90,
resshift 1.45 at the block edges); the core now uses a smooth right inverse (``AveragePoolSR``,
``inverse="bicubic"``: sr3 1.02, resshift 0.98). Window seams (the in-memory tiler's Gaussian
blending) and the one-level Haar domain (2×2 blocks) are measured too.

The image: 128² RGB, a sum of slow sinusoids (about 2 grey levels per pixel), its ×4 area LR
restored with the shipped configs, seed 0, in 16² LR windows (4 of them, overlapping by 25 %) so that
window edges fall inside the image. Bounds: every phase of the 4-pixel period (pooling blocks, and
the Haar pairs at phases 0 and 2) and the window edges within [1/1.5, 1.5] — the smooth image itself
is at 1.00 and bicubic interpolation at 0.99-1.03.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restore_core import api
from restore_core.degradations import area_downsample
from restore_core.metrics.grid_artefact import boundary_gradient_ratio

SIZE, SCALE, TILE = 128, 4, 16
BOUND = 1.5


def smooth_image() -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    return np.stack([
        128 + 60 * np.sin(2 * np.pi * (0.7 * x + 0.3 * y) + c) + 20 * np.cos(2 * np.pi * 1.3 * y + 2 * c) for c in (0, 1, 2)
    ]).astype(np.float32)


def window_edges() -> list[int]:
    """HR positions of the in-memory tiler's window edges (MONAI's scan: stride = tile · (1 - overlap))."""
    lr_size, stride = SIZE // SCALE, int(TILE * 0.75)
    starts = sorted({*range(0, lr_size - TILE + 1, stride), lr_size - TILE})
    return sorted({e for s in starts for e in (s * SCALE, (s + TILE) * SCALE) if 0 < e < SIZE})


@pytest.fixture(scope="module")
def lr_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lr = area_downsample(SCALE)(torch.from_numpy(smooth_image())[None])[0].numpy()
    path = tmp_path_factory.mktemp("block_grid") / "smooth_lr.png"
    Image.fromarray(np.clip(np.rint(lr), 0, 255).astype(np.uint8).transpose(1, 2, 0)).save(path)
    return path


def restored(lr_file: Path, method: str, *overrides: str) -> np.ndarray:
    out = api.restore(lr_file, plugin="image", method=method, output=lr_file.with_name(f"{method}.png"), scale=SCALE,
                      seed=0, device="cpu", overrides=[f"tiling.tile={TILE}", *overrides])[0]
    return np.asarray(Image.open(out).convert("RGB")).transpose(2, 0, 1).astype(np.float64)


def ratios(image: np.ndarray) -> dict[str, float]:
    found = {f"phase {p} of 4": boundary_gradient_ratio(image, SCALE, offset=p) for p in range(SCALE)}
    found["window edges"] = boundary_gradient_ratio(image, positions=window_edges())
    return found


def test_the_smooth_image_and_bicubic_have_no_grid(lr_file: Path) -> None:
    for label, value in {**ratios(smooth_image()), **ratios(restored(lr_file, "bicubic"))}.items():
        assert 1 / 1.1 < value < 1.1, label


@pytest.mark.parametrize("method", ["srdiff", "sr3", "resshift"])
def test_shipped_models_draw_no_block_grid(lr_file: Path, method: str) -> None:
    found = ratios(restored(lr_file, method))
    bad = {k: round(v, 3) for k, v in found.items() if not 1 / BOUND < v < BOUND}
    assert not bad, f"{method}: gradient ratios outside [1/{BOUND}, {BOUND}]: {bad}"


def test_the_replicating_pseudo_inverse_would_draw_one(lr_file: Path) -> None:
    """The check has teeth: DDNM with the replicating pseudo-inverse (``inverse=nearest``) draws the grid on sr3."""
    found = ratios(restored(lr_file, "sr3", "consistency.operator_params.inverse=nearest"))
    assert found["phase 0 of 4"] > BOUND
