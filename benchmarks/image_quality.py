"""Quality of the image plugin's methods against bicubic on held-out images.

    python benchmarks/image_quality.py --data data/images/val --scales 2 4

The validation images (astronaut, coffee) are kept out of training
(scripts/make_image_dataset.py). LR = ×s area downsampling of a centre crop
(eval.max_size). LPIPS uses the offline AlexNet weights in ../shared/metrics.
Writes the "image-quality" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from report import markdown_table, update_section

from restore_core.evaluation import evaluate

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/images/val")
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--methods", nargs="+",
                        default=["bicubic", "sr3", "sr3+null", "srdiff", "srdiff+null",
                                 "resshift", "resshift+null", "resshift@4", "resshift@4+null"],
                        help="method names; 'M+X' runs M with consistency.name=X ('+null': no consistency step); "
                             "'M@N' runs M with sampler.steps=N (e.g. resshift@4); both combine as 'M@N+X'")
    parser.add_argument("--max-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the method's config)")
    parser.add_argument("--lpips-weights", default=str(REPO.parent / "shared" / "metrics" / "lpips_alex.safetensors"))
    parser.add_argument("--out", default="runs/benchmarks/image-quality")
    args = parser.parse_args()
    os.environ.setdefault("RESTORE_LPIPS_WEIGHTS", args.lpips_weights)
    summary = []
    for scale in args.scales:
        for method in args.methods:
            base, _, variant = method.partition("+")
            name, _, steps = base.partition("@")
            extra = [f"consistency.name={variant}"] if variant else []
            rows = evaluate(
                "image", name, data=args.data, output_dir=Path(args.out) / f"{method}-x{scale}",
                flags={"scale": scale, "device": "cpu", "sampler.steps": int(steps) if steps else args.steps},
                overrides=[f"eval.max_size={args.max_size}", "eval.lpips=required", *extra], lpips_weights=args.lpips_weights,
            )
            label = f"{name}, {steps} steps" if steps else name
            label = f"{label} without consistency" if variant == "null" else f"{label} + {variant}" if variant else label
            summary.append({
                "scale": f"×{scale}", "method": label, "images": len(rows),
                **{m: statistics.mean(r[m] for r in rows) for m in ("psnr", "ssim", "lpips", "consistency_mse", "seconds")},
            })
            print(summary[-1], flush=True)
    body = (
        f"Held-out images: {', '.join(sorted(p.name for p in Path(args.data).iterdir()))} "
        f"(centre crops of at most {args.max_size}² px); LR = ×s area downsampling, quantised to 8 bit. "
        "Means over images. PSNR/SSIM/LPIPS on [0, 1] RGB; consistency = MSE between the LR input and the "
        "×s area-downsampled output; seconds per image on this CPU. The shipped sr3/srdiff configs "
        "and resshift config apply DDNM range-space consistency (`consistency.name: ddnm`); the 'without consistency' "
        "rows switch it off (resshift without it is ResShift as published). sr3 runs 20 DDIM steps from noise, srdiff 2 (chosen on the leave-one-source-out photos: section 'loso'); "
        "resshift (Yue et al. 2023) runs its whole 15-step residual-shifting chain from up(LR) plus noise, and "
        "'resshift, 4 steps' is the same checkpoint with `sampler.steps=4` (the chain respaced onto 4 of its 15 steps).\n\n"
        + markdown_table(summary, ["scale", "method", "images", "psnr", "ssim", "lpips", "consistency_mse", "seconds"])
    )
    update_section("image-quality", "Image super-resolution quality (image plugin)", body)


if __name__ == "__main__":
    main()
