"""Pre-simulate the turbulence plugin's training pairs (the simulator costs more than a training step).

    .venv/bin/python scripts/make_turbulence_pairs.py data/images/train data/turbulence/train_pairs.safetensors --count 4000

Random ``--crop``² crops of every image in the folder (flips and 90° turns), each through the training
distribution (restore_turbulence.degradation.TRAINING_RANGES: D/r0 1-6, 1 to 16 frames, ...), the centre
``--patch``² kept (no border effects of the warp).  Stored as uint8 (the inputs are 8-bit): ``lr``
(N, 6, p, p) = [reference frame, registered average], ``hr`` (N, 3, p, p).  Deterministic given ``--seed`` (pair i
has its own generator, so ``--workers`` does not change the set).
"""
from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restore_turbulence.degradation import random_turbulence_degradation


def _load(folder: Path, crop: int) -> list[torch.Tensor]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff"))
    images = [torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 127.5 - 1).permute(2, 0, 1) for p in files]
    return [im for im in images if min(im.shape[1:]) >= crop]


def _pairs(job: tuple[Path, range, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``indices`` of the set; pair i draws from its own generator (seed, i), so workers do not change them."""
    folder, indices, crop, patch, seed = job
    torch.set_num_threads(1)
    images = _load(folder, crop)
    degrade = random_turbulence_degradation()
    lr = np.empty((len(indices), 6, patch, patch), np.uint8)
    hr = np.empty((len(indices), 3, patch, patch), np.uint8)
    margin = (crop - patch) // 2
    keep = (slice(None), slice(margin, margin + patch), slice(margin, margin + patch))
    start = time.time()
    for row, i in enumerate(indices):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + i)
        image = images[int(torch.randint(0, len(images), (1,), generator=generator))]
        y = int(torch.randint(0, image.shape[1] - crop + 1, (1,), generator=generator))
        x = int(torch.randint(0, image.shape[2] - crop + 1, (1,), generator=generator))
        sample = image[:, y:y + crop, x:x + crop]
        sample = torch.rot90(sample, int(torch.randint(0, 4, (1,), generator=generator)), dims=(1, 2))
        if int(torch.randint(0, 2, (1,), generator=generator)):
            sample = sample.flip(-1)
        pair = degrade(sample[None].contiguous(), generator)
        to_u8 = lambda t: ((t[keep].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()  # noqa: E731
        lr[row], hr[row] = to_u8(pair["lr"][0]), to_u8(pair["hr"][0])
        if (row + 1) % 250 == 0:
            print(f"pairs {indices.start}-{indices.start + row}: {time.time() - start:.0f} s", flush=True)
    return lr, hr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="processes (the pairs do not depend on it)")
    args = parser.parse_args()
    start = time.time()
    bounds = np.linspace(0, args.count, max(1, args.workers) + 1).round().astype(int)
    jobs = [(args.images, range(a, b), args.crop, args.patch, args.seed) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    if len(jobs) == 1:
        parts = [_pairs(jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
            parts = pool.map(_pairs, jobs)
    lr = np.concatenate([p[0] for p in parts])
    hr = np.concatenate([p[1] for p in parts])
    from safetensors.numpy import save_file

    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({"lr": lr, "hr": hr}, str(args.out), metadata={"images": str(args.images), "seed": str(args.seed), "count": str(args.count)})
    print(f"wrote {args.out} ({args.count} pairs, {time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
