"""Hook implementations of the ``remote-sensing`` plugin (entry point ``remote-sensing``).

Nothing heavy is imported here: rasterio, torch and the methods load when a
registered factory is first called.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from restore_core.hookspecs import hookimpl
from restore_core.hookspecs import lazy as _lazy

from restore_remote_sensing import __version__
from restore_remote_sensing.formats import READ_EXTENSIONS, WRITE_EXTENSIONS, sniff_raster

CONFIG_DIR = Path(__file__).with_name("configs")



@hookimpl
def restore_plugin_info() -> dict[str, Any]:
    return {
        "name": "remote-sensing",
        "version": __version__,
        "api_version": 1,
        "modalities": ["remote sensing", "satellite", "aerial"],
        "description": "GeoTIFF and other GDAL rasters (1..N bands; uint8/uint16/int16/float32), streamed in bounded memory.",
    }


@hookimpl
def register_readers(register: Any) -> None:
    register(
        name="raster",
        read=_lazy("restore_remote_sensing.raster_sample", "read_raster"),
        extensions=READ_EXTENSIONS,
        sniff=sniff_raster,
        description="GeoTIFF, VRT, ERDAS IMG, JPEG 2000 through GDAL (rasterio)",
    )


@hookimpl
def register_writers(register: Any) -> None:
    register(
        name="geotiff",
        write=_lazy("restore_remote_sensing.raster_sample", "write_raster"),
        extensions=WRITE_EXTENSIONS,
        description="tiled, compressed GeoTIFF; cog=true for a Cloud-Optimized GeoTIFF with overviews",
    )


@hookimpl
def register_methods(register: Any) -> None:
    register(
        name="bicubic",
        factory=_lazy("restore_remote_sensing.bicubic", "Bicubic"),
        description="bicubic interpolation of every band, streamed window by window (baseline; the default at scales no model was trained for)",
        modalities=["remote sensing"],
        default=True,
    )
    register(
        name="dmdc",
        factory=_lazy("restore_remote_sensing.dmdc", "DMDC"),
        description="DMDC (Liu et al. 2022): SR3-style DDPM with detail-complement masking and a pixel-constraint loss (RGB bands; the default at ×4)",
        modalities=["remote sensing"],
        default=True,
        default_scales=[4],
    )
    register(
        name="ddsr",
        factory=_lazy("restore_remote_sensing.ddsr", "DDSR"),
        description="DDSR (Xu et al. 2023): blind SR, a PCA kernel-code predictor conditions an RRDB-encoder diffusion model (RGB bands)",
        modalities=["remote sensing"],
    )


@hookimpl
def register_degradations(register: Any) -> None:
    register(
        name="area",
        factory=_lazy("restore_core.degradations", "area_downsample"),
        description="×s average pooling",
    )
    register(
        name="mixed",
        factory=_lazy("restore_core.degradations", "mixed_downsample"),
        description="per sample area, antialiased bicubic or Gaussian blur + area, then optional noise",
    )
    register(
        name="anisotropic_gaussian",
        factory=_lazy("restore_remote_sensing.degradations", "anisotropic_gaussian"),
        description="random anisotropic Gaussian blur + ×s downsampling + noise (DDSR training); .sample() returns the kernels",
    )


@hookimpl
def register_configs(register: Any) -> None:
    register(method="defaults", config=CONFIG_DIR / "defaults.yaml")
    for method in ("bicubic", "dmdc", "ddsr"):
        register(method=method, config=CONFIG_DIR / f"{method}.yaml")
