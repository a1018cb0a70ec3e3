"""The ``remote-sensing`` plugin of restore: GeoTIFF and other GDAL rasters, streamed window by window."""
__version__ = "0.1.0"
