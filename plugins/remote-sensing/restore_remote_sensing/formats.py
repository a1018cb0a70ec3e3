"""File types of the plugin, importable without rasterio (the hook module uses them at load time)."""
from __future__ import annotations

READ_EXTENSIONS = (".tif", ".tiff", ".vrt", ".img", ".jp2")
WRITE_EXTENSIONS = (".tif", ".tiff")
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def sniff_raster(head: bytes) -> bool:
    """TIFF/BigTIFF magic, or a GDAL VRT document."""
    return head.startswith(TIFF_MAGICS) or head.lstrip().startswith(b"<VRTDataset")
