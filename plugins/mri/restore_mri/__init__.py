"""The ``mri`` plugin of restore: NIfTI volumes and series, k-space physics."""
__version__ = "0.1.0"
