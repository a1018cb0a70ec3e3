"""Hook implementations of the ``image`` plugin (entry point ``image``).

Nothing heavy is imported here: readers, writers and methods are imported
when first used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from restore_core.hookspecs import hookimpl
from restore_core.hookspecs import lazy as _lazy

from restore_image import __version__

CONFIG_DIR = Path(__file__).with_name("configs")



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
    register(name="png", write=_lazy("restore_image.io", "write_png"), extensions=[".png"],
             check=_lazy("restore_image.writer_checks", "check_png"))
    register(name="jpeg", write=_lazy("restore_image.io", "write_jpeg"), extensions=[".jpg", ".jpeg"],
             check=_lazy("restore_image.writer_checks", "check_jpeg"))
    register(name="tiff", write=_lazy("restore_image.io", "write_tiff"), extensions=[".tif", ".tiff"])


@hookimpl
def register_methods(register: Any) -> None:
    register(
        name="bicubic",
        factory=_lazy("restore_image.bicubic", "Bicubic"),
        description="bicubic interpolation (baseline, no model)",
        modalities=["natural image"],
    )
    register(
        name="sr3",
        factory=lambda: _diffusion_method("sr3"),
        description="SR3 (Saharia et al. 2021): HR target, up(LR) concatenated to the noisy state",
        modalities=["natural image"],
    )
    register(
        name="srdiff",
        factory=lambda: _diffusion_method("srdiff"),
        description="SRDiff (Li et al. 2022): residual target, RRDB LR-encoder features",
        modalities=["natural image"],
        default=True,
    )
    register(
        name="resshift",
        factory=lambda: _diffusion_method("resshift"),
        description="ResShift (Yue et al. 2023): 15-step chain shifting the residual from up(LR) to HR",
        modalities=["natural image"],
    )
    for name, description in ZERO_SHOT.items():
        register(name=name, factory=_zero_shot(name), description=description, modalities=["natural image"])


#: The zero-shot methods: an unconditional prior (--weights) steered by the measurement; presets in configs/<name>.yaml.
ZERO_SHOT = {
    "ddnm": "DDNM (Wang et al. 2023): range-null-space decomposition, zero-shot with an unconditional prior (--weights)",
    "ddnm+": "DDNM+ (Wang et al. 2023): DDNM for noisy measurements (consistency.sigma_y), zero-shot",
    "ilvr": "ILVR (Choi et al. 2021): each sample's low-pass from the measurement, zero-shot",
    "dps": "DPS (Chung et al. 2023): diffusion posterior sampling by measurement gradients, zero-shot",
    "ccdf": "CCDF (Chung et al. 2022): truncated start from the forward-diffused estimate, zero-shot",
}


def _diffusion_method(name: str) -> Any:
    from restore_image.diffusion_methods import ImageDiffusionSR

    return ImageDiffusionSR(name)


def _zero_shot(name: str) -> Any:
    def make() -> Any:
        from restore_image.diffusion_methods import ImageZeroShot

        return ImageZeroShot(name)

    return make


@hookimpl
def register_degradations(register: Any) -> None:
    register(name="area", factory=_lazy("restore_core.degradations", "area_downsample"), description="×s average pooling")
    register(
        name="bicubic",
        factory=_lazy("restore_image.degradations", "bicubic_downsample"),
        description="antialiased bicubic downsampling, optional Gaussian noise",
    )
    register(
        name="mixed",
        factory=_lazy("restore_core.degradations", "mixed_downsample"),
        description="per sample area, antialiased bicubic or Gaussian blur + area, then optional noise",
    )


@hookimpl
def register_configs(register: Any) -> None:
    register(method="defaults", config=CONFIG_DIR / "defaults.yaml")
    for method in ("bicubic", "sr3", "srdiff", "resshift", *ZERO_SHOT):
        register(method=method, config=CONFIG_DIR / f"{method}.yaml")
