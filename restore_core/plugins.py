"""Find, load and describe plugins (pluggy, entry-point group ``restore.plugins``).

First-party plugins are discovered exactly like third-party ones.  Loading is
per plugin (``--plugin NAME`` imports that plugin alone) and failure-tolerant:
a plugin that fails to import or to register is reported as failed with its
reason, unless ``RESTORE_STRICT_PLUGINS=1`` asks for the exception.
"""
from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from restore_core import API_VERSION, hookspecs
from restore_core.errors import PluginError
from restore_core.registry import REGISTRATION_KINDS, Registry, add_core_contributions, did_you_mean

STRICT_ENV = "RESTORE_STRICT_PLUGINS"


def strict_mode() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class PluginRecord:
    """What is known about one plugin: where it comes from and what it gave."""

    name: str
    source: str
    module: str
    dist_name: str | None = None
    dist_version: str | None = None
    status: str = "not loaded"
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    registry: Registry | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (used by ``restore plugins --json``)."""
        reg = self.registry
        return {
            "name": self.name,
            "version": self.info.get("version") or self.dist_version,
            "api_version": self.info.get("api_version"),
            "description": self.info.get("description", ""),
            "modalities": list(self.info.get("modalities", ())),
            "source": self.source,
            "module": self.module,
            "distribution": self.dist_name,
            "status": self.status,
            "error": self.error,
            "methods": reg.names("methods") if reg else [],
            "default_method": _safe_default(reg),
            "reads": reg.extensions("readers") if reg else [],
            "writes": reg.extensions("writers") if reg else [],
            "degradations": reg.names("degradations") if reg else [],
            "sampler_steps": reg.names("sampler_steps") if reg else [],
            "commands": reg.names("commands") if reg else [],
        }


def _safe_default(reg: Registry | None) -> str | None:
    if reg is None:
        return None
    try:
        return reg.default_method()
    except Exception:
        return None


def discover() -> dict[str, metadata.EntryPoint]:
    """Entry points of the group ``restore.plugins``, by name (no import)."""
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def _record_for(ep: metadata.EntryPoint) -> PluginRecord:
    dist = getattr(ep, "dist", None)
    dist_name = dist.metadata["Name"] if dist is not None else None
    dist_version = dist.version if dist is not None else None
    source = f"entry point of distribution {dist_name} {dist_version}" if dist_name else "entry point"
    return PluginRecord(name=ep.name, source=source, module=ep.value, dist_name=dist_name, dist_version=dist_version)


def new_plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def register_module(record: PluginRecord, module: ModuleType | object) -> PluginRecord:
    """Validate a plugin object against the contract and collect its registrations."""
    manager = new_plugin_manager()
    manager.register(module, name=record.name)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        known = [n for n in dir(hookspecs) if n.startswith(("register_", "restore_"))]
        names = [n for n in dir(module) if n.startswith(("register", "restore")) and n not in known]
        hint = did_you_mean(names[0], known) if names else ""
        raise PluginError(f"plugin '{record.name}': {exc}{hint}") from exc
    registry = add_core_contributions(Registry())
    for kind in REGISTRATION_KINDS:
        getattr(manager.hook, f"register_{kind}")(register=registry.callback(kind, record.name))
    info = manager.hook.restore_plugin_info() or {}
    record.info = dict(info)
    api = record.info.get("api_version", API_VERSION)
    if isinstance(api, int) and api > API_VERSION:
        raise PluginError(f"plugin '{record.name}' needs plugin API {api}; this restore provides {API_VERSION}")
    record.registry = registry
    record.status = "ok"
    return record


def load_plugin(name: str, *, strict: bool | None = None) -> PluginRecord:
    """Import and register the plugin ``name`` alone.

    Raises :class:`PluginError` for an unknown name.  A plugin that fails comes
    back with ``status == "failed"`` and the reason, or raises in strict mode.
    """
    strict = strict_mode() if strict is None else strict
    entry_points = discover()
    if name not in entry_points:
        known = sorted(entry_points)
        raise PluginError(
            f"unknown plugin '{name}'{did_you_mean(name, known)}; installed: {', '.join(known) or 'none'}"
        )
    record = _record_for(entry_points[name])
    try:
        module = entry_points[name].load()
        register_module(record, module)
    except Exception as exc:  # a broken plugin must not take the CLI down
        if strict:
            raise
        record.status = "failed"
        record.error = f"{type(exc).__name__}: {exc}"
        record.registry = None
        if os.environ.get("RESTORE_DEBUG"):
            traceback.print_exc()
    return record


def load_all(*, strict: bool | None = None) -> list[PluginRecord]:
    """Load every installed plugin, each on its own, for listing."""
    return [load_plugin(name, strict=strict) for name in sorted(discover())]


def require_plugin(name: str) -> PluginRecord:
    """Load ``name`` and raise a :class:`PluginError` if it failed."""
    record = load_plugin(name)
    if not record.ok:
        raise PluginError(f"plugin '{name}' failed to load: {record.error}")
    return record
