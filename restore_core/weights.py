"""Download published model weights once, verify them by SHA-256, and cache them.

``fetch_weights`` never trusts a file it has not hashed: a cached file is
reused only if its hash matches, and a download lands under its final name
only after its hash matches (written to a temporary file in the cache
directory, then renamed atomically). ``RESTORE_OFFLINE=1`` forbids network use.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from restore_core.atomic import atomic_output
from restore_core.errors import RestoreError

CACHE_ENV = "RESTORE_CACHE"
OFFLINE_ENV = "RESTORE_OFFLINE"
DOWNLOAD_TIMEOUT_SECONDS = 60
_CHUNK_BYTES = 1 << 20
_SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


class WeightsError(RestoreError):
    """Weights could not be obtained: offline, network failure, or hash mismatch."""

    exit_code = 2  # the environment (network, cache, offline setting) is at fault, not the code


@dataclass(frozen=True)
class WeightSpec:
    """Where a weights file is published and the SHA-256 it must have."""

    name: str
    url: str
    sha256: str
    filename: str
    size: int | None = None

    def __post_init__(self) -> None:
        if not _SHA256_PATTERN.match(self.sha256.lower()):
            raise ValueError(f"{self.name}: sha256 must be 64 hex digits, got {self.sha256!r}")
        if Path(self.filename).name != self.filename or self.filename in ("", ".", ".."):
            raise ValueError(f"{self.name}: filename must be a plain file name, got {self.filename!r}")
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"{self.name}: url must be http(s), got {self.url!r}")


def default_cache_dir() -> Path:
    """``$RESTORE_CACHE`` if set, else ``~/.cache/restore/weights``."""
    env_dir = os.environ.get(CACHE_ENV)
    return Path(env_dir).expanduser() if env_dir else Path.home() / ".cache" / "restore" / "weights"


def is_offline() -> bool:
    """True when ``RESTORE_OFFLINE`` is set to 1/true/yes/on."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def sha256_of_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cached_copy_is_valid(spec: WeightSpec, path: Path) -> bool:
    if not path.is_file() or (spec.size is not None and path.stat().st_size != spec.size):
        return False
    return sha256_of_file(path) == spec.sha256.lower()


def fetch_weights(spec: WeightSpec, cache_dir: str | Path | None = None, progress: bool = False) -> Path:
    """Return the local path of ``spec``'s file, downloading and verifying it if needed."""
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    destination = directory / spec.filename
    if _cached_copy_is_valid(spec, destination):
        return destination
    if is_offline():
        state = "has the wrong SHA-256" if destination.exists() else "does not exist"
        raise WeightsError(
            f"{OFFLINE_ENV} is set, so weights '{spec.name}' cannot be downloaded ({destination} {state}). "
            f"Place {spec.filename} (sha256 {spec.sha256.lower()}) at {destination}; "
            f"it is published at {spec.url}"
        )
    with atomic_output(destination) as temp:  # on any error the temp file is removed
        actual = _download(spec, temp, progress)
        if actual != spec.sha256.lower():
            raise WeightsError(
                f"download of '{spec.name}' from {spec.url} is corrupt or was changed: "
                f"expected sha256 {spec.sha256.lower()}, got {actual}; nothing was cached"
            )
    return destination


def _download(spec: WeightSpec, target: Path, progress: bool) -> str:
    """Write the URL's body to ``target``; return its SHA-256."""
    digest = hashlib.sha256()
    request = urllib.request.Request(spec.url, headers={"User-Agent": "restore-core"})
    try:
        with (
            urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response,
            open(target, "wb") as out,
        ):
            announced = int(response.headers.get("Content-Length") or 0) or None
            total = spec.size or announced
            bar = _progress_bar(spec.filename, total) if progress else None
            received = 0
            for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
            if announced is not None and received != announced:
                raise WeightsError(
                    f"could not download '{spec.name}' from {spec.url}: the transfer was cut short "
                    f"({received} of {announced} bytes); nothing was cached, run again to retry"
                )
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise WeightsError(f"could not download '{spec.name}' from {spec.url}: {reason}") from err
    return digest.hexdigest()


def _progress_bar(filename: str, total: int | None) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=filename, leave=False)
