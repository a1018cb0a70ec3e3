"""Read and write NIfTI-1/2 volumes (``.nii``, ``.nii.gz``) with nibabel.

A 3D volume becomes a :class:`Sample` with one channel, a 4D series one
channel per frame (each frame is restored in turn); ``data`` is float32 in
the file's real-world units (``scl_slope``/``scl_inter`` applied).  Voxel
axes are kept as stored, whatever the orientation: the affine, not the array
order, says where each voxel is, and it travels in :class:`NiftiGeometry`.
The rest of the header (description, intent, ``dim_info``, TR, extensions)
travels in ``Sample.meta["nifti_header"]`` and is written back unchanged.

Outputs are float32 unless ``io.keep_dtype=true``; then the input's on-disk
type and scaling are reused (integers rounded and clipped to the type).
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from restore_core.errors import InputError, UsageError
from restore_core.sample import Sample
from restore_mri.geometry import NiftiGeometry

GZIP_MAGIC = b"\x1f\x8b"
NIFTI1_MAGIC = b"n+1\x00"  # single-file NIfTI-1, at byte 344
NIFTI2_MAGIC = b"n+2\x00"  # single-file NIfTI-2, at byte 4
HEADER_BYTES = 540


def _reason(exc: BaseException) -> str:
    """An exception as one line (nibabel's messages may span several)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def nifti_version(head: bytes) -> int | None:
    """1 or 2 when ``head`` (uncompressed) starts a single-file NIfTI header, else None."""
    if len(head) >= 8 and head[4:8] == NIFTI2_MAGIC:
        return 2
    if len(head) >= 348 and head[344:348] == NIFTI1_MAGIC:
        return 1
    return None


def sniff_nifti(head: bytes) -> bool:
    """Recognise NIfTI-1/2 by magic, looking inside gzip streams (``.nii.gz``)."""
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
        except zlib.error:
            return False
    return nifti_version(head) is not None


def _check_magic(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            compressed = handle.read(2) == GZIP_MAGIC
        opener = gzip.open if compressed else open
        with opener(path, "rb") as handle:  # type: ignore[operator]
            head = handle.read(HEADER_BYTES)
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(path, f"is truncated or corrupt ({_reason(exc)})") from None
    version = nifti_version(head)
    if version is None:
        what = "a gzip file without a NIfTI header" if compressed else "not a NIfTI-1 or NIfTI-2 file"
        raise InputError(path, f"is {what} (no 'n+1'/'n+2' magic)")
    return version


def _spatial_shape(path: Path, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Validate the dimensionality: 3D volume or 4D series (trailing 1s beyond 4D are dropped)."""
    while len(shape) > 4 and shape[-1] == 1:
        shape = shape[:-1]
    if not 3 <= len(shape) <= 4:
        raise InputError(path, f"is a {len(shape)}D image (shape {shape}); the mri plugin reads 3D volumes and 4D series")
    if 0 in shape:
        raise InputError(path, f"has a zero-size axis (shape {shape})")
    return shape


def read_nifti(path: Path, cfg: Any = None) -> Sample:
    """Read a 3D or 4D NIfTI-1/2 file as a (frames, X, Y, Z) float32 :class:`Sample`."""
    import nibabel as nib

    path = Path(path)
    version = _check_magic(path)
    try:
        image = nib.load(str(path))
    except Exception as exc:  # nibabel raises many types for bad headers
        raise InputError(path, f"has an invalid NIfTI header ({_reason(exc)})") from None
    shape = _spatial_shape(path, tuple(int(s) for s in image.shape))
    dtype = np.dtype(image.get_data_dtype())
    if dtype.kind not in "uif" or dtype.fields:
        raise InputError(path, f"holds {dtype} voxels; the mri plugin reads real-valued (magnitude) images")
    try:
        data = np.asarray(image.dataobj, dtype=np.float32).reshape(shape)
    except (EOFError, OSError, ValueError, zlib.error) as exc:
        raise InputError(path, f"is truncated or corrupt ({_reason(exc)})") from None
    data = data[None] if data.ndim == 3 else np.moveaxis(data, -1, 0)
    header = image.header.copy()
    meta = {
        "format": "nifti",
        "nifti_version": version,
        "nifti_header": header,
        "ndim": len(shape),
        # nibabel moves scl_slope/scl_inter from the header into the array proxy on load.
        "slope_inter": (float(getattr(image.dataobj, "slope", 1.0)), float(getattr(image.dataobj, "inter", 0.0))),
    }
    geometry = NiftiGeometry.from_header(header, image.affine)
    return Sample(data=np.ascontiguousarray(data), spatial_dims=3, source_dtype=dtype, meta=meta, path=path, geometry=geometry)


def header_slice_axis(sample: Sample) -> int | None:
    """The slice axis recorded in the header's ``dim_info``, if any."""
    header = sample.meta.get("nifti_header")
    if header is None:
        return None
    return header.get_dim_info()[2]


def keep_dtype(cfg: Any) -> bool:
    """``io.keep_dtype`` of the run's config (False when absent)."""
    if cfg is None:
        return False
    io = cfg.get("io") if hasattr(cfg, "get") else None
    return bool(io.get("keep_dtype", False)) if io is not None else False


def _on_disk(sample: Sample, keep: bool) -> tuple[np.ndarray, float, float]:
    """The array to store and its (slope, inter): float32 as is, or the source type re-scaled."""
    ndim = int(sample.meta.get("ndim", 3 if sample.channels == 1 else 4))
    if ndim == 3 and sample.channels != 1:
        raise UsageError(f"a 3D volume came back with {sample.channels} channels; cannot write it as NIfTI")
    data = sample.data[0] if ndim == 3 else np.moveaxis(sample.data, 0, -1)
    dtype = np.dtype(sample.source_dtype)
    if not keep or dtype == np.float32:
        return np.ascontiguousarray(data, dtype=np.float32), 1.0, 0.0
    slope, inter = sample.meta.get("slope_inter", (1.0, 0.0))
    raw = (data.astype(np.float64) - inter) / slope
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        raw = np.clip(np.rint(raw), info.min, info.max)
    return np.ascontiguousarray(raw.astype(dtype)), slope, inter


def _header_for(sample: Sample, raw: np.ndarray) -> Any:
    import nibabel as nib

    version = int(sample.meta.get("nifti_version", 1))
    header_class = nib.Nifti2Header if version == 2 else nib.Nifti1Header
    source = sample.meta.get("nifti_header")
    header = header_class.from_header(source) if source is not None else header_class()
    old_shape = tuple(source.get_data_shape()) if source is not None else None
    header.set_data_dtype(raw.dtype)
    header.set_data_shape(raw.shape)
    geometry = sample.geometry
    if isinstance(geometry, NiftiGeometry):
        header.set_zooms(tuple(geometry.zooms) + tuple(header.get_zooms()[3:]))  # the TR of a series stays
        header.set_qform(geometry.qform, code=geometry.qform_code)
        header.set_sform(geometry.sform, code=geometry.sform_code)
        header.set_xyzt_units(geometry.xyz_unit, geometry.t_unit)
    slice_dim = header.get_dim_info()[2]
    if slice_dim is not None and old_shape is not None and old_shape[slice_dim] != raw.shape[slice_dim]:
        # The new slices were not acquired: slice timing no longer describes them.
        for key in ("slice_code", "slice_start", "slice_end", "slice_duration"):
            header[key] = 0
    return header


def write_nifti(sample: Sample, path: Path, cfg: Any = None) -> None:
    """Write ``sample`` to ``path`` (``.nii`` or ``.nii.gz``, chosen by its name)."""
    import nibabel as nib

    if sample.spatial_dims != 3:
        raise UsageError(f"{path}: NIfTI output needs a 3D volume, got {sample.spatial_dims} spatial axes")
    raw, slope, inter = _on_disk(sample, keep_dtype(cfg))
    header = _header_for(sample, raw)
    image_class = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
    image = image_class(raw, header.get_best_affine(), header=header)
    image.set_data_dtype(raw.dtype)
    image.header.set_slope_inter(slope, inter)
    nib.save(image, str(path))
