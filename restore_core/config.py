"""Compose the resolved config of a run with OmegaConf.

Layers, lowest first: core defaults < the plugin's ``defaults`` config < the
method's config (``configs/<plugin>/<method>.yaml``) < a ``--config`` file <
command-line flags < ``key=value`` overrides.

The first three layers are the *defaults*: they define which keys exist and
what type each value has.  A later layer is checked against them:

* a key that the defaults lack is an error with a did-you-mean hint, except
  below an *open* section: one whose default is ``{}`` or ``null`` (such as
  ``train.degradation_params: {}``) accepts any key;
* a value must have the default's type: ``bool`` strictly, a float accepts an
  int, a string is never a number, a list replaces a list; a section can only
  be replaced by a mapping (or ``null``, to switch it off), and a value not by
  a mapping.  A default of ``null`` accepts anything.  A key whose default
  layers disagree (``tiling.overlap: 0.25`` in the core, ``0`` in a plugin)
  accepts every type they used.

A key that takes several forms declares them in a defaults layer under the
reserved top-level key ``_types``, e.g. ``_types: {some_axis: [int, str]}``
(kinds: bool, int, float, str, list, section).  ``_types`` is not part of the
resolved config.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from restore_core.errors import ConfigError
from restore_core.registry import Registry, did_you_mean

CORE_DEFAULTS = Path(__file__).with_name("configs") / "defaults.yaml"
TYPES_KEY = "_types"
KINDS = ("bool", "int", "float", "str", "list", "section")
# Core keys with several valid forms: a scale is 2, 2.5, "2,2,1" or [2, 2, 1].
CORE_VALUE_TYPES: dict[str, tuple[str, ...]] = {"scale": ("int", "float", "str", "list")}
_EXPECTED = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string",
             "list": "a list", "section": "a section of keys"}


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (YAML and OmegaConf messages span several)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        where = f" ({exc.context})" if exc.context else ""
        return f"YAML syntax error at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}{where}"
    text = str(exc).split("\n    full_key:")[0]  # OmegaConf appends key/type details on extra lines
    return " ".join(text.split()) or type(exc).__name__


def _as_config(source: Any, label: str) -> DictConfig:
    try:
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise ConfigError(f"{path}: config file not found")
            loaded = OmegaConf.load(path)
        else:
            loaded = OmegaConf.create(dict(source))
    except ConfigError:
        raise
    except (OmegaConfBaseException, yaml.YAMLError, OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{label}: invalid config: {one_line(exc)}") from None
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"{label}: a config must be a mapping of keys to values")
    return loaded


def read_mapping_file(path: Path) -> dict[str, Any]:
    """A YAML (or JSON) file of keys to values as a plain dict; one ConfigError line when it is not one."""
    return OmegaConf.to_container(_as_config(Path(path), str(path)), resolve=True)  # type: ignore[return-value]


def _kind(node: Any) -> str | None:
    """The kind of a config node; None for null, interpolations and missing values."""
    if isinstance(node, DictConfig):
        return None if node._is_none() else "section"
    if isinstance(node, ListConfig):
        return None if node._is_none() else "list"
    if node._is_none() or node._is_interpolation() or node._is_missing():
        return None
    value = node._value()
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, types):
            return kind
    return type(value).__name__


def walk(cfg: DictConfig, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(dotted path, node)`` of a config, a section before its keys."""
    for key in cfg.keys():
        path = f"{prefix}{key}"
        node = cfg._get_node(key)
        yield path, node
        if isinstance(node, DictConfig) and not node._is_none():
            yield from walk(node, f"{path}.")


def key_paths(cfg: DictConfig, prefix: str = "") -> list[str]:
    """Every dotted key path of a config (``sampler.steps``...)."""
    return [path for path, _ in walk(cfg, prefix)]


@dataclass
class Schema:
    """What the defaults layers allow: known keys, their kinds, open sections."""

    kinds: dict[str, set[str]] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    open: set[str] = field(default_factory=set)

    def add_layer(self, layer: DictConfig, label: str) -> None:
        """Record the kinds of a defaults layer and its ``_types`` declarations (removed from it)."""
        declared = layer.pop(TYPES_KEY, None)
        for path, node in walk(layer):
            self.known.add(path)
            kinds = self.kinds.setdefault(path, set())
            if _kind(node) is not None:
                kinds.add(str(_kind(node)))
        for path, kinds in _declared_kinds(OmegaConf.to_container(declared) if declared is not None else {}):
            unknown = [k for k in kinds if k not in KINDS]
            if unknown:
                raise ConfigError(f"{label}: {TYPES_KEY}.{path}: unknown kind {unknown[0]!r}; kinds: {', '.join(KINDS)}")
            self.kinds.setdefault(path, set()).update(kinds)

    def finish(self, defaults: DictConfig) -> None:
        """Open every section whose resolved default is ``{}`` or ``null``."""
        for path, node in walk(defaults):
            if _kind(node) is None and not _is_value_node_interpolation(node):
                self.open.add(path)
            elif isinstance(node, DictConfig) and len(node) == 0:
                self.open.add(path)

    def below_open(self, path: str) -> bool:
        return any(path.startswith(f"{prefix}.") for prefix in self.open)

    def check(self, layer: DictConfig, label: str) -> None:
        """Refuse unknown keys and values of the wrong type, naming the key."""
        for path, node in walk(layer):
            if self.below_open(path):
                continue
            if path not in self.known:
                raise ConfigError(f"{label}: unknown config key '{path}'{did_you_mean(path, self.known)}")
            problem = _type_problem(path, self.kinds.get(path, set()), node)
            if problem:
                raise ConfigError(f"{label}: {problem}")


def _declared_kinds(declared: Any, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    """``(dotted path, kinds)`` of a ``_types`` mapping, nested (``io: {threads: [str, int]}``) or dotted."""
    for key, value in dict(declared).items():
        if isinstance(value, dict):
            yield from _declared_kinds(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", [value] if isinstance(value, str) else [str(v) for v in value]


def _is_value_node_interpolation(node: Any) -> bool:
    return not isinstance(node, (DictConfig, ListConfig)) and (node._is_interpolation() or node._is_missing())


def _type_problem(path: str, allowed: set[str], node: Any) -> str | None:
    """Why ``node`` cannot replace a default of the ``allowed`` kinds (None: it can)."""
    kind = _kind(node)
    if not allowed or kind in allowed or (kind == "int" and "float" in allowed):
        return None
    if kind is None:
        if _is_value_node_interpolation(node) or "section" in allowed or "str" in allowed:
            return None  # interpolations are checked when resolved; null switches a section or a named choice off
        return f"'{path}' cannot be null; it must be {_expected(allowed)}"
    if allowed == {"section"}:
        return f"'{path}' is a section, not a value; set its keys instead ('{path}.<key>=...')"
    if kind == "section":
        return f"'{path}' is a value ({_expected(allowed)}), not a section"
    got = "a list" if kind == "list" else repr(node._value())
    return f"'{path}' must be {_expected(allowed)}, got {got}"


def _expected(allowed: set[str]) -> str:
    return " or ".join(_EXPECTED.get(k, k) for k in KINDS if k in allowed)


def parse_overrides(overrides: Iterable[str]) -> DictConfig:
    """Parse ``key=value`` strings (OmegaConf dotlist syntax)."""
    items = list(overrides)
    for item in items:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"override '{item}' is not of the form key=value")
    try:
        return OmegaConf.from_dotlist(items)
    except (OmegaConfBaseException, yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"invalid override: {one_line(exc)}") from None


def _merge(base: DictConfig, layer: DictConfig, label: str) -> DictConfig:
    try:
        return OmegaConf.merge(base, layer)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{label}: {one_line(exc)}") from None


def compose_defaults(registry: Registry, plugin: str, method: str) -> tuple[DictConfig, Schema]:
    """The defaults of ``plugin``/``method`` (core < plugin < method) and their schema."""
    schema = Schema(kinds={k: set(v) for k, v in CORE_VALUE_TYPES.items()})
    cfg = _as_config(CORE_DEFAULTS, str(CORE_DEFAULTS))
    schema.add_layer(cfg, str(CORE_DEFAULTS))
    for layer_name in ("defaults", method):
        for entry in registry.configs.get(layer_name, []):
            label = f"config '{layer_name}' of plugin '{plugin}'"
            layer = _as_config(entry.config, label)
            schema.add_layer(layer, label)  # plugin layers may add keys: they define what the method understands
            cfg = _merge(cfg, layer, label)
    schema.finish(cfg)
    return cfg, schema


def compose_config(
    registry: Registry,
    plugin: str,
    method: str,
    *,
    config_file: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> DictConfig:
    """Return the resolved config of ``plugin``/``method`` with all layers applied."""
    cfg, schema = compose_defaults(registry, plugin, method)
    cfg.plugin = plugin
    cfg.method = method
    layers: list[tuple[DictConfig, str]] = []
    if config_file is not None:
        layers.append((_as_config(config_file, str(config_file)), str(config_file)))
    if flags:
        layers.append((parse_overrides([f"{k}={v}" for k, v in flags.items() if v is not None]), "command line"))
    if overrides:
        layers.append((parse_overrides(overrides), "command line"))
    for layer, label in layers:
        schema.check(layer, label)
        cfg = _merge(cfg, layer, label)
    if cfg.method != method or cfg.plugin != plugin:
        raise ConfigError("'plugin' and 'method' are chosen with --plugin and --method, not in a config")
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config interpolation failed: {one_line(exc)}") from None
    OmegaConf.set_readonly(cfg, True)
    return cfg


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg)
