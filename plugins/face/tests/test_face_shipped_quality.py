"""The shipped face models beat bicubic on a face no model saw in training (the shipped sample).

The sample is scikit-image's astronaut, blurred, ×2 downsampled, noisy and JPEG-compressed
(scripts/make_face_samples.py); the HR photo is the original.  Both methods must come out
better than bicubic upsampling in LPIPS on the face region and on the whole photo.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restore_core.api import restore
from restore_core.testing import lpips_metric_or_none
from restore_face.detection import make_detector

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "face" / "astronaut_degraded.png"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    import skimage.data

    lpips = lpips_metric_or_none()
    if lpips is None:
        pytest.skip("the lpips extra and its weights are not installed (CI requires them)")
    hr = skimage.data.astronaut()
    face = make_detector({"backend": "mtcnn", "threshold": 0.9})[1](hr)[0]
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    pad = int(0.15 * (x1 - x0))
    region = (slice(max(0, y0 - pad), y1 + pad), slice(max(0, x0 - pad), x1 + pad))
    out = tmp_path_factory.mktemp("face-quality")
    scores = {}
    for method in ("bicubic", "difface", "diffbfr"):
        result = np.asarray(Image.open(restore(SAMPLE, plugin="face", method=method, scale=2, output=out / f"{method}.png", device="cpu")[0]))
        as_unit = lambda a: a.astype(np.float32).transpose(2, 0, 1) / 255  # noqa: E731
        scores[method] = {"whole": lpips(as_unit(result), as_unit(hr)), "face": lpips(as_unit(result[region]), as_unit(hr[region]))}
    return scores


@pytest.mark.parametrize("method", ["difface", "diffbfr"])
@pytest.mark.parametrize("where", ["face", "whole"])
def test_shipped_method_beats_bicubic_in_lpips(scored, method, where):
    assert scored[method][where] < scored["bicubic"][where], scored
