"""restore plugin: atmospheric turbulence."""
__version__ = "0.1.0"
