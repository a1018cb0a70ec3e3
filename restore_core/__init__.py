"""restore: diffusion-model restoration and super-resolution for specialised domains.

Importing this package is cheap: torch and the plugins load only when used.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
API_VERSION = 1

__all__ = ["__version__", "API_VERSION", "restore"]


def restore(*args: Any, **kwargs: Any) -> Any:
    """Restore one file or folder; see :func:`restore_core.api.restore`."""
    from restore_core.api import restore as _restore

    return _restore(*args, **kwargs)
