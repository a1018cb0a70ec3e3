"""``restore turbulence simulate IN -o OUT --d-r0 X --frames N``: turbulence-degraded test data."""
from __future__ import annotations

import argparse
from pathlib import Path
from restore_core.errors import InputError, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="a clean image (PNG, JPEG, TIFF)")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="one frame: .png/.jpg/.tif; several: a multi-page .tif (burst) or a video (.mp4, .avi, .mkv, ...)")
    parser.add_argument("--d-r0", type=float, default=3.0, help="turbulence strength D/r0 (1-2 weak, 2-4 moderate, 4-8 strong)")
    parser.add_argument("--frames", type=int, default=1, help="number of frames (frozen flow between them)")
    parser.add_argument("--isoplanatic-px", type=float, default=32.0, help="pixels over which the turbulence decorrelates")
    parser.add_argument("--pixels-per-diffraction", type=float, default=1.0, help="image pixels per lambda/D")
    parser.add_argument("--wind", type=float, default=0.5, help="screen motion per frame, in aperture diameters")
    parser.add_argument("--noise", type=float, default=0.01, help="Gaussian noise std, fraction of full scale")
    parser.add_argument("--fps", default="25/1", help="frame rate of a video output")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from restore_core.api import commit_output, read_sample
    from restore_core.plugins import require_plugin
    from restore_turbulence.frames import VIDEO_EXTENSIONS, sequence_like
    from restore_turbulence.methods.common import from_unit, to_unit
    from restore_turbulence.simulator import TurbulenceParams, simulate

    if args.frames < 1:
        raise UsageError("--frames must be at least 1")
    if args.output.exists() and args.input.exists() and args.output.resolve() == args.input.resolve():
        raise InputError(args.output, "output path equals the input; an input is never overwritten")
    registry = require_plugin("turbulence").registry
    writer = registry.writer_for(args.output)
    sample = read_sample(registry, args.input, None)
    if sample.meta.get("sequence"):
        raise InputError(args.input, "is already a sequence; simulate takes one clean image")
    try:
        params = TurbulenceParams(d_r0=args.d_r0, pixels_per_diffraction=args.pixels_per_diffraction, isoplanatic_px=args.isoplanatic_px,
                                  wind=args.wind, noise=args.noise)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    video = args.output.suffix.lower() in VIDEO_EXTENSIONS
    if args.frames > 1 and args.output.suffix.lower() not in (".tif", ".tiff") and not video:
        raise UsageError(f"{args.output}: {args.frames} frames need a multi-page .tif or a video extension")
    frames = simulate(to_unit(sample)[0], params, frames=args.frames, seed=args.seed)
    values = from_unit(frames, sample)
    if args.frames == 1:
        out = sequence_like(sample, values, None)
    else:
        out = sequence_like(sample, values, "video" if video else "burst")
        if video:
            out.meta["fps"] = str(args.fps)
            out.source_dtype = np.dtype(np.uint8)
    def write(tmp: Path) -> None:
        writer.write(out, tmp, None)

    from omegaconf import OmegaConf

    commit_output(args.output, OmegaConf.create({"output": {"write_config": False}}), write)
    print(f"wrote {args.output}: {args.frames} frame(s) at D/r0 = {args.d_r0:g}")
    return 0


SIMULATE = {"name": "simulate", "help": "simulate imaging through turbulence (test data)", "add_arguments": add_arguments, "run": run}
