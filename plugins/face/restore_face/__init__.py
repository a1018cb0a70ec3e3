"""restore plugin ``face``: blind face restoration (DifFace, DiffBFR) of photos with faces in the wild."""
__version__ = "0.1.0"
