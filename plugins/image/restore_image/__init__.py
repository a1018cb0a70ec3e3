"""The ``image`` plugin of restore: natural images (PNG, JPEG, TIFF)."""
__version__ = "0.1.0"
