"""Quality of the turbulence plugin's methods on images kept out of training, for frames, bursts and videos.

    .venv-test/bin/python benchmarks/turbulence_quality.py --images data/images/val-glymur --write

Held-out images: glymur's photographs (scripts/make_image_dataset.py; the turbulence pairs come from
the image plugin's 23 *training* photographs only), centre crops of ``--size``².  Degraded by
``--model``: ``warp_blur`` (an elastic-warp + Gaussian-blur model that is NOT the simulator the
networks were trained on: the issue's generalisation test) or ``ours`` (the physical simulator), at
three strengths.  Per strength: one frame (-> one image), a 16-frame burst as a multi-page TIFF (-> one
image) and a 24-frame mp4 of the static scene (-> 24 frames, each scored against the clean image).
Rows: the degraded input (the burst's / clip's reference frames), the classical average + unsharp
masking, AT-DDPM and AT-VarDiff, through the command line's API.  Scores against the clean image:
PSNR, SSIM, LPIPS (AlexNet, offline weights in ../shared/metrics); seconds per output frame (2 cores).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from report import markdown_table, update_section

from restore_core.api import restore
from restore_core.metrics import LPIPSMetric
from restore_core.metrics.image_quality import psnr, ssim
from restore_turbulence.degradation import warp_blur_frames
from restore_turbulence.frames import read_video, sequence_like, write_tiff_pages, write_video
from restore_turbulence.simulator import TurbulenceParams, simulate

REPO = Path(__file__).resolve().parents[1]
#: strength name -> (D/r0 of ours, warp_blur's (tilt_px, correlation_px, blur_px))
STRENGTHS = {"weak": (1.5, (0.7, 10.0, 0.8)), "moderate": (3.0, (1.4, 10.0, 1.4)), "strong": (5.0, (2.2, 10.0, 2.0))}
MODES = {"frame": 1, "burst": 16, "video": 24}


def degrade(clean: torch.Tensor, model: str, strength: str, frames: int, seed: int) -> torch.Tensor:
    d_r0, (tilt, corr, blur) = STRENGTHS[strength]
    if model == "ours":
        return simulate(clean, TurbulenceParams(d_r0=d_r0, noise=0.01, wind=0.7), frames=frames, seed=seed)
    return warp_blur_frames(clean, frames, tilt, corr, blur, 0.01, torch.Generator().manual_seed(seed))


def save_input(frames: torch.Tensor, mode: str, path: Path, template) -> None:  # noqa: ANN001
    values = (frames.clamp(0, 1) * 255).round().numpy().astype(np.float32)
    if mode == "frame":
        Image.fromarray(values[0].transpose(1, 2, 0).astype(np.uint8)).save(path)
        return
    sample = sequence_like(template, values, "video" if mode == "video" else "burst")
    sample.meta["fps"] = "24/1"
    (write_video if mode == "video" else write_tiff_pages)(sample, path)


def read_output(path: Path) -> np.ndarray:
    """(T, 3, H, W) in [0, 1]."""
    if path.suffix == ".mp4":
        return frames_of_video(path)
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).transpose(2, 0, 1)[None] / 255


def frames_of_video(path: Path) -> np.ndarray:
    data = read_video(path).data  # (C, T, H, W)
    return np.moveaxis(data, 1, 0) / 255


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=REPO / "data" / "images" / "val-glymur")
    parser.add_argument("--count", type=int, default=3, help="held-out images (spread over the folder)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--model", choices=("warp_blur", "ours"), default="warp_blur")
    parser.add_argument("--strengths", nargs="+", default=list(STRENGTHS))
    parser.add_argument("--modes", nargs="+", default=list(MODES))
    parser.add_argument("--methods", nargs="+", default=["average-unsharp", "at-ddpm", "at-vardiff"])
    parser.add_argument("--weights", nargs="*", default=[], metavar="METHOD=FILE",
                        help="run METHOD with this checkpoint instead of the shipped one (e.g. a training run's EMA export)")
    parser.add_argument("--set", nargs="*", default=[], metavar="METHOD:KEY=VALUE", help="config overrides of one method")
    parser.add_argument("--lpips-weights", default=str(REPO.parent / "shared" / "metrics" / "lpips_alex.safetensors"))
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "benchmarks" / "turbulence")
    parser.add_argument("--write", action="store_true", help="write the section of docs/benchmarks.md")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    weights = dict(item.split("=", 1) for item in args.weights)
    overrides: dict[str, list[str]] = {}
    for item in args.set:
        name, override = item.split(":", 1)
        overrides.setdefault(name, []).append(override)
    files = sorted(args.images.glob("*.png"))
    files = [files[round(i * (len(files) - 1) / max(1, args.count - 1))] for i in range(args.count)]
    lpips = LPIPSMetric(args.lpips_weights)
    args.out.mkdir(parents=True, exist_ok=True)
    from restore_core.sample import Sample

    rows = []
    for strength in args.strengths:
        for mode in args.modes:
            scores: dict[str, list[tuple[float, float, float]]] = {}
            seconds: dict[str, float] = {}
            for index, file in enumerate(files):
                image = np.asarray(Image.open(file).convert("RGB"), dtype=np.float32) / 255
                h, w = image.shape[:2]
                top, left = (h - args.size) // 2, (w - args.size) // 2
                clean = torch.from_numpy(image[top:top + args.size, left:left + args.size].transpose(2, 0, 1).copy())
                frames = degrade(clean, args.model, strength, MODES[mode], seed=1000 * index + 7)
                template = Sample(np.zeros((3, 1, 1, 1), np.float32), 3, np.dtype(np.uint8))
                ext = {"frame": ".png", "burst": ".tif", "video": ".mp4"}[mode]
                source = args.out / f"{file.stem}_{strength}_{mode}{ext}"
                save_input(frames, mode, source, template)
                truth = clean.numpy()
                degraded = read_output(source) if mode != "burst" else frames.numpy()[len(frames) // 2:len(frames) // 2 + 1]
                outputs = {"degraded input": degraded}
                for method in args.methods:
                    target = args.out / f"{file.stem}_{strength}_{mode}_{method}{'.mp4' if mode == 'video' else '.png'}"
                    began = time.perf_counter()
                    restore(source, plugin="turbulence", method=method, output=target, device="cpu", quiet=True,
                            weights=weights.get(method), overrides=overrides.get(method, ()))
                    seconds[method] = seconds.get(method, 0.0) + (time.perf_counter() - began) / (MODES[mode] if mode == "video" else 1)
                    outputs[method] = read_output(target)
                for name, result in outputs.items():
                    per_frame = [(psnr(f, truth, 1.0), ssim(f, truth, 1.0, 2), lpips(f, truth)) for f in result]
                    scores.setdefault(name, []).append(tuple(np.mean(per_frame, axis=0)))
            for name, values in scores.items():
                mean = np.mean(values, axis=0)
                rows.append({"strength": strength, "input": f"{mode} ({MODES[mode]} frames)", "method": name,
                             "PSNR": float(mean[0]), "SSIM": float(mean[1]), "LPIPS": float(mean[2]),
                             "s / frame": round(seconds[name] / len(files), 2) if name in seconds else "-"})
                print(rows[-1], flush=True)
    table = markdown_table(rows, ["strength", "input", "method", "PSNR", "SSIM", "LPIPS", "s / frame"])
    print(table)
    if args.json:  # the model cards' validation rows (scripts/ship_checkpoint.py --validation-json)
        args.json.write_text(json.dumps([
            {"strength": r["strength"], "input": r["input"], "method": r["method"], "psnr": r["PSNR"], "ssim": r["SSIM"],
             "lpips": r["LPIPS"], "seconds_per_frame": r["s / frame"]} for r in rows], indent=1))
    if args.write:
        name = f"turbulence-quality-{args.model.replace('_', '-')}"
        title = f"turbulence: quality on held-out images ({'a model other than ours: elastic warp + Gaussian blur' if args.model == 'warp_blur' else 'our simulator'})"
        body = (f"{len(files)} held-out glymur crops of {args.size}² (never in the training pairs). Degradation: "
                + ("`warp_blur` (restore_turbulence.degradation: smooth random warp, Gaussian blur, noise 0.01), not the simulator the models were trained on; "
                   if args.model == "warp_blur" else "the physical simulator (D/r0 1.5 / 3 / 5, noise 0.01, wind 0.7); ")
                + "strengths weak / moderate / strong as in the script's STRENGTHS. Burst: 16-frame multi-page TIFF -> one image; "
                "video: 24-frame mp4 of the static scene -> 24 frames; the degraded-input row of a burst is its reference (middle) frame. "
                "2 CPU cores.\n\n" + table)
        update_section(name, title, body)


if __name__ == "__main__":
    main()
