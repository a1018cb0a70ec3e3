"""Which detector runs: facexlib only when its weights are already present, else the shipped MTCNN, else one clear line."""
from __future__ import annotations

import pytest

import restore_face.detection as detection
from restore_core.errors import ConfigError, UsageError


def test_auto_uses_the_shipped_mtcnn_without_facexlib_weights(tmp_path):
    name, detect = detection.make_detector({"backend": "auto", "facexlib_weights": str(tmp_path)})
    assert name == "mtcnn" and callable(detect)


def test_facexlib_without_its_weights_names_the_file_and_where_to_put_it(tmp_path):
    with pytest.raises(UsageError, match=f"{detection.FACEXLIB_WEIGHTS} not found in {tmp_path}"):
        detection.make_detector({"backend": "facexlib", "facexlib_weights": str(tmp_path)})


def test_no_detector_at_all_names_the_missing_file(tmp_path, monkeypatch):
    missing = tmp_path / "mtcnn.safetensors"
    monkeypatch.setattr(detection, "MTCNN_WEIGHTS", missing)
    with pytest.raises(UsageError, match=str(missing)):
        detection.make_detector({"backend": "auto", "facexlib_weights": str(tmp_path)})


def test_facexlib_weights_present_are_used_with_no_download(tmp_path, monkeypatch):
    (tmp_path / detection.FACEXLIB_WEIGHTS).write_bytes(b"weights")
    calls = []
    monkeypatch.setattr(detection, "facexlib_detector", lambda weights, threshold, device: calls.append(weights) or (lambda image: []))
    name, _ = detection.make_detector({"backend": "auto", "facexlib_weights": str(tmp_path)})
    assert name == "facexlib" and calls == [tmp_path / detection.FACEXLIB_WEIGHTS]


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="detect.backend"):
        detection.make_detector({"backend": "dlib"})
