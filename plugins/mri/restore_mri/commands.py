"""``restore mri simulate``: write simulated T1w/T2w/PDw volumes for training data preparation."""
from __future__ import annotations

import argparse
from pathlib import Path

from restore_core.errors import UsageError

HELP = "simulate T1w/T2w/PDw spin-echo volumes from the MNI152 tissue maps (training data)"


def parse_slab(text: str | None) -> tuple[slice, slice, slice]:
    """``"A:B"`` (slices along the third voxel axis) or ``"x0:x1,y0:y1,z0:z1"``."""
    if not text:
        return (slice(None), slice(None), slice(None))
    parts = text.split(",")
    if len(parts) not in (1, 3):
        raise UsageError(f"--slab takes A:B or x0:x1,y0:y1,z0:z1, got '{text}'")
    try:
        ranges = [slice(*[int(v) if v else None for v in part.split(":")]) for part in parts]
    except (TypeError, ValueError):
        raise UsageError(f"--slab takes A:B or x0:x1,y0:y1,z0:z1, got '{text}'") from None
    if any(r.step is not None for r in ranges):
        raise UsageError(f"--slab takes start:stop ranges without a step, got '{text}'")
    return (slice(None), slice(None), ranges[0]) if len(ranges) == 1 else tuple(ranges)  # type: ignore[return-value]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder for the simulated volumes")
    parser.add_argument("--shared", required=True, help="folder holding the MNI152 2009a GM/WM maps (or its data/mri/)")
    parser.add_argument("--contrasts", default="T1w,T2w,PDw", help="comma-separated subset of T1w,T2w,PDw")
    parser.add_argument("--field", default="1.5T", choices=("1.5T", "3T"), help="tissue parameters of this field strength")
    parser.add_argument("--count", type=int, default=1, help="random realisations per contrast (bias, scale, noise)")
    parser.add_argument("--slab", help="voxel ranges to keep: A:B along the third axis, or x0:x1,y0:y1,z0:z1")
    parser.add_argument("--bias", type=float, default=0.3, help="bias-field strength (0 = none)")
    parser.add_argument("--noise", type=float, default=0.0, help="Rician sigma as a fraction of the peak intensity")
    parser.add_argument("--peak", type=float, default=1000.0, help="brightest intensity, before random scaling")
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from restore_mri.phantom import SEQUENCES, load_tissue_maps, save_volume, simulate

    contrasts = [c.strip() for c in args.contrasts.split(",") if c.strip()]
    unknown = [c for c in contrasts if c not in SEQUENCES]
    if unknown or not contrasts:
        raise UsageError(f"unknown contrast(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(SEQUENCES)}")
    if args.count < 1 or args.bias < 0 or args.noise < 0 or args.peak <= 0:
        raise UsageError("--count must be >= 1, --bias and --noise >= 0, --peak > 0")
    maps = load_tissue_maps(args.shared).crop(parse_slab(args.slab))
    if min(maps.fractions["gm"].shape) == 0:
        raise UsageError(f"--slab '{args.slab}' selects no voxels of a {maps.fractions['gm'].shape} grid")
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    for index in range(args.count):
        for contrast in contrasts:
            volume = simulate(maps, contrast, rng, field=args.field, peak=args.peak, bias_strength=args.bias, noise=args.noise)
            description = f"restore phantom {contrast} {args.field} #{index}"
            print(save_volume(volume, maps.affine, out / f"{contrast}_{index:03d}.nii.gz", description))
    return 0
