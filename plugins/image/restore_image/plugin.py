"""Hook implementations of the ``image`` plugin (entry point ``image``).

Nothing heavy is imported here: readers, writers and methods are imported
when first used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from restore_core.hookspecs import hookimpl

from restore_image import __version__

CONFIG_DIR = Path(__file__).with_name("configs")


def _lazy(module: str, attribute: str) -> Any:
    """A callable that imports ``module.attribute`` on first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), attribute)(*args, **kwargs)

    call.__name__ = attribute
    return call


@hookimpl
def restore_plugin_info() -> dict[str, Any]:
    return {
        "name": "image",
        "version": __version__,
        "api_version": 1,
        "modalities": ["photograph", "natural image"],
        "description": "Natural images: PNG, JPEG, TIFF (8/16-bit, grey/RGB/RGBA).",
    }


@hookimpl
def register_readers(register: Any) -> None:
    from restore_image.io import sniff_jpeg, sniff_png, sniff_tiff

    register(name="png", read=_lazy("restore_image.io", "read_png"), extensions=[".png"], sniff=sniff_png)
    register(name="jpeg", read=_lazy("restore_image.io", "read_jpeg"), extensions=[".jpg", ".jpeg"], sniff=sniff_jpeg)
    register(name="tiff", read=_lazy("restore_image.io", "read_tiff"), extensions=[".tif", ".tiff"], sniff=sniff_tiff)


@hookimpl
def register_writers(register: Any) -> None:
    register(name="png", write=_lazy("restore_image.io", "write_png"), extensions=[".png"])
    register(name="jpeg", write=_lazy("restore_image.io", "write_jpeg"), extensions=[".jpg", ".jpeg"])
    register(name="tiff", write=_lazy("restore_image.io", "write_tiff"), extensions=[".tif", ".tiff"])


@hookimpl
def register_methods(register: Any) -> None:
    register(
        name="bicubic",
        factory=_lazy("restore_image.bicubic", "Bicubic"),
        description="bicubic interpolation (baseline, no model)",
        modalities=["natural image"],
        default=True,
    )


@hookimpl
def register_configs(register: Any) -> None:
    register(method="defaults", config=CONFIG_DIR / "defaults.yaml")
    register(method="bicubic", config=CONFIG_DIR / "bicubic.yaml")
