"""Face detection with five landmarks: facexlib's RetinaFace when its weights are present, else the shipped MTCNN.

facexlib (the detector of GFPGAN, CodeFormer and DifFace) downloads its weights
at first use, which this project never does: it is used only when
``detection_Resnet50_Final.pth`` is already in ``detect.facexlib_weights`` (or
facexlib's own weights folder).  Otherwise MTCNN (Zhang et al. 2016) runs with
the weights that ship inside this package (:mod:`restore_face.detection.mtcnn`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from restore_core.errors import ConfigError, UsageError
from restore_face.detection.types import LANDMARK_NAMES, FaceDetection

FACEXLIB_WEIGHTS = "detection_Resnet50_Final.pth"
MTCNN_WEIGHTS = Path(__file__).parents[1] / "weights" / "mtcnn.safetensors"
BACKENDS = ("auto", "facexlib", "mtcnn")

Detector = Callable[[np.ndarray], list[FaceDetection]]


def facexlib_weights(folder: Any) -> Path | None:
    """Where facexlib's RetinaFace weights are, if they are anywhere this run may look (no download)."""
    candidates = []
    if folder:
        candidates.append(Path(str(folder)).expanduser())
    try:
        import facexlib

        candidates.append(Path(facexlib.__file__).parent / "weights")
    except ImportError:
        pass
    return next((c / FACEXLIB_WEIGHTS for c in candidates if (c / FACEXLIB_WEIGHTS).is_file()), None)


def facexlib_detector(weights: Path, threshold: float, device: Any) -> Detector:
    """facexlib's RetinaFace-ResNet50 from a local weights file (facexlib loads it with torch.load)."""
    from facexlib.detection import init_detection_model

    net = init_detection_model("retinaface_resnet50", half=False, device=device, model_rootpath=str(weights.parent))

    def detect(image: np.ndarray) -> list[FaceDetection]:
        bgr = np.ascontiguousarray(image[..., ::-1])
        found = net.detect_faces(bgr, threshold)
        faces = [FaceDetection(tuple(float(v) for v in row[:4]), float(row[4]), np.asarray(row[5:15], dtype=np.float64).reshape(5, 2))
                 for row in np.asarray(found)]
        return sorted(faces, key=lambda f: -f.score)

    return detect


def mtcnn_detector(threshold: float, device: Any) -> Detector:
    """The shipped MTCNN, keeping detections of at least ``threshold``."""
    from restore_face.detection.mtcnn import MTCNNDetector

    net = MTCNNDetector(MTCNN_WEIGHTS, device=device)
    return lambda image: [face for face in net.detect(image) if face.score >= threshold]


def make_detector(section: Any, device: Any = "cpu") -> tuple[str, Detector]:
    """``(backend name, detect)`` for the ``detect`` config section (``backend``, ``threshold``, ``facexlib_weights``)."""
    backend = str(section.get("backend", "auto"))
    if backend not in BACKENDS:
        raise ConfigError(f"unknown detect.backend '{backend}'; known: {', '.join(BACKENDS)}")
    threshold = float(section.get("threshold", 0.9))
    weights = facexlib_weights(section.get("facexlib_weights"))
    if backend in ("auto", "facexlib") and weights is not None:
        try:
            return "facexlib", facexlib_detector(weights, threshold, device)
        except ImportError:
            if backend == "facexlib":
                raise UsageError("detect.backend=facexlib needs facexlib: pip install 'restore-plugin-face[facexlib]'") from None
    if backend == "facexlib":
        where = section.get("facexlib_weights") or "facexlib's weights folder"
        raise UsageError(f"detect.backend=facexlib: {FACEXLIB_WEIGHTS} not found in {where}; "
                         "download it from facexlib's releases and set detect.facexlib_weights=FOLDER")
    if not MTCNN_WEIGHTS.is_file():
        raise UsageError(f"no face detector: the shipped MTCNN weights {MTCNN_WEIGHTS} are missing (reinstall restore-plugin-face), "
                         f"and {FACEXLIB_WEIGHTS} is not in detect.facexlib_weights")
    return "mtcnn", mtcnn_detector(threshold, device)


__all__ = ["BACKENDS", "Detector", "FaceDetection", "LANDMARK_NAMES", "facexlib_weights", "make_detector"]
