"""The offline MTCNN detector: shipped weights, agreement with facenet-pytorch, edge cases.

The reference numbers in fixtures/mtcnn_reference.json are facenet-pytorch
2.6.0's own outputs, computed once outside the repo (facenet-pytorch is not a
dependency) with torch 2.14.1 / torchvision 0.29.1 / scikit-image 0.26 /
Pillow 13, one CPU thread::

    from facenet_pytorch import MTCNN      # defaults: min_face_size 20, thresholds .6/.7/.7, factor .709
    boxes, probs, points = MTCNN(keep_all=True, select_largest=False).detect(image, landmarks=True)

for ``image`` = ``skimage.data.astronaut()`` and ``image`` = :func:`composite`
of this file; stored in descending score order (box x0 y0 x1 y1, score, five
landmarks x y).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

skimage_data = pytest.importorskip("skimage.data")

from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from restore_face.detection.mtcnn import DEFAULT_WEIGHTS, MTCNNDetector, ONet, PNet, RNet, nms, overlap  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "mtcnn_reference.json"
#: the astronaut crop pasted into the composite and where/at which scale (x, y, scale)
FACE_CROP = (140, 30, 310, 210)          # x0, y0, x1, y1 in astronaut(): the face is at about (181, 62)-(268, 172)
PLACEMENTS = ((20, 40, 1.0), (300, 250, 0.6), (450, 60, 1.4))


def composite() -> np.ndarray:
    """Three copies of the astronaut's face at different sizes on a grey 480x720 canvas."""
    crop = Image.fromarray(skimage_data.astronaut()).crop(FACE_CROP)
    canvas = np.full((480, 720, 3), 128, np.uint8)
    for x, y, s in PLACEMENTS:
        face = np.asarray(crop.resize((round(crop.width * s), round(crop.height * s)), Image.LANCZOS))
        canvas[y:y + face.shape[0], x:x + face.shape[1]] = face
    return canvas


@pytest.fixture(scope="module")
def detector() -> MTCNNDetector:
    return MTCNNDetector()


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(FIXTURE.read_text())


def _assert_matches_reference(dets: list, ref: list[dict]) -> None:
    assert len(dets) == len(ref)
    for d, r in zip(dets, ref):
        assert d.score == pytest.approx(r["score"], abs=1e-3)
        np.testing.assert_allclose(d.box, r["box"], atol=1.0)
        np.testing.assert_allclose(d.landmarks, r["landmarks"], atol=1.0)


def _assert_plausible(d) -> None:
    (lex, ley), (rex, rey), (nx, ny), (mlx, mly), (mrx, mry) = d.landmarks
    assert d.landmarks.shape == (5, 2)
    assert lex < rex and mlx < mrx
    assert max(ley, rey) < ny < min(mly, mry)
    x0, y0, x1, y1 = d.box
    assert np.all((d.landmarks[:, 0] > x0) & (d.landmarks[:, 0] < x1))
    assert np.all((d.landmarks[:, 1] > y0) & (d.landmarks[:, 1] < y1))


def test_shipped_weights_load_strictly() -> None:
    state = load_file(str(DEFAULT_WEIGHTS))
    expected = {f"{name}.{k}": v.shape for name, net in (("pnet", PNet()), ("rnet", RNet()), ("onet", ONet()))
                for k, v in net.state_dict().items()}
    assert {k: v.shape for k, v in state.items()} == expected
    assert all(v.dtype == torch.float32 for v in state.values())
    assert (DEFAULT_WEIGHTS.parent / "MTCNN_LICENSE.txt").is_file()
    MTCNNDetector()  # strict load_state_dict inside


def test_astronaut_one_face_like_reference(detector: MTCNNDetector, reference: dict) -> None:
    dets = detector.detect(skimage_data.astronaut())
    faces = [d for d in dets if d.score > 0.9]
    assert len(faces) == 1
    _assert_plausible(faces[0])
    x0, y0, x1, y1 = faces[0].box
    assert 170 < x0 < 195 and 50 < y0 < 75 and 255 < x1 < 280 and 160 < y1 < 185
    _assert_matches_reference(dets, reference["astronaut"])


def test_several_faces_like_reference(detector: MTCNNDetector, reference: dict) -> None:
    dets = detector.detect(composite())
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)
    faces = [d for d in dets if d.score > 0.9]
    assert len(faces) == len(PLACEMENTS) == len(dets)
    for x, y, s in PLACEMENTS:  # each pasted face is found once, at its place and size
        cx, cy = x + (224.5 - FACE_CROP[0]) * s, y + (117 - FACE_CROP[1]) * s
        hits = [d for d in faces if d.box[0] < cx < d.box[2] and d.box[1] < cy < d.box[3]]
        assert len(hits) == 1
        assert 0.8 * 90 * s < hits[0].size < 1.25 * 110 * s
        _assert_plausible(hits[0])
    _assert_matches_reference(dets, reference["composite"])


def test_no_face(detector: MTCNNDetector) -> None:
    assert detector.detect(skimage_data.coffee()) == []
    rng = np.random.default_rng(0)
    smooth = np.asarray(Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8)).resize((400, 300),
                                                                                                 Image.BICUBIC))
    assert detector.detect(smooth) == []


def test_grey_and_float_input(detector: MTCNNDetector) -> None:
    rgb = skimage_data.astronaut()
    colour = detector.detect(rgb)[0]
    as_float = detector.detect(rgb.astype(np.float64))[0]
    assert as_float.box == colour.box and as_float.score == colour.score
    grey = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # (H, W) float in [0, 255]
    faces = [d for d in detector.detect(grey) if d.score > 0.9]
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0].box, colour.box, atol=8)
    _assert_plausible(faces[0])


def test_tiny_image(detector: MTCNNDetector) -> None:
    assert detector.detect(np.zeros((10, 10, 3), np.uint8)) == []
    assert detector.detect(np.full((25, 40), 200, np.uint8)) == []
    with pytest.raises(ValueError):
        detector.detect(np.zeros((20, 20, 4), np.uint8))


@pytest.mark.parametrize("mode", ["union", "min"])
def test_nms_is_greedy_in_chunks(mode: str) -> None:
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(300, 2, generator=g) * 30], dim=1)
    scores = torch.rand(300, generator=g)
    kept, alive = [], torch.ones(300, dtype=torch.bool)
    ious = overlap(boxes, boxes, mode)
    for i in torch.argsort(scores, descending=True).tolist():  # plain greedy NMS
        if alive[i]:
            kept.append(i)
            alive &= ious[i] <= 0.5
    assert nms(boxes, scores, 0.5, mode).tolist() == kept
    assert nms(boxes, scores, 0.5, mode, chunk=7).tolist() == kept
    # 'union' has no +1: two 10x10 boxes offset by 5 overlap 50/150 = 0.33; 'min' counts pixels: 66/121 = 0.55
    a = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10]])
    assert len(nms(a, torch.tensor([1.0, 0.9]), 0.4, "union")) == 2
    assert len(nms(a, torch.tensor([1.0, 0.9]), 0.5, "min")) == 1
