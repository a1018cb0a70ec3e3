"""Burst fusion: the fused frame's PSNR by registration strategy, on held-out images, both degradation models.

    .venv-test/bin/python benchmarks/turbulence_fusion.py --write

Rows: the reference (middle) frame, one registration to the reference (the plugin before 2026-12-08),
the plain temporal mean, and :func:`restore_turbulence.fusion.fuse` (two passes to the burst's mean
geometry). Held-out glymur crops of 128² (every 12th of data/images/val-glymur), moderate strength:
ours at D/r0 3 (noise 0.01, wind 0.7), warp_blur with tilt 1.4 px, correlation 10 px, blur 1.4 px.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from report import markdown_table, update_section

from restore_core.metrics.image_quality import psnr
from restore_turbulence.degradation import warp_blur_frames
from restore_turbulence.fusion import estimate_shifts, fourier_shift, fuse
from restore_turbulence.simulator import TurbulenceParams, simulate

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=REPO / "data" / "images" / "val-glymur")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = sorted(args.images.glob("*.png"))[::12]
    rows = []
    for model in ("ours", "warp_blur"):
        for count in (5, 16):
            scores: dict[str, list[float]] = {}
            for i, file in enumerate(files):
                image = np.asarray(Image.open(file).convert("RGB"), np.float32) / 255
                clean = torch.from_numpy(image[64:192, 64:192].transpose(2, 0, 1).copy())
                if model == "ours":
                    frames = simulate(clean, TurbulenceParams(d_r0=3.0, noise=0.01, wind=0.7), frames=count, seed=7 + i)
                else:
                    frames = warp_blur_frames(clean, count, 1.4, 10.0, 1.4, 0.01, torch.Generator().manual_seed(7 + i))
                middle = count // 2
                shifts = estimate_shifts(frames, frames[middle])
                shifts[shifts.abs().amax(dim=1) > 16] = 0.0
                candidates = {
                    "reference frame": frames[middle],
                    "registered to the reference": fourier_shift(frames, shifts).mean(dim=0),
                    "plain mean": frames.mean(dim=0),
                    "fuse (two passes, mean geometry)": fuse(frames, middle, max_shift=16)[1],
                }
                for name, estimate in candidates.items():
                    scores.setdefault(name, []).append(psnr(estimate.numpy(), clean.numpy(), 1.0))
            for name, values in scores.items():
                rows.append({"model": model, "frames": count, "fusion": name, "PSNR": float(np.mean(values))})
                print(rows[-1], flush=True)
    table = markdown_table(rows, ["model", "frames", "fusion", "PSNR"])
    print(table)
    if args.write:
        update_section("turbulence-fusion", "turbulence: burst fusion by registration strategy",
                       f"{len(files)} held-out glymur crops of 128², moderate strength (see the script's docstring). "
                       "PSNR of the fused frame against the clean crop.\n\n" + table)


if __name__ == "__main__":
    main()
