"""The weights registry: published checkpoints the project knows, and the ones a user adds.

Known entries ship with the package (``known_weights.yaml``: URL, sha256 where
the authors publish one, licence, the architecture and its configuration,
what the weights were trained on).  A user adds entries with ``restore weights
add`` (a local file, copied into the cache, or a URL with its sha256); they are
kept in ``registry.yaml`` in the weights cache (``$RESTORE_CACHE``, default
``~/.cache/restore/weights``), beside the files.  An entry's file is never
trusted unhashed: a download is checked against its sha256 before it is
cached (:mod:`restore_core.weights`), and an added file's sha256 is recorded
and checked again when it is used.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from restore_core.errors import InputError, UsageError
from restore_core.weights import WeightsError, WeightSpec, default_cache_dir, fetch_weights, sha256_of_file

KNOWN = Path(__file__).with_name("known_weights.yaml")
USER_REGISTRY = "registry.yaml"
#: What a weights name may be: it becomes a file name in the cache.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_HASHES: dict[tuple[str, int, int], str] = {}

_FIELDS = ("arch", "config", "diffusion", "url", "download_page", "sha256", "size_bytes", "filename", "licence", "trained_on", "source", "notes", "file", "wrapper")


@dataclass(frozen=True)
class WeightsEntry:
    """One checkpoint: its architecture and configuration, where it comes from, and its card."""

    name: str
    arch: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    diffusion: Mapping[str, Any] = field(default_factory=dict)
    url: str | None = None
    download_page: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    filename: str | None = None
    licence: str = "unknown"
    trained_on: str = "unknown"
    source: str = ""
    notes: str = ""
    file: str | None = None
    wrapper: str | None = None
    origin: str = "known"

    @classmethod
    def from_mapping(cls, name: str, values: Mapping[str, Any], origin: str) -> "WeightsEntry":
        unknown = sorted(set(values) - set(_FIELDS))
        if unknown or "arch" not in values:
            raise UsageError(f"weights entry '{name}': " + (f"unknown fields {unknown}" if unknown else "needs an arch (null: not runnable here)"))
        return cls(name=name, origin=origin, **{k: values[k] for k in _FIELDS if k in values and values[k] is not None})

    def card(self) -> dict[str, Any]:
        """The entry as a plain mapping (``restore weights show``)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, "", {})}

    def local_path(self, cache_dir: Path) -> Path | None:
        """Where the file is on this machine (verified by sha256), or None."""
        if self.file:
            path = Path(self.file)
            return path if path.is_file() and (not self.sha256 or file_sha256(path) == self.sha256) else None
        if self.filename:
            path = cache_dir / self.filename
            return path if path.is_file() and self.sha256 and file_sha256(path) == self.sha256 else None
        return None


def file_sha256(path: Path) -> str:
    """The file's sha256, hashed once per (path, size, modification time) in this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = sha256_of_file(path)
    return _HASHES[key]


class WeightsRegistry:
    """Known and user-added entries; user entries live in ``<cache_dir>/registry.yaml``."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        self.entries: dict[str, WeightsEntry] = {}
        for path, origin in ((KNOWN, "known"), (self.cache_dir / USER_REGISTRY, "added")):
            for name, values in _read_yaml(path).items():
                self.entries[str(name)] = WeightsEntry.from_mapping(str(name), values, origin)

    def get(self, name: str) -> WeightsEntry:
        if name not in self.entries:
            from restore_core.registry import did_you_mean

            raise UsageError(f"unknown weights '{name}'{did_you_mean(name, self.entries)}; see 'restore weights list'")
        return self.entries[name]

    def path_of(self, name: str, progress: bool = False) -> Path:
        """The verified local file of ``name``, downloading it (with its sha256) when it is not there yet."""
        entry = self.get(name)
        if not entry.arch:
            raise UsageError(f"weights '{name}' are listed for reference only: their network is none of restore_core.published's architectures")
        local = entry.local_path(self.cache_dir)
        if local is not None:
            return local
        if entry.file:
            raise InputError(entry.file, f"weights '{name}' are missing or changed since 'restore weights add' (sha256 {entry.sha256})")
        if not entry.url:
            where = entry.download_page or entry.source or "its authors"
            raise WeightsError(f"weights '{name}' have no direct download URL; get the file from {where} and run 'restore weights add {name}-local --file PATH --arch {entry.arch} --config FILE'")
        if not entry.sha256:
            raise WeightsError(
                f"weights '{name}': its authors publish no sha256, so it is not downloaded unverified; download {entry.url} "
                f"yourself and run 'restore weights add {name}-local --file PATH --arch {entry.arch} --config FILE'"
            )
        spec = WeightSpec(name, entry.url, entry.sha256, entry.filename or Path(entry.url).name, entry.size_bytes)
        return fetch_weights(spec, self.cache_dir, progress=progress)

    def add(self, entry: WeightsEntry, source_file: Path | None = None) -> WeightsEntry:
        """Record ``entry`` (a copy of ``source_file`` goes into the cache) after checking that the file fits its architecture."""
        from restore_core.published import build_checked
        from restore_core.published.state_files import load_into

        if not NAME_PATTERN.match(entry.name):
            raise UsageError(f"weights name '{entry.name}': use letters, digits, '.', '_', '+' or '-' (it names a file in the cache)")
        if entry.name in self.entries and self.entries[entry.name].origin == "known":
            raise UsageError(f"'{entry.name}' is a known published checkpoint; add yours under another name")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        if source_file is not None:
            source_file = Path(source_file)
            load_into(build_checked(str(entry.arch), entry.config, "--config"), source_file, entry.wrapper, what=f"architecture '{entry.arch}' with this config")
            target = self.cache_dir / f"{entry.name}{''.join(source_file.suffixes[-1:])}"
            if source_file.resolve() != target.resolve():
                shutil.copyfile(source_file, target)
            entry = dataclasses.replace(entry, file=str(target), sha256=sha256_of_file(target), origin="added")
        else:
            path = fetch_weights(WeightSpec(entry.name, str(entry.url), str(entry.sha256), entry.filename or Path(str(entry.url)).name), self.cache_dir, progress=True)
            load_into(build_checked(str(entry.arch), entry.config, "--config"), path, entry.wrapper, what=f"architecture '{entry.arch}' with this config")
            entry = dataclasses.replace(entry, filename=path.name, origin="added")
        users = _read_yaml(self.cache_dir / USER_REGISTRY)
        users[entry.name] = {k: v for k, v in entry.card().items() if k not in ("name", "origin")}
        from restore_core.atomic import write_text_atomic

        write_text_atomic(self.cache_dir / USER_REGISTRY, yaml.safe_dump(users, sort_keys=True))
        self.entries[entry.name] = entry
        return entry


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(path, f"not a readable weights registry ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise InputError(path, "a weights registry must map names to entries")
    return {str(k): dict(v or {}) for k, v in data.items()}


__all__ = ["WeightsEntry", "WeightsRegistry", "KNOWN"]
