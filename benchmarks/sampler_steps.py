"""Quality against number of steps for DDPM, DDIM and DPM-Solver++, and engine overhead.

    python benchmarks/sampler_steps.py --method srdiff --image data/images/val/astronaut.png

Uses the shipped checkpoint of the method on a held-out ×4 crop. Engine
overhead = total sampling time / (evaluations × one denoiser forward), where
the forward is timed alone on the same input shapes; 1.0 means the loop,
the sampler and the conditioning cost nothing beside the network.
Writes the "sampler-steps" and "engine-overhead" sections of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from report import markdown_table, update_section

from restore_core.api import make_context, prepare
from restore_core.engine.sr_method import sample_sr
from restore_core.metrics import LPIPSMetric, psnr, ssim

REPO = Path(__file__).resolve().parents[1]


def load_pair(path: str, size: int, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 127.5 - 1
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    hr = torch.from_numpy(image[top : top + size, left : left + size]).permute(2, 0, 1)[None].contiguous()
    return F.avg_pool2d(hr, scale), hr


def time_forward(model, lr: torch.Tensor, hr_size: tuple[int, int], repeats: int = 20) -> float:
    with torch.no_grad():
        cond = model.condition(lr, hr_size)
        grid = (1, model.denoiser.target_channels, *model.target_grid(hr_size))
        x, t = torch.randn(grid), torch.tensor([500])
        for _ in range(3):
            model.denoise(x, t, cond)
        began = time.perf_counter()
        for _ in range(repeats):
            model.denoise(x, t, cond)
    return (time.perf_counter() - began) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="srdiff")
    parser.add_argument("--image", default="data/images/val/astronaut.png")
    parser.add_argument("--size", type=int, default=128, help="HR crop size")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--steps", type=int, nargs="+", default=[1000, 250, 100, 50, 20, 10])
    parser.add_argument("--samplers", nargs="+", default=["ddpm", "ddim", "dpm_solver++"])
    parser.add_argument("--consistency", default="null", help="consistency step (default none: the bare sampler)")
    parser.add_argument("--overhead-only", action="store_true", help="measure and write only the engine-overhead section")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    record, cfg = prepare("image", args.method, flags={"device": "cpu", "scale": args.scale})
    method = record.registry.get("methods", args.method).factory()
    model = method.load(cfg, 3, make_context(cfg, registry=record.registry)).model
    lr, hr = load_pair(args.image, args.size, args.scale)
    lpips = LPIPSMetric(REPO.parent / "shared" / "metrics" / "lpips_alex.safetensors")
    rows, overhead = [], []
    for sampler in args.samplers:
        for steps in args.steps:
            run_cfg = prepare("image", args.method, flags={"device": "cpu", "scale": args.scale},
                              overrides=[f"sampler.name={sampler}", f"sampler.steps={steps}", f"consistency.name={args.consistency}"])[1]
            # the forwards are timed inside the same run, so machine load affects both sides alike
            in_denoiser = [0.0, 0]
            original = model.denoise

            def timed(*a, _orig=original, _acc=in_denoiser):
                start = time.perf_counter()
                out = _orig(*a)
                _acc[0] += time.perf_counter() - start
                _acc[1] += 1
                return out

            model.denoise = timed
            began = time.perf_counter()
            out = sample_sr(model, lr, args.scale, run_cfg, torch.Generator().manual_seed(0))
            seconds = time.perf_counter() - began
            model.denoise = original
            forward = in_denoiser[0] / max(1, in_denoiser[1])
            pred, target = (out[0] + 1) / 2, (hr[0] + 1) / 2
            if not args.overhead_only:
                rows.append({"sampler": sampler, "steps": steps, "psnr": psnr(pred, target, 1.0), "ssim": ssim(pred, target, 1.0, 2),
                             "lpips": lpips(pred, target), "seconds": seconds})
            overhead.append({"sampler": sampler, "evaluations": in_denoiser[1], "total_s": seconds,
                             "forward_s": forward, "overhead": seconds / (in_denoiser[1] * forward)})
            print(rows[-1] if rows else "", f"overhead {overhead[-1]['overhead']:.3f}", flush=True)
    note = (f"Method `{args.method}` (shipped checkpoint), ×{args.scale}, centre {args.size}² crop of "
            f"`{Path(args.image).name}` (held out of training), seed 0, consistency step: {args.consistency}.\n\n")
    if not args.overhead_only:
        update_section("sampler-steps", "Quality against number of sampling steps", note + markdown_table(rows, ["sampler", "steps", "psnr", "ssim", "lpips", "seconds"]))
    how = ("Total = wall time of `sample_sr` (conditioning, sampler, loop); forward_s = mean time of the same run's "
           "denoiser calls, so machine load affects both alike. Target: at most 1.05.\n\n")
    update_section("engine-overhead", "Engine overhead", note + how + markdown_table(overhead, ["sampler", "evaluations", "total_s", "forward_s", "overhead"]))


if __name__ == "__main__":
    main()
