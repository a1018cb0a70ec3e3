"""GeoTIFF and other GDAL rasters, in and out, with rasterio (issue 5, items 1 and 8).

Reading accepts any raster GDAL opens with 1..N bands of one data type among
uint8, uint16, int16 and float32; other types (int8, int32, float64, complex...)
are refused with a one-line hint, since a silent conversion would change the
file's values or precision.  A missing CRS is a warning (the pixel grid is
kept); a rotated or sheared geotransform is *handled*: the output transform is
``T * Affine.scale(1 / s)`` for any affine ``T``, which keeps the upper-left
corner and the covered parallelogram exactly.  GCP georeferencing is kept with
GCP pixel positions scaled; RPCs are dropped with a warning.

Writing makes a tiled, compressed (deflate + predictor) GeoTIFF carrying band
descriptions, colour interpretation, dataset and band tags, units,
scales/offsets and nodata, all inside the file (PAM sidecars are disabled, as
a sidecar would not follow the atomic rename).  ``cog: true`` streams into an
intermediate GeoTIFF beside the target, then GDAL's COG driver copies it into
Cloud-Optimized layout and builds the overviews (``io.overview_resampling``).
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from restore_core.errors import InputError

SUPPORTED_DTYPES = ("uint8", "uint16", "int16", "float32")
_PREDICTED = {"deflate", "lzw", "zstd", "lzma"}


def stderr_line(message: str) -> None:
    """Print one line on stderr (the default ``log`` when no RunContext is at hand)."""
    print(message, file=sys.stderr)


@contextlib.contextmanager
def source_errors(path: Path) -> Iterator[None]:
    """Turn GDAL/rasterio failures while reading ``path`` into one-line InputErrors."""
    from rasterio._err import CPLE_BaseError  # GDAL's own errors; rasterio exposes no public alias
    from rasterio.errors import RasterioError

    try:
        yield
    except InputError:
        raise
    except (RasterioError, CPLE_BaseError, OSError) as exc:
        raise InputError(path, f"cannot be read as a raster; corrupt or truncated? (GDAL: {_root_cause(exc)})") from None


def _root_cause(exc: BaseException) -> str:
    """The most specific message of an exception chain (rasterio wraps GDAL's in generic ones)."""
    message = type(exc).__name__
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen).strip()
        if text:
            message = text.splitlines()[0]
        seen = seen.__cause__ or seen.__context__
    return message


def compose(transform: Any, other: Any) -> Any:
    """``transform @ other`` (affine >= 3 spells it ``@``, older versions ``*``)."""
    return transform @ other if hasattr(type(transform), "__matmul__") else transform * other


@dataclass(frozen=True)
class RasterGeometry:
    """Where the pixel grid sits: geotransform (any affine) and CRS, or GCPs; None if not georeferenced."""

    transform: Any = None
    crs: Any = None
    gcps: tuple[Any, ...] = ()
    gcp_crs: Any = None

    def scaled(self, factors: Sequence[float]) -> "RasterGeometry":
        """The same bounds sampled ``factors`` = (rows, cols) times denser: ``T * Affine.scale(1/fx, 1/fy)``."""
        from rasterio.control import GroundControlPoint
        from rasterio.transform import Affine

        fy, fx = (float(f) for f in factors)
        transform = None if self.transform is None else compose(self.transform, Affine.scale(1 / fx, 1 / fy))
        gcps = tuple(
            GroundControlPoint(row=g.row * fy, col=g.col * fx, x=g.x, y=g.y, z=g.z, id=g.id, info=g.info) for g in self.gcps
        )
        return RasterGeometry(transform, self.crs, gcps, self.gcp_crs)


@dataclass(frozen=True)
class RasterInfo:
    """What a written output must carry over from its source."""

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    geometry: RasterGeometry
    nodata: float | None
    mask_mode: str  # "nodata" | "mask" (per-dataset mask band) | "alpha" | "none"
    all_valid: bool
    descriptions: tuple[str | None, ...]
    colorinterp: tuple[Any, ...]
    tags: dict[str, str] = field(default_factory=dict)
    band_tags: tuple[dict[str, str], ...] = ()
    units: tuple[str | None, ...] = ()
    scales: tuple[float, ...] = ()
    offsets: tuple[float, ...] = ()


def inspect_raster(path: Path, dataset: Any, log: Callable[[str], None] | None = None) -> RasterInfo:
    """Validate an open dataset against the plugin's rules and collect its metadata."""
    from rasterio.enums import MaskFlags

    log = log or stderr_line
    if dataset.count < 1:
        subdatasets = list(getattr(dataset, "subdatasets", []) or [])
        hint = f"; open one of its subdatasets, e.g. {subdatasets[0]}" if subdatasets else ""
        raise InputError(path, f"has no raster bands{hint}")
    dtypes = sorted(set(dataset.dtypes))
    if len(dtypes) > 1:
        raise InputError(path, f"bands have different data types ({', '.join(dtypes)}); one type per file is supported")
    if dtypes[0] not in SUPPORTED_DTYPES:
        raise InputError(
            path,
            f"data type {dtypes[0]} is not supported (supported: {', '.join(SUPPORTED_DTYPES)}); "
            "convert first, e.g. gdal_translate -ot Float32 in.tif out.tif",
        )
    gcps, gcp_crs = dataset.gcps if dataset.gcps else ([], None)
    has_transform = not dataset.transform.is_identity or (dataset.crs is not None and not gcps)
    geometry = RasterGeometry(dataset.transform if has_transform else None, dataset.crs, tuple(gcps), gcp_crs)
    if dataset.crs is None and gcp_crs is None:
        kept = "transform scaled by 1/scale" if has_transform or gcps else "not georeferenced"
        log(f"restore: warning: {path}: no CRS; the output keeps the pixel grid ({kept}) without a CRS")
    if getattr(dataset, "rpcs", None):
        log(f"restore: warning: {path}: RPC georeferencing is not carried to the output")
    nodatas = [v for v in dataset.nodatavals if v is not None]
    if len({repr(v) for v in nodatas}) > 1:  # repr: NaN != NaN
        log(f"restore: warning: {path}: bands have different nodata values; the output uses {nodatas[0]} for all")
    flags = [set(f) for f in dataset.mask_flag_enums]
    if nodatas:
        mask_mode = "nodata"
    elif any(MaskFlags.alpha in f for f in flags):
        mask_mode = "alpha"
    elif any(MaskFlags.per_dataset in f for f in flags):
        mask_mode = "mask"
    else:
        mask_mode = "none"
    return RasterInfo(
        path=path, width=dataset.width, height=dataset.height, count=dataset.count, dtype=dtypes[0],
        geometry=geometry, nodata=nodatas[0] if nodatas else None, mask_mode=mask_mode,
        all_valid=all(f == {MaskFlags.all_valid} for f in flags),
        descriptions=tuple(dataset.descriptions), colorinterp=tuple(dataset.colorinterp),
        tags=dict(dataset.tags()), band_tags=tuple(dict(dataset.tags(b)) for b in range(1, dataset.count + 1)),
        units=tuple(dataset.units), scales=tuple(dataset.scales), offsets=tuple(dataset.offsets),
    )


def gdal_env(cfg: Any) -> Any:
    """A rasterio.Env with a fixed GDAL block cache, so memory does not grow with the scene."""
    import rasterio

    return rasterio.Env(GDAL_CACHEMAX=int(cfg.io.gdal_cache_mb) * 2**20)


def _predictor(dtype: str, compress: str) -> int | None:
    if compress not in _PREDICTED:
        return None
    return 3 if dtype.startswith("float") else 2  # floating-point or horizontal differencing


def output_profile(info: RasterInfo, geometry: RasterGeometry, shape: tuple[int, int], cfg: Any) -> dict[str, Any]:
    """Creation options of the output GeoTIFF: tiled, compressed, same dtype/nodata, scaled geometry."""
    from rasterio.enums import ColorInterp

    block = int(cfg.io.blocksize)
    if block % 16:
        raise ValueError(f"io.blocksize must be a multiple of 16, got {block}")
    compress = str(cfg.io.compress).lower()
    rgb = tuple(info.colorinterp[:3]) == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    profile: dict[str, Any] = {
        "driver": "GTiff", "height": shape[0], "width": shape[1], "count": info.count, "dtype": info.dtype,
        "nodata": info.nodata, "tiled": True, "blockxsize": block, "blockysize": block,
        "bigtiff": gdal_bigtiff(cfg.io.bigtiff), "num_threads": str(cfg.io.num_threads).upper(),
        "photometric": "RGB" if rgb and info.dtype in ("uint8", "uint16") else "MINISBLACK",
    }
    if compress != "none":
        profile["compress"] = compress
        predictor = _predictor(info.dtype, compress)
        if predictor:
            profile["predictor"] = predictor
    if geometry.transform is not None:
        profile["transform"], profile["crs"] = geometry.transform, geometry.crs
    return profile


def write_metadata(dst: Any, info: RasterInfo, geometry: RasterGeometry) -> None:
    """Copy descriptions, colour interpretation, tags, units, scales/offsets and GCPs to ``dst``."""
    for band, description in enumerate(info.descriptions, start=1):
        if description:
            dst.set_band_description(band, description)
    if len(info.colorinterp) == dst.count:
        dst.colorinterp = info.colorinterp
    tags = {k: v for k, v in info.tags.items() if k != "AREA_OR_POINT"}
    if tags:
        dst.update_tags(**tags)
    if "AREA_OR_POINT" in info.tags:
        dst.update_tags(AREA_OR_POINT=info.tags["AREA_OR_POINT"])
    for band, band_tags in enumerate(info.band_tags, start=1):
        if band_tags:
            dst.update_tags(band, **band_tags)
    if any(info.units):
        dst.units = tuple(u or "" for u in info.units)
    if info.scales and any(s != 1 for s in info.scales):
        dst.scales = info.scales
    if info.offsets and any(o != 0 for o in info.offsets):
        dst.offsets = info.offsets
    if geometry.gcps:
        dst.gcps = (list(geometry.gcps), geometry.gcp_crs)


@contextlib.contextmanager
def open_output(target: Path, info: RasterInfo, geometry: RasterGeometry, shape: tuple[int, int], cfg: Any) -> Iterator[Any]:
    """Create the output (``shape`` = rows, cols) of ``info``'s bands on ``geometry``; yields the dataset.

    With ``cfg.cog`` the dataset is an intermediate GeoTIFF beside ``target``
    that is copied to a COG with overviews when the block exits normally, and
    removed in every case.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    profile = output_profile(info, geometry, shape, cfg)
    target = Path(target)
    cog = bool(cfg.cog)
    path = target
    if cog:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".gtiff.tif", dir=target.parent)
        os.close(fd)
        path = Path(name)
    try:
        with rasterio.Env(GDAL_PAM_ENABLED="NO", GDAL_TIFF_INTERNAL_MASK="YES"), warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path, "w", **profile) as dst:
                write_metadata(dst, info, geometry)
                yield dst
            if cog:
                copy_to_cog(path, target, info.dtype, cfg)
    finally:
        if cog:
            path.unlink(missing_ok=True)


def copy_to_cog(source: Path, target: Path, dtype: str, cfg: Any) -> None:
    """GDAL COG driver: copy ``source`` into Cloud-Optimized layout with overviews."""
    import rasterio.shutil

    compress = str(cfg.io.compress).upper()
    options = {
        "BLOCKSIZE": int(cfg.io.blocksize), "OVERVIEWS": "AUTO", "BIGTIFF": gdal_bigtiff(cfg.io.bigtiff),
        "OVERVIEW_RESAMPLING": str(cfg.io.overview_resampling).upper(), "NUM_THREADS": str(cfg.io.num_threads).upper(),
        "COMPRESS": compress,
    }
    if compress.lower() in _PREDICTED:
        options["PREDICTOR"] = "YES"
    rasterio.shutil.copy(source, target, driver="COG", **options)


def gdal_bigtiff(value: object) -> str:
    """GDAL's BIGTIFF option from the config: YAML's yes/no arrive as booleans."""
    if isinstance(value, bool):
        return "YES" if value else "NO"
    return str(value).upper()
