"""Compose the resolved config of a run with OmegaConf.

Layers, lowest first: core defaults < the plugin's ``defaults`` config < the
method's config (``configs/<plugin>/<method>.yaml``) < a ``--config`` file <
command-line flags < ``key=value`` overrides.  Only the first three layers may
introduce keys; a later layer naming an unknown key is an error with a
did-you-mean hint.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from restore_core.errors import ConfigError
from restore_core.registry import Registry, did_you_mean

CORE_DEFAULTS = Path(__file__).with_name("configs") / "defaults.yaml"


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
    except (OmegaConfBaseException, OSError, ValueError) as exc:
        raise ConfigError(f"{label}: invalid config ({exc})") from None
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"{label}: a config must be a mapping")
    return loaded


def key_paths(cfg: DictConfig, prefix: str = "") -> list[str]:
    """Every dotted key path of a config (``sampler.steps``...)."""
    paths: list[str] = []
    for key in cfg.keys():
        path = f"{prefix}{key}"
        paths.append(path)
        value = cfg._get_node(key)
        if isinstance(value, DictConfig):
            paths.extend(key_paths(value, f"{path}."))
    return paths


def _merge_known(base: DictConfig, layer: DictConfig, label: str) -> DictConfig:
    """Merge ``layer`` into ``base``; every key of ``layer`` must exist in ``base``."""
    known = key_paths(base)
    for path in key_paths(layer):
        if path not in known:
            raise ConfigError(f"{label}: unknown config key '{path}'{did_you_mean(path, known)}")
    try:
        return OmegaConf.merge(base, layer)  # type: ignore[return-value]
    except (ConfigKeyError, OmegaConfBaseException) as exc:
        raise ConfigError(f"{label}: {exc}") from None


def parse_overrides(overrides: Iterable[str]) -> DictConfig:
    """Parse ``key=value`` strings (OmegaConf dotlist syntax)."""
    items = list(overrides)
    for item in items:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"override '{item}' is not of the form key=value")
    try:
        return OmegaConf.from_dotlist(items)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid override: {exc}") from None


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
    cfg = _as_config(CORE_DEFAULTS, str(CORE_DEFAULTS))
    for layer_name in ("defaults", method):
        for entry in registry.configs.get(layer_name, []):
            # Plugin layers may add keys: they define what the method understands.
            cfg = OmegaConf.merge(cfg, _as_config(entry.config, f"config '{layer_name}' of plugin '{plugin}'"))  # type: ignore[assignment]
    cfg.plugin = plugin
    cfg.method = method
    if config_file is not None:
        cfg = _merge_known(cfg, _as_config(config_file, str(config_file)), str(config_file))
    if flags:
        dotted = [f"{k}={v}" for k, v in flags.items() if v is not None]
        cfg = _merge_known(cfg, parse_overrides(dotted), "command line")
    if overrides:
        cfg = _merge_known(cfg, parse_overrides(overrides), "command line")
    if cfg.method != method or cfg.plugin != plugin:
        raise ConfigError("'plugin' and 'method' are chosen with --plugin and --method, not in a config")
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config interpolation failed: {exc}") from None
    OmegaConf.set_readonly(cfg, True)
    return cfg


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg)
