"""What loaded plugins contributed: readers, writers, methods, configs...

A :class:`Registry` is filled by the ``register`` callbacks handed to the
registration hooks (see :mod:`restore_core.hookspecs`) and queried by the API.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from restore_core.atomic import full_suffix
from restore_core.errors import InputError, PluginError, UsageError

SNIFF_BYTES = 512

# The keyword arguments each kind of registration accepts: (required, optional).
# Arguments may be added here in later API versions; none is ever removed.
REGISTRATION_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "readers": (("name", "read", "extensions"), ("sniff", "description", "folder")),
    "writers": (("name", "write", "extensions"), ("description", "check")),
    "degradations": (("name", "factory"), ("description",)),
    "conditioning": (("name", "factory"), ("description",)),
    "denoisers": (("name", "factory"), ("description",)),
    "methods": (("name", "factory"), ("description", "modalities", "default", "default_with_ref", "default_scales")),
    "sampler_steps": (("name", "factory"), ("description",)),
    "configs": (("method", "config"), ()),
    "commands": (("name", "help", "add_arguments", "run"), ()),
    "cli_options": (("name", "key", "help"), ("flag_only", "metavar")),
}


@dataclass
class Entry:
    """One registered contribution."""

    kind: str
    name: str
    plugin: str
    fields: dict[str, Any]

    def __getattr__(self, item: str) -> Any:
        try:
            return self.__dict__["fields"][item]
        except KeyError:
            raise AttributeError(item) from None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest known word, or ''."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass
class Registry:
    """All contributions of the loaded plugins, by kind and name."""

    entries: dict[str, dict[str, Entry]] = field(
        default_factory=lambda: {kind: {} for kind in REGISTRATION_KINDS}
    )
    configs: dict[str, list[Entry]] = field(default_factory=dict)

    def callback(self, kind: str, plugin: str) -> Callable[..., None]:
        """Build the ``register`` callback that a registration hook receives."""
        required, optional = REGISTRATION_KINDS[kind]

        def register(**kwargs: Any) -> None:
            missing = [k for k in required if k not in kwargs]
            unknown = [k for k in kwargs if k not in required + optional]
            if missing or unknown:
                raise PluginError(
                    f"plugin '{plugin}': register_{kind}() got "
                    + (f"missing {missing} " if missing else "")
                    + (f"unknown {unknown}{did_you_mean(unknown[0], required + optional)}" if unknown else "")
                )
            if kind == "configs":
                entry = Entry(kind, str(kwargs["method"]), plugin, dict(kwargs))
                self.configs.setdefault(entry.name, []).append(entry)
                return
            name = str(kwargs["name"])
            if name in self.entries[kind]:
                other = self.entries[kind][name].plugin
                raise PluginError(f"plugin '{plugin}': {kind[:-1]} '{name}' is already registered by '{other}'")
            fields = dict(kwargs)
            if "extensions" in fields:
                fields["extensions"] = tuple(e.lower() for e in fields["extensions"])
            self.entries[kind][name] = Entry(kind, name, plugin, fields)

        return register

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def get(self, kind: str, name: str) -> Entry:
        """Return one entry or raise a UsageError listing the known names."""
        try:
            return self.entries[kind][name]
        except KeyError:
            known = self.names(kind)
            label = kind[:-1] if kind.endswith("s") else kind
            raise UsageError(
                f"unknown {label} '{name}'{did_you_mean(name, known)}; known: {', '.join(known) or 'none'}"
            ) from None

    def default_candidates(self, with_ref: bool = False) -> list[str]:
        """Methods a run without ``--method`` may get, most preferred first.

        With a reference (``--ref``), methods marked ``default_with_ref=True``
        come first (e.g. a method guided by another contrast). Then the
        methods marked ``default=True`` that name ``default_scales`` (the
        default only at those scales, e.g. a model trained for ×4), then the
        other ``default=True`` ones (any scale), then the only method there
        is. Ties go by name.
        """
        methods = self.entries["methods"]
        order: list[str] = []
        if with_ref:
            order += sorted(n for n, e in methods.items() if e.fields.get("default_with_ref"))
        defaults = [n for n, e in methods.items() if e.fields.get("default")]
        order += sorted(n for n in defaults if methods[n].fields.get("default_scales"))
        order += sorted(n for n in defaults if not methods[n].fields.get("default_scales"))
        if not order and len(methods) == 1:
            order.append(next(iter(methods)))
        if not order:
            raise UsageError(f"choose a --method; known: {', '.join(sorted(methods)) or 'none'}")
        return list(dict.fromkeys(order))

    def is_default_at(self, method: str, scale: Any) -> bool:
        """Whether ``method`` may be the default at ``scale`` (true unless it names other ``default_scales``)."""
        scales = self.get("methods", method).fields.get("default_scales")
        if not scales:
            return True
        try:
            return any(abs(float(scale) - float(s)) < 1e-9 for s in scales)
        except (TypeError, ValueError):  # a per-axis scale such as "2,2,1"
            return False

    def default_method(self, with_ref: bool = False, scale: Any = None) -> str:
        """The first of :meth:`default_candidates` that is a default at ``scale`` (None: the first)."""
        candidates = self.default_candidates(with_ref)
        if scale is None:
            return candidates[0]
        return next((m for m in candidates if self.is_default_at(m, scale)), candidates[-1])

    def extensions(self, kind: str) -> list[str]:
        return sorted({ext for e in self.entries[kind].values() for ext in e.fields["extensions"]})

    def _by_extension(self, kind: str, path: Path) -> Entry | None:
        suffix = full_suffix(path).lower()
        for entry in self.entries[kind].values():
            if suffix and suffix in entry.fields["extensions"]:
                return entry
        return None

    def folder_reader(self) -> Entry | None:
        """The reader registered with ``folder=True`` (reads a whole folder as one input), if any."""
        return next((e for e in self.entries["readers"].values() if e.fields.get("folder")), None)

    def reader_for(self, path: Path) -> Entry:
        """Pick the reader by content sniffing, falling back to the extension."""
        try:
            with open(path, "rb") as handle:
                head = handle.read(SNIFF_BYTES)
        except IsADirectoryError:
            raise InputError(path, "is a directory, expected a file") from None
        except FileNotFoundError:
            raise InputError(path, "no such file") from None
        except PermissionError:
            raise InputError(path, "permission denied") from None
        except OSError as exc:
            raise InputError(path, f"cannot be read ({exc.strerror or exc})") from None
        if not head:
            raise InputError(path, "file is empty (0 bytes)")
        for entry in self.entries["readers"].values():
            sniff = entry.fields.get("sniff")
            if sniff is not None and sniff(head):
                return entry
        entry = self._by_extension("readers", path)
        if entry is None:
            raise InputError(
                path,
                f"unsupported file type '{full_suffix(path) or '(none)'}'; "
                f"this plugin reads {', '.join(self.extensions('readers')) or 'nothing'}",
            )
        return entry

    def can_read(self, path: Path) -> bool:
        """True when a reader claims the file by its extension (cheap, for folders)."""
        return self._by_extension("readers", path) is not None

    def writer_for(self, path: Path) -> Entry:
        entry = self._by_extension("writers", path)
        if entry is None:
            raise UsageError(
                f"{path}: cannot write '{full_suffix(path) or '(no extension)'}'; "
                f"this plugin writes {', '.join(self.extensions('writers')) or 'nothing'}"
            )
        return entry


def add_core_contributions(registry: Registry) -> Registry:
    """Register the core's own denoisers and encoders (:mod:`restore_core.builtin`) into ``registry``."""
    from restore_core import builtin

    builtin.register_denoisers(register=registry.callback("denoisers", builtin.CORE))
    builtin.register_conditioning(register=registry.callback("conditioning", builtin.CORE))
    return registry


_CORE_ONLY: Registry | None = None


def core_registry() -> Registry:
    """A registry holding the core's contributions only, for code that runs without a plugin."""
    global _CORE_ONLY
    if _CORE_ONLY is None:
        _CORE_ONLY = add_core_contributions(Registry())
    return _CORE_ONLY
