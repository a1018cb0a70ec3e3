"""Zero-shot restoration with the shipped unconditional priors against the baselines, on held-out data.

    python benchmarks/zero_shot.py --images data/images/val --mri data/mri/val

Image plugin: ×4 area downsampling of centre crops (``--image-size``) of the held-out photographs
(astronaut, coffee; scripts/make_image_dataset.py), restored by bicubic, the conditional srdiff, and
the zero-shot presets ddnm, ddnm+, ilvr, dps, ccdf with the shipped image prior
(``prior-image``, guided-diffusion layout, trained here: docs/training.md).  MRI plugin: ×2 in-plane
k-space truncation of the held-out simulated slab, restored by sinc (zero-filled k-space), the
conditional r2d2 and the zero-shot r2d2-zs (R2D2+ as published) with the shipped MRI prior.
Each run is ``restore eval`` in a fresh child process (PSNR/SSIM/LPIPS, seconds per file).
Writes the "zero-shot" section of docs/benchmarks.md (``--no-doc``: prints it only).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from report import markdown_table, update_section

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys
from restore_core.evaluation import evaluate
plugin, method, data, out, scale, overrides = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], json.loads(sys.argv[6])
rows = evaluate(plugin, method, data=data, output_dir=out, flags={"scale": scale, "device": "cpu"}, overrides=overrides)
print(json.dumps(rows))
"""
IMAGE_METHODS = ["bicubic", "srdiff", "ddnm", "ddnm+", "ilvr", "dps", "ccdf"]
MRI_METHODS = ["sinc", "r2d2", "r2d2-zs"]


def run(plugin: str, method: str, data: str, out: Path, scale: str, overrides: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, plugin, method, data, str(out), scale, json.dumps(overrides)], capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"{plugin}/{method}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'failed'}")
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    metrics = [m for m in ("psnr", "ssim", "lpips", "consistency_mse", "seconds") if m in rows[0]]
    return {"files": len(rows), **{m: statistics.mean(float(r[m]) for r in rows) for m in metrics}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default="data/images/val")
    parser.add_argument("--mri", default="data/mri/val")
    parser.add_argument("--image-size", type=int, default=128, help="centre crop of each held-out photograph (HR pixels)")
    parser.add_argument("--mri-size", type=int, default=96, help="centre crop of each held-out volume axis")
    parser.add_argument("--image-methods", nargs="+", default=IMAGE_METHODS)
    parser.add_argument("--mri-methods", nargs="+", default=MRI_METHODS)
    parser.add_argument("--lpips-weights", default=str(REPO.parent / "shared" / "metrics" / "lpips_alex.safetensors"))
    parser.add_argument("--out", default="runs/benchmarks/zero-shot")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    import os

    os.environ.setdefault("RESTORE_LPIPS_WEIGHTS", args.lpips_weights)
    summary = []
    for method in args.image_methods:
        overrides = [f"eval.max_size={args.image_size}", "eval.lpips=required"]
        row = run("image", method, args.images, Path(args.out) / f"image-{method}", "4", overrides)
        summary.append({"plugin": "image ×4 area", "method": method, **row})
        print(summary[-1], flush=True)
    for method in args.mri_methods:
        overrides = [f"eval.max_size={args.mri_size}", "eval.lpips=skip", "eval.degradation=kspace"]
        row = run("mri", method, args.mri, Path(args.out) / f"mri-{method}", "2", overrides)
        summary.append({"plugin": "mri ×2 k-space", "method": method, **row})
        print(summary[-1], flush=True)
    columns = ["plugin", "method", "files", "psnr", "ssim", "lpips", "consistency_mse", "seconds"]
    body = (
        f"Held-out data: photographs {', '.join(sorted(p.name for p in Path(args.images).iterdir()))} (centre crops of "
        f"{args.image_size}² px, LR = ×4 area downsampling, quantised to 8 bit); MRI: {', '.join(sorted(p.name for p in Path(args.mri).iterdir()))} "
        f"(centre crops of at most {args.mri_size} voxels per axis, LR = ×2 in-plane k-space truncation). Zero-shot methods "
        "(ddnm, ddnm+, ilvr, dps, ccdf, r2d2-zs) run the shipped unconditional priors (guided-diffusion layout, trained here: "
        "docs/training.md) with their presets (configs/<plugin>/<method>.yaml); srdiff and r2d2 are the conditional models. "
        "Means over files; PSNR/SSIM/LPIPS as `restore eval` computes them; seconds per file on this CPU.\n\n"
        + markdown_table(summary, [c for c in columns if any(c in row for row in summary)])
    )
    if args.no_doc:
        print(body)
    else:
        update_section("zero-shot", "Zero-shot restoration with unconditional priors", body)


if __name__ == "__main__":
    main()
