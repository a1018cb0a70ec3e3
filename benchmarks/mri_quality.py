"""MRI plugin quality, time and memory on simulated volumes kept out of training.

    python benchmarks/mri_quality.py --data data/mri/val --max-size 128

For each degradation (``kspace``: in-plane ×2 k-space truncation; ``kspace_rician``:
the same plus 5 % Rician noise at the low resolution) and each method (``sinc``:
zero-filled k-space, the baseline; ``r2d2``: R2D2+ with the shipped checkpoint),
``restore eval`` runs in a fresh child process that reports PSNR/SSIM (3D; slice-wise
for slabs thinner than the SSIM window), seconds per volume and its own peak RSS.
Writes the "mri-quality" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from report import markdown_table, update_section

CHILD = """
import json, resource, sys
from restore_core.evaluation import evaluate
data, out, method, degradation, max_size = sys.argv[1:6]
rows = evaluate("mri", method, data=data, output_dir=out, flags={"scale": 2, "device": "cpu"},
                overrides=[f"eval.degradation={degradation}", f"eval.max_size={max_size}", "eval.lpips=skip"])
print(json.dumps({"rows": rows, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/mri/val")
    parser.add_argument("--max-size", type=int, default=128, help="centre-crop every axis to at most this")
    parser.add_argument("--methods", nargs="+", default=["sinc", "r2d2"])
    parser.add_argument("--degradations", nargs="+", default=["kspace", "kspace_rician"])
    parser.add_argument("--out", default="runs/benchmarks/mri-quality")
    args = parser.parse_args()
    table = []
    for degradation in args.degradations:
        for method in args.methods:
            out = Path(args.out) / f"{method}-{degradation}"
            done = subprocess.run([sys.executable, "-c", CHILD, args.data, str(out), method, degradation, str(args.max_size)],
                                  capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rows = result["rows"]
            table.append({
                "LR": "×2 k-space" + (" + 5 % Rician" if degradation == "kspace_rician" else ""),
                "method": method, "volumes": len(rows),
                **{m: statistics.mean(r[m] for r in rows) for m in ("psnr", "ssim", "consistency_mse", "seconds")},
                "peak RSS MB": round(result["peak_rss_kb"] / 1024),
            })
            print(table[-1], flush=True)
    volumes = ", ".join(sorted(p.name for p in Path(args.data).iterdir()))
    body = (
        f"Held-out volumes: {volumes} (simulated T2w from the MNI152 tissue maps, slab z = 120–150, kept out of "
        f"training), centre-cropped to at most {args.max_size} voxels per axis; ×2 in-plane. PSNR/SSIM on intensities "
        "scaled by the volume's maximum; consistency = MSE between the LR input and the re-degraded output; "
        "seconds and peak RSS per volume of a fresh process on this CPU.\n\n"
        + markdown_table(table, ["LR", "method", "volumes", "psnr", "ssim", "consistency_mse", "seconds", "peak RSS MB"])
    )
    update_section("mri-quality", "MRI quality (mri plugin)", body)


if __name__ == "__main__":
    main()
