"""Hook implementations of the ``face`` plugin (entry point ``face``).

Nothing heavy is imported here: readers, writers, detectors and methods load when first used.
Photos are read and written through the image plugin's registry (:mod:`restore_face.io`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from restore_core.hookspecs import hookimpl
from restore_core.hookspecs import lazy as _lazy

from restore_face import __version__

CONFIG_DIR = Path(__file__).with_name("configs")
METHODS = ("bicubic", "difface", "diffbfr")


@hookimpl
def restore_plugin_info() -> dict[str, Any]:
    return {
        "name": "face",
        "version": __version__,
        "api_version": 1,
        "modalities": ["photograph with faces", "aligned face"],
        "description": "Blind face restoration: detect, align, restore (DifFace, DiffBFR), paste back; PNG, JPEG, TIFF.",
    }


@hookimpl
def register_readers(register: Any) -> None:
    from restore_face import io

    for name, extensions in io.FORMATS:
        register(name=name, read=io.reader(name), extensions=list(extensions), sniff=io.sniffer(name))


@hookimpl
def register_writers(register: Any) -> None:
    from restore_face import io

    for name, extensions in io.FORMATS:
        register(name=name, write=io.writer(name), extensions=list(extensions), check=io.write_check(name))


@hookimpl
def register_methods(register: Any) -> None:
    register(name="bicubic", factory=_lazy("restore_face.methods.common", "FaceBicubic"),
             description="bicubic upscaling of the whole photo (baseline, faces untouched)", modalities=["photograph with faces"])
    register(name="difface", factory=_lazy("restore_face.methods.difface", "DifFace"), default=True,
             description="DifFace (Yue & Loy 2024): estimator output diffused to N < T, unconditional face prior from there",
             modalities=["photograph with faces"])
    register(name="diffbfr", factory=_lazy("restore_face.methods.diffbfr", "DiffBFR"),
             description="DiffBFR (Qiu et al. 2023): low- then full-resolution conditional DDPMs (truncated), then texture by the prior",
             modalities=["photograph with faces"])


@hookimpl
def register_degradations(register: Any) -> None:
    register(name="blind_face", factory=_lazy("restore_face.degradation", "blind_face_degradation_for"),
             description="blind face model: Gaussian blur, downsampling, noise, JPEG, back to size (GFPGAN/DifFace ranges)")
    register(name="portrait", factory=_lazy("restore_face.degradation", "portrait_degradation"),
             description="fixed degraded portrait: Gaussian blur 1.5 px, bicubic ↓s, noise 5/255, JPEG 60 (the benchmark's)")


@hookimpl
def register_cli_options(register: Any) -> None:
    register(name="--aligned", key="face.aligned", help="inputs are aligned face crops (no detection, no paste-back)", flag_only=True)


@hookimpl
def register_configs(register: Any) -> None:
    register(method="defaults", config=CONFIG_DIR / "defaults.yaml")
    for method in METHODS:
        register(method=method, config=CONFIG_DIR / f"{method}.yaml")
