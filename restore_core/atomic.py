"""Write outputs atomically: to a temporary file beside the target, then rename.

A crash or a bad input therefore never leaves a partial or corrupt output.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator


def full_suffix(path: Path) -> str:
    """Return the extension of ``path`` including double ones like ``.nii.gz``."""
    name = path.name.lower()
    for double in (".nii.gz", ".tar.gz"):
        if name.endswith(double):
            return path.name[-len(double):]
    return path.suffix


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path with the target's extension; rename it on success.

    On any exception the temporary file is removed and the target is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{full_suffix(target)}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp creates 0600; outputs get normal modes
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_output_with_sidecar(target: Path, write: Callable[[Path], None], sidecar: tuple[Path, str] | None) -> Path:
    """Write ``target`` with ``write(temporary_path)``, plus a text ``sidecar = (path, text)``.

    Order: the output is written to a temporary file; then the sidecar is
    written atomically; then the output is renamed into place.  If writing
    or the rename fails, the sidecar is put back as it was (removed, or its
    previous text restored), so the two never disagree.
    """
    previous = sidecar[0].read_text(encoding="utf-8") if sidecar is not None and sidecar[0].is_file() else None
    sidecar_written = False
    try:
        with atomic_output(target) as tmp:
            write(tmp)
            if sidecar is not None:
                write_text_atomic(sidecar[0], sidecar[1])
                sidecar_written = True
    except BaseException:
        if sidecar is not None and sidecar_written:
            if previous is None:
                sidecar[0].unlink(missing_ok=True)
            else:
                write_text_atomic(sidecar[0], previous)
        raise
    return target
