"""PNG: Pillow decodes 8-bit and lower depths and the metadata; pypng does 16-bit, which Pillow cannot hold."""
from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from restore_core.errors import InputError, UsageError
from restore_core.sample import Sample
from restore_image.io_common import PNG_MAGIC, pil_metadata, to_sample, to_source_dtype

GREY_COLOUR_TYPE = 0


def _read_png16(path: Path) -> np.ndarray:
    """All 16 bits of every sample; palette-free, tRNS colour keys become alpha."""
    import png

    reader = png.Reader(filename=str(path))
    reader.preamble()
    # asDirect() would shift the samples down to the sBIT depth, while the
    # sample's uint16 dtype promises white = 65535: read the stored values.
    reader.sbit = None
    width, height, rows, info = reader.asDirect()
    if info["bitdepth"] != 16:
        raise InputError(path, f"16-bit PNG decoded to {info['bitdepth']} bits")
    return np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, info["planes"])


def read_png(path: Path, cfg: Any = None) -> Sample:
    """Read a PNG of any bit depth; a tRNS colour key or palette alpha becomes an alpha channel.

    An sBIT chunk (significant bits) is not applied: values keep the file's
    full bit depth.  1-, 2- and 4-bit images are read as 8-bit.
    """
    from PIL import Image

    with open(path, "rb") as handle:
        header = handle.read(33)
    if len(header) < 33 or not header.startswith(PNG_MAGIC) or header[12:16] != b"IHDR":
        raise InputError(path, "not a valid PNG (bad header)")
    bit_depth, colour_type = header[24], header[25]
    with Image.open(path) as image:
        orientation, meta = pil_metadata(image)
        if bit_depth == 16:
            array = _read_png16(path)
        else:
            image.load()
            key = image.info.get("transparency")
            if key is not None and colour_type == GREY_COLOUR_TYPE and bit_depth in (2, 4):
                # Pillow scales 2/4-bit grey to 0..255 but not the tRNS key
                image.info["transparency"] = int(key) * (255 // (2**bit_depth - 1))
            if image.mode == "P":
                image = image.convert("RGBA" if key is not None else "RGB")
            elif image.mode in ("1", "I", "I;16"):
                image = image.convert("LA" if key is not None else "L")
            elif image.mode in ("L", "RGB") and key is not None:
                image = image.convert(image.mode + "A")
            array = np.asarray(image)
    return to_sample(array, path, "png", orientation, meta)


def _add_png_chunks(png_bytes: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks before the first IDAT (pypng writes neither)."""
    import png

    chunks = list(png.Reader(bytes=png_bytes).chunks())
    extra = []
    if icc:
        extra.append((b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    if exif:
        extra.append((b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    first_idat = next(i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    out = io.BytesIO()
    png.write_chunks(out, chunks[:first_idat] + extra + chunks[first_idat:])
    return out.getvalue()


def write_png(sample: Sample, path: Path, cfg: Any = None) -> None:
    """Write PNG in the input's bit depth, with ICC profile and EXIF; alpha is straight (unassociated)."""
    array = to_source_dtype(sample, straight_alpha=True)
    icc, exif = sample.meta.get("icc_profile"), sample.meta.get("exif")
    if array.dtype == np.uint8:
        from PIL import Image

        image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
        kwargs = {k: v for k, v in (("icc_profile", icc), ("exif", exif)) if v}
        image.save(path, format="PNG", **kwargs)
        return
    if array.dtype != np.uint16:
        raise UsageError(f"{path}: PNG stores 8- or 16-bit integers, not {array.dtype}; write .tif instead")
    import png

    height, width, channels = array.shape
    writer = png.Writer(width, height, greyscale=channels <= 2, alpha=channels in (2, 4), bitdepth=16)
    buffer = io.BytesIO()
    writer.write(buffer, array.reshape(height, width * channels))
    path.write_bytes(_add_png_chunks(buffer.getvalue(), icc, exif))
