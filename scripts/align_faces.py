"""Cut aligned training faces out of photos: detect (the face plugin's detector), align to the FFHQ template.

    python scripts/align_faces.py data/faces/raw data/faces/train --size 128 --min-box 56

Every face of every photo under SOURCE (recursively; PNG/JPEG) whose detection box is at least
``--min-box`` pixels (so the crop is not upsampled much: a box is about 0.43 of the template's
width) and whose score is at least ``--threshold`` becomes ``TARGET/<source>__<photo>__<k>.png``,
``--size`` x ``--size``.  A ``faces.json`` beside them records each crop's photo, box, score and
landmarks.  Photos are opened with Pillow (EXIF orientation applied) as 8-bit RGB.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from restore_face.alignment import align_face
from restore_face.detection import make_detector


def photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg") and p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--min-box", type=float, default=56.0)
    parser.add_argument("--threshold", type=float, default=0.95)
    args = parser.parse_args()
    _, detect = make_detector({"backend": "auto", "threshold": args.threshold})
    args.target.mkdir(parents=True, exist_ok=True)
    records = []
    for path in photos(args.source):
        image = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        photo = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 127.5 - 1
        kept = [face for face in detect(image) if face.size >= args.min_box]
        for k, face in enumerate(kept):
            crop = align_face(photo, face.landmarks, args.size).crop[0]
            pixels = ((crop.permute(1, 2, 0) + 1) * 127.5).clamp(0, 255).round().to(torch.uint8).numpy()
            relative = path.relative_to(args.source)
            name = f"{'__'.join(relative.with_suffix('').parts)}__{k}.png"
            Image.fromarray(pixels).save(args.target / name)
            records.append({"file": name, "photo": str(relative), "box": [round(v, 1) for v in face.box],
                            "score": round(face.score, 4), "landmarks": np.round(face.landmarks, 2).tolist()})
        print(f"{path.relative_to(args.source)}: {len(kept)} face(s)")
    (args.target / "faces.json").write_text(json.dumps(records, indent=1) + "\n")
    print(f"{len(records)} aligned faces in {args.target}")


if __name__ == "__main__":
    main()
