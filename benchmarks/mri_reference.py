"""DisC-Diff with the T1 reference vs the same network without it, on held-out T2 volumes.

    python benchmarks/mri_reference.py --data data/mri/val-pairs --max-size 128

For each ``T2w_<id>`` volume with its ``T1w_<id>`` partner (same grid, simulated
from the held-out slab z = 120–150), both centre-cropped alike, the T2 is
degraded by ×2 in-plane k-space truncation (the plugin's ``kspace``
degradation, as ``restore eval`` does) and restored by

* ``sinc``: zero-filled k-space (the baseline),
* ``disc-diff`` with the T1 reference,
* ``disc-diff`` without it (the same checkpoint, reference stream fed zeros:
  the network was trained with 20 % reference dropout for exactly this),

each in a fresh child process that reports PSNR/SSIM (slice-wise SSIM for thin
slabs), seconds and its own peak RSS.  ``--timing`` adds the seconds per
256×256 slice of disc-diff and r2d2 (measured on ``--timing-slices`` slices,
then scaled to a 256×256×64 volume).  Writes the "mri-reference" section of
docs/benchmarks.md; ``--json`` also writes the rows (ship_checkpoint.py reads them).
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
import dataclasses, json, resource, sys, time
import numpy as np, torch
from omegaconf import OmegaConf
from restore_core.api import prepare, make_context
from restore_core.evaluation import _crop, degradation_generator
from restore_core.metrics import evaluate_pair
from restore_mri.nifti import read_nifti
target_path, ref_path, mode, max_size, checkpoint, max_slices = sys.argv[1:7]
method = "sinc" if mode == "sinc" else "disc-diff"
overrides = [] if mode == "sinc" or checkpoint == "-" else [f"model.checkpoint={checkpoint}"]
record, cfg = prepare("mri", method, flags={"scale": 2, "device": "cpu", "quiet": True}, overrides=overrides)
registry = record.registry
context = make_context(cfg, registry=registry)
hr = _crop(read_nifti(target_path), (2,), int(max_size))
ref = _crop(read_nifti(ref_path), (2,), int(max_size))
if int(max_slices) and hr.data.shape[-1] > int(max_slices):  # the central slices (slices are restored independently)
    z0 = (hr.data.shape[-1] - int(max_slices)) // 2
    keep = slice(z0, z0 + int(max_slices))
    hr = dataclasses.replace(hr, data=np.ascontiguousarray(hr.data[..., keep]))
    ref = dataclasses.replace(ref, data=np.ascontiguousarray(ref.data[..., keep]))
degrade = registry.get("degradations", "kspace").factory(scale=2)
lr_data = degrade(torch.from_numpy(hr.data)[None], degradation_generator(cfg.seed, 0))[0].numpy()
lr = hr.resampled(lr_data)
method_obj = registry.get("methods", method).factory()
began = time.perf_counter()
if mode == "sinc":
    restored = method_obj.restore(lr, cfg, context)
else:
    reference = ref.data[0] if mode == "with-ref" else None
    restored = method_obj.restore_with_reference(lr, reference, 2, (2.0, 2.0), cfg, context)
seconds = time.perf_counter() - began
peak = float(np.max(hr.data))
scores = evaluate_pair(restored.data / peak, hr.data / peak, 1.0, 3)
print(json.dumps({**scores, "seconds": seconds, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

TIMING = """
import dataclasses, json, resource, sys, time
import numpy as np, torch
from restore_core.api import prepare, make_context
from restore_mri.disc_diff import sample_disc_diff
from restore_mri.r2d2 import sample_r2d2
method, slices, checkpoint = sys.argv[1], int(sys.argv[2]), sys.argv[3]
overrides = [f"model.checkpoint={checkpoint}"] if method == "disc-diff" and checkpoint != "-" else []
record, cfg = prepare("mri", method, flags={"scale": 2, "device": "cpu", "quiet": True}, overrides=overrides)
m = record.registry.get("methods", method).factory()
context = make_context(cfg, registry=record.registry)
loaded = m.load(cfg, 1, context)
model, plan = loaded.model, m.plan(cfg, loaded, context)
g = torch.Generator().manual_seed(0)
lr = torch.rand(slices, 1, 128, 128, generator=g) * 2 - 1
began = time.perf_counter()
with torch.no_grad():
    if method == "disc-diff":
        sample_disc_diff(model, plan, lr, torch.rand(slices, 1, 256, 256, generator=g) * 2 - 1, (2.0, 2.0), g, 1.0)
    else:
        sample_r2d2(model, plan, lr, (2.0, 2.0), g, sigma=0.05, lam=0.5)
seconds = time.perf_counter() - began
print(json.dumps({"seconds": seconds, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def child(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/mri/val-pairs")
    parser.add_argument("--max-size", type=int, default=128, help="centre-crop every axis to at most this")
    parser.add_argument("--max-slices", type=int, default=0, help="keep at most this many central slices (0: all)")
    parser.add_argument("--checkpoint", default="-", help="disc-diff checkpoint (default: the shipped one)")
    parser.add_argument("--timing", action="store_true", help="also time 256×256 slices of disc-diff and r2d2")
    parser.add_argument("--timing-slices", type=int, default=4)
    parser.add_argument("--json", help="also write the quality rows here")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    folder = Path(args.data)
    pairs = [(t, folder / t.name.replace("T2w_", "T1w_", 1)) for t in sorted(folder.glob("T2w_*.nii*"))]
    pairs = [(t, r) for t, r in pairs if r.is_file()]
    if not pairs:
        raise SystemExit(f"{folder}: no T2w_<id> / T1w_<id> pairs")
    table = []
    for label, mode in (("sinc (zero-filled k-space)", "sinc"), ("disc-diff, T1 reference", "with-ref"), ("disc-diff, no reference", "no-ref")):
        results = [child(CHILD, str(t), str(r), mode, str(args.max_size), args.checkpoint, str(args.max_slices)) for t, r in pairs]
        table.append({
            "method": label, "volumes": len(results),
            **{m: statistics.mean(r[m] for r in results) for m in ("psnr", "ssim", "seconds")},
            "peak RSS MB": round(max(r["peak_rss_kb"] for r in results) / 1024),
        })
        print(table[-1], flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))
    body = (
        f"Held-out pairs: {', '.join(t.name + ' + ' + r.name for t, r in pairs)} (simulated from the MNI152 tissue maps, "
        f"slab z = 120–150, kept out of training), centre-cropped to at most {args.max_size} voxels per axis"
        + (f" and the {args.max_slices} central slices" if args.max_slices else "") + "; the T2 is "
        "degraded by ×2 in-plane k-space truncation. PSNR/SSIM on intensities scaled by the volume's maximum; "
        "seconds and peak RSS of a fresh process on this CPU.\n\n"
        + markdown_table(table, ["method", "volumes", "psnr", "ssim", "seconds", "peak RSS MB"])
    )
    if args.timing:
        timing = []
        for method in ("r2d2", "disc-diff"):
            result = child(TIMING, method, str(args.timing_slices), args.checkpoint)
            per_slice = result["seconds"] / args.timing_slices
            timing.append({"method": method, "slices timed": args.timing_slices, "seconds per 256×256 slice": per_slice,
                           "seconds per 256×256×64 volume (×64)": per_slice * 64, "peak RSS MB": round(result["peak_rss_kb"] / 1024)})
            print(timing[-1], flush=True)
        body += (
            "\n\nTime at 256×256 (×2 from 128×128 slices, default sampler settings: r2d2 from its noisy-input start at "
            "sigma 0.05, disc-diff 20 DDIM steps from noise), one batch of slices timed and scaled to 64 slices "
            "(slices are independent, so a volume costs slices × this):\n\n"
            + markdown_table(timing, ["method", "slices timed", "seconds per 256×256 slice", "seconds per 256×256×64 volume (×64)", "peak RSS MB"])
        )
    if not args.no_doc:
        update_section("mri-reference", "MRI: DisC-Diff with vs without the reference", body)


if __name__ == "__main__":
    main()
