"""Photos are read and written by the image plugin's registered readers and writers.

The face plugin imports no other plugin: it asks the plugin manager for the
``image`` plugin's registry (public API) and hands each file to the reader or
writer registered there, so PNG, JPEG and TIFF (8/16-bit, grey, RGB, RGBA,
EXIF/ICC kept) behave exactly as with ``--plugin image``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from restore_core.sample import Sample

IMAGE_PLUGIN = "image"
#: (name, extensions) of the photo formats, as the image plugin registers them.
FORMATS = (("png", (".png",)), ("jpeg", (".jpg", ".jpeg")), ("tiff", (".tif", ".tiff")))


def image_registry() -> Any:
    """The image plugin's registry (loaded once by the plugin manager)."""
    from restore_core.plugins import require_plugin

    return require_plugin(IMAGE_PLUGIN).registry


def reader(kind: str) -> Callable[[Path, Any], Sample]:
    return lambda path, cfg=None: image_registry().get("readers", kind).read(path, cfg)


def sniffer(kind: str) -> Callable[[bytes], bool]:
    def sniff(head: bytes) -> bool:
        found = image_registry().get("readers", kind).fields.get("sniff")
        return bool(found(head)) if found is not None else False

    return sniff


def writer(kind: str) -> Callable[[Sample, Path, Any], None]:
    return lambda sample, path, cfg=None: image_registry().get("writers", kind).write(sample, path, cfg)


def write_check(kind: str) -> Callable[[Sample, Path], None]:
    def check(sample: Sample, path: Path) -> None:
        found = image_registry().get("writers", kind).fields.get("check")
        if found is not None:
            found(sample, path)

    return check


__all__ = ["FORMATS", "image_registry", "reader", "sniffer", "writer", "write_check"]
