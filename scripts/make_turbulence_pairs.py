"""Pre-simulate the turbulence plugin's training pairs (the simulator costs more than a training step).

    .venv/bin/python scripts/make_turbulence_pairs.py data/images/train data/turbulence/train_pairs.safetensors --count 4000

Random ``--crop``² crops of every image in the folder (flips and 90° turns), each through the training
distribution (restore_turbulence.degradation.TRAINING_RANGES: D/r0 1-6, 1 to 16 frames, ...), the centre
``--patch``² kept (no border effects of the warp).  Stored as uint8 (the inputs are 8-bit): ``lr``
(N, 6, p, p) = [reference frame, registered average], ``hr`` (N, 3, p, p).  Deterministic given ``--seed``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restore_turbulence.degradation import random_turbulence_degradation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff"))
    images = [torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 127.5 - 1).permute(2, 0, 1) for p in files]
    images = [im for im in images if min(im.shape[1:]) >= args.crop]
    generator = torch.Generator().manual_seed(args.seed)
    degrade = random_turbulence_degradation()
    lr = np.empty((args.count, 6, args.patch, args.patch), np.uint8)
    hr = np.empty((args.count, 3, args.patch, args.patch), np.uint8)
    margin = (args.crop - args.patch) // 2
    start = time.time()
    for i in range(args.count):
        image = images[int(torch.randint(0, len(images), (1,), generator=generator))]
        y = int(torch.randint(0, image.shape[1] - args.crop + 1, (1,), generator=generator))
        x = int(torch.randint(0, image.shape[2] - args.crop + 1, (1,), generator=generator))
        crop = image[:, y:y + args.crop, x:x + args.crop]
        crop = torch.rot90(crop, int(torch.randint(0, 4, (1,), generator=generator)), dims=(1, 2))
        if int(torch.randint(0, 2, (1,), generator=generator)):
            crop = crop.flip(-1)
        pair = degrade(crop[None].contiguous(), generator)
        keep = (slice(None), slice(margin, margin + args.patch), slice(margin, margin + args.patch))
        to_u8 = lambda t: ((t[keep].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()  # noqa: E731
        lr[i], hr[i] = to_u8(pair["lr"][0]), to_u8(pair["hr"][0])
        if (i + 1) % 250 == 0:
            print(f"{i + 1}/{args.count} pairs, {time.time() - start:.0f} s", flush=True)
    from safetensors.numpy import save_file

    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({"lr": lr, "hr": hr}, str(args.out), metadata={"images": str(args.images), "seed": str(args.seed), "count": str(args.count)})
    print(f"wrote {args.out} ({args.count} pairs, {time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
