"""Quality of the remote-sensing plugin's methods at ×4 on held-out Landsat 8 areas.

    nice -n 10 python benchmarks/rs_quality.py --data data/remote-sensing/val

Held-out data: the 192 × 192 RGB crops east of column 1536 of the Landsat 8
scene (scripts/make_rs_dataset.py; training used columns < 1504).  Two
degradations of every crop:

* ``area``: ×4 average pooling (the shipped DMDC config's DDNM operator);
* ``anisotropic blur``: a random anisotropic Gaussian kernel (σ1, σ2 ~
  U(0.2, 4), θ ~ U(0, π); seed = crop index) then ×4 bicubic downsampling, no
  noise: the blind-SR case DDSR is built for.

LR is rounded to uint16 and written as a GeoTIFF; each method restores the
folder through the plugin (`restore --plugin remote-sensing`, shipped configs,
mosaic.neighbours=false so crops stay independent).  PSNR/SSIM/LPIPS on RGB
after mapping the HR crop's own [min, max] to [0, 1] (the same map for the
output; uint16 peak-based PSNR would be inflated by the dark scene).  'M+X'
runs M with consistency.name=X.  Writes the "rs-quality" section of
docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from rasterio.transform import Affine
from report import markdown_table, update_section

from restore_core import api
from restore_core.metrics import LPIPSMetric, psnr, ssim
from restore_remote_sensing.degradations import AnisotropicGaussian

REPO = Path(__file__).resolve().parents[1]
SCALE = 4


def read(path: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as src:
        return src.read().astype(np.float32), src.profile


def degrade(hr: np.ndarray, kind: str, index: int) -> np.ndarray:
    tensor = torch.from_numpy(hr)[None]
    if kind == "area":
        lr = F.avg_pool2d(tensor, SCALE)
    else:
        family = AnisotropicGaussian(SCALE, kernel_size=21, sigma_min=0.2, sigma_max=4.0, noise_max=0.0, downsample="bicubic")
        lr = family.sample(tensor.double(), torch.Generator().manual_seed(index)).lr.float()
    return lr[0].numpy().round().clip(0, 65535).astype(np.uint16)


def write_lr(path: Path, lr: np.ndarray, profile: dict) -> None:
    out = {**profile, "height": lr.shape[1], "width": lr.shape[2], "transform": profile["transform"] @ Affine.scale(SCALE)}
    with rasterio.open(path, "w", **out) as dst:
        dst.write(lr)


def normalised(pred: np.ndarray, hr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output and HR crop mapped by the HR crop's own [min, max] to [0, 1] (what PSNR/SSIM/LPIPS see, data range 1)."""
    low, high = float(hr.min()), float(hr.max())
    return (pred - low) / (high - low), (hr - low) / (high - low)


def score(pred: np.ndarray, hr: np.ndarray, lpips: LPIPSMetric | None) -> dict[str, float]:
    """PSNR/SSIM (data range 1) and LPIPS (``lpips=None``: left out) after :func:`normalised`."""
    p, t = normalised(pred, hr)
    scores = {"psnr": psnr(p, t, 1.0), "ssim": ssim(p, t, 1.0, 2)}
    if lpips is not None:
        scores["lpips"] = lpips(np.clip(p, 0, 1), t)
    return scores


def beats(a: dict, b: dict) -> str:
    """Which of PSNR, SSIM (higher) and LPIPS (lower) row ``a`` wins against row ``b``."""
    wins = [m for m in ("psnr", "ssim") if a[m] > b[m]] + (["lpips"] if a["lpips"] < b["lpips"] else [])
    return "all three" if len(wins) == 3 else (", ".join(wins) or "none") + " only"


def verdicts(results: dict[str, dict[str, dict]]) -> str:
    """The issue's targets, stated from the tables."""
    lines = ["Targets (shipped configs):"]
    area, blur = results.get("area", {}), results.get("anisotropic blur", {})
    for method in ("dmdc", "ddsr"):
        if method in area and "bicubic" in area:
            lines.append(f"* ×4 area: {method} beats bicubic in {beats(area[method], area['bicubic'])}.")
    if "ddsr" in blur and "dmdc" in blur:
        lines.append(f"* anisotropic blur: ddsr beats dmdc in {beats(blur['ddsr'], blur['dmdc'])}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/remote-sensing/val")
    parser.add_argument("--methods", nargs="+", default=["bicubic", "dmdc", "ddsr"])
    parser.add_argument("--area-extra", nargs="*", default=["dmdc+null", "ddsr+ddnm"], help="extra rows of the area table")
    parser.add_argument("--blur-extra", nargs="*", default=["dmdc+null"], help="extra rows of the blur table")
    parser.add_argument("--lpips-weights", default=str(REPO.parent / "shared" / "metrics" / "lpips_alex.safetensors"))
    parser.add_argument("--out", default="runs/benchmarks/rs-quality")
    parser.add_argument("--limit", type=int, help="only the first N crops (a quick look; nothing is written to the docs)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="METHOD=PATH",
                        help="evaluate METHOD with this checkpoint instead of the shipped one (nothing is written to the docs)")
    parser.add_argument("--tables", nargs="+", default=["area", "anisotropic blur"], choices=["area", "anisotropic blur"])
    args = parser.parse_args()
    if any("=" not in item for item in args.checkpoint):
        parser.error("--checkpoint takes METHOD=PATH, e.g. ddsr=runs/rs-ddsr/model.safetensors")
    checkpoints = dict(item.split("=", 1) for item in args.checkpoint)
    lpips = LPIPSMetric(args.lpips_weights)
    files = sorted(Path(args.data).glob("*.tif"))[: args.limit]
    hrs = [read(f) for f in files]
    sections: list[str] = []
    results: dict[str, dict[str, dict]] = {}
    for kind, extra in (("area", args.area_extra), ("anisotropic blur", args.blur_extra)):
        if kind not in args.tables:
            continue
        folder = Path(args.out) / kind.replace(" ", "_") / "lr"
        folder.mkdir(parents=True, exist_ok=True)
        for index, (path, (hr, profile)) in enumerate(zip(files, hrs)):
            write_lr(folder / path.name, degrade(hr, kind, index), profile)
        rows = []
        for method in [*args.methods, *extra]:
            name, _, variant = method.partition("+")
            overrides = ["mosaic.neighbours=false", *([f"consistency.name={variant}"] if variant else [])]
            if name in checkpoints:
                overrides.append(f"model.checkpoint={checkpoints[name]}")
            began = time.time()
            written = api.restore(folder, plugin="remote-sensing", method=name, output=folder.parent / method, scale=SCALE, overrides=overrides)
            seconds = (time.time() - began) / len(written)
            scores = [score(read(out)[0], hr, lpips) for out, (hr, _) in zip(sorted(written), hrs)]
            label = f"{name} without consistency" if variant == "null" else f"{name} + {variant}" if variant else name
            rows.append({"LR": kind, "method": label, "crops": len(scores), "seconds": seconds,
                         **{m: statistics.mean(s[m] for s in scores) for m in ("psnr", "ssim", "lpips")}})
            print(rows[-1], flush=True)
        sections.append(markdown_table(rows, ["LR", "method", "crops", "psnr", "ssim", "lpips", "seconds"]))
        results[kind] = {row["method"]: row for row in rows}
    sections.append(verdicts(results))
    body = (
        f"Held-out: {len(files)} Landsat 8 RGB crops of 192² px east of column 1536 (training: west of 1504, plus other sources: docs/training.md). "
        "×4. Table 1: LR by ×4 area downsampling; table 2: LR by a random anisotropic Gaussian blur "
        "(σ ∈ [0.2, 4], seed = crop index) + ×4 bicubic downsampling. LR rounded to uint16. Shipped configs "
        "(DDIM: dmdc 2 steps, ddsr 5; DMDC with DDNM consistency for the area operator, DDSR without); 'without consistency' / "
        "'+ ddnm' rows switch that step. PSNR/SSIM/LPIPS on RGB mapped by each HR crop's [min, max] to [0, 1]; "
        "seconds per crop on this CPU.\n\n" + "\n\n".join(sections)
    )
    if args.limit or len(args.tables) < 2 or checkpoints:
        print(body)
        return
    update_section("rs-quality", "remote sensing: quality (×4)", body)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
