"""Write the natural-image training and validation folders from scikit-image's bundled images.

    python scripts/make_image_dataset.py --out data/images

Training: every bundled natural image except astronaut and coffee (grey ones
become 3-channel). Validation: astronaut and coffee, kept out of training
(their crops are also the shipped samples). Needs scikit-image (bundled data,
no download).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

TRAIN = [
    "chelsea", "hubble_deep_field", "immunohistochemistry", "retina", "rocket",
    "camera", "brick", "grass", "gravel", "moon", "coins", "clock", "page", "text",
]
VALIDATION = ["astronaut", "coffee"]


def save(name: str, folder: Path) -> None:
    import skimage.data
    from PIL import Image

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[:, :, :3].astype(np.uint8)).save(folder / f"{name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/images", help="folder that gets train/ and val/")
    args = parser.parse_args()
    out = Path(args.out)
    for name in TRAIN:
        save(name, out / "train")
    for name in VALIDATION:
        save(name, out / "val")
    print(f"wrote {len(TRAIN)} training and {len(VALIDATION)} validation images under {out}")


if __name__ == "__main__":
    main()
