"""The face plugin's shipped sample: scikit-image's astronaut (Eileen Collins, NASA, public domain), degraded.

    python scripts/make_face_samples.py

Writes ``samples/face/astronaut_degraded.png`` (256 x 256, PNG so the JPEG artefacts are the degradation's only): the 512 x 512 photo blurred (std 1.5 px),
downsampled ×2 (antialiased bicubic), with Gaussian noise (std 5/255) and JPEG at quality 60
(:func:`restore_face.degradation.degrade_photo`).  No face model saw the astronaut in training
(docs/face-data.md).  Needs scikit-image (the test environment has it).
"""
from __future__ import annotations

from pathlib import Path

import skimage.data
from PIL import Image

from restore_face.degradation import degrade_photo

TARGET = Path(__file__).resolve().parents[1] / "samples" / "face" / "astronaut_degraded.png"


def main() -> None:
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(degrade_photo(skimage.data.astronaut(), scale=2, blur=1.5, noise=5.0, quality=60, seed=0)).save(TARGET)
    print(TARGET)


if __name__ == "__main__":
    main()
