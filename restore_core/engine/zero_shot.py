"""Zero-shot restoration with any unconditional prior: the measurement steers, the prior knows images.

The methods differ only in their sampling plan, which is why each is a preset
of config (``configs/<plugin>/<method>.yaml``) on this one class:

* **DDNM** (Wang et al. 2023, eq. 13): range-null-space decomposition, x0 ← x0 + A⁺(y − A x0)
  at every step; **DDNM+** (eq. 17-19) scales the correction for noisy y (``sigma_y``);
* **ILVR** (Choi et al. 2021, eq. 8): the low-pass part of each new sample replaced by the
  measurement's, ``x ← x − A⁺A x + A⁺A y_t``;
* **DPS** (Chung et al. 2023, Alg. 1): a gradient step on ``‖y − A x0(x_t)‖`` through the network;
* **CCDF** (Chung, Sim & Ye 2022): start from the forward-diffused initial estimate at t0 < T
  (``start.mode: truncated``), so far fewer steps run;
* **R2D2+** as its paper describes it (Chung, Lee & Ye 2023): start from the noisy input at its
  own noise level (``start.mode: noisy_input``) with a soft low-frequency regularisation (λ ≈ 0.03).

The prior is a network of :mod:`restore_core.published` (``prior.arch``,
``prior.config``, ``prior.diffusion``) whose weights come from ``--weights``: a
name in the weights registry (``restore weights list``; its entry names the
architecture, configuration and schedule) or a file (loaded into
``prior.arch``); without ``--weights``, the plugin's small shipped prior
(``prior.checkpoint``).  The measurement operator is ``consistency.operator``
(SR by average pooling or bicubic, Gaussian deblurring, denoising) or the one a
plugin supplies (MRI's k-space truncation).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch
from omegaconf import DictConfig

from restore_core.context import RunContext
from restore_core.engine.loading import LoadedModel, plain
from restore_core.engine.prior import UnconditionalPrior
from restore_core.engine.sr_method import DiffusionSRMethod
from restore_core.errors import ConfigError, InputError


class ZeroShotMethod(DiffusionSRMethod):
    """An unconditional prior steered by the measurement (see the module docstring); any integer scale, 1 included."""

    name = "zero-shot"

    def __init__(self) -> None:
        super().__init__()
        self._priors: dict[tuple[str, str], LoadedModel] = {}

    # -- the prior -----------------------------------------------------------------------
    def prior_source(self, cfg: DictConfig, progress: bool = False) -> tuple[Path, dict[str, Any], str | None]:
        """The weights file and its architecture (``arch``, ``config``, ``diffusion``) for this run."""
        section = dict(plain(cfg.get("prior")) or {})
        spec = {key: section.get(key) for key in ("arch", "config", "diffusion")}
        weights = cfg.get("weights")
        if weights:
            from restore_core.published.catalogue import WeightsRegistry

            registry = WeightsRegistry()
            if str(weights) in registry.entries:
                entry = registry.get(str(weights))
                spec = {"arch": entry.arch, "config": dict(entry.config), "diffusion": dict(entry.diffusion) or spec["diffusion"]}
                return registry.path_of(str(weights), progress=progress), spec, entry.wrapper
            path = Path(str(weights)).expanduser()
            if not path.is_file():
                raise ConfigError(f"--weights {weights}: neither a file nor a name in the weights registry (restore weights list)")
            return path, {**spec, **_card_spec(path)}, None
        path = self.checkpoints.resolve(str(section.get("checkpoint") or ""), key="prior.checkpoint")
        return path, {**spec, **_card_spec(path)}, None

    def load(self, cfg: DictConfig, channels: int, context: RunContext) -> LoadedModel:
        """The prior (cached per file and device) as the run's model.

        A JSON card beside the weights file names their architecture; where it differs from the
        run's ``prior.*`` one warning line says so (the card describes the file, so it wins).
        Learned variance is read off the network (``out_channels`` = 2 x the image channels) when the
        schedule does not say.
        """
        from restore_core.published import build_checked
        from restore_core.published.state_files import load_into

        path, spec, wrapper = self.prior_source(cfg, progress=not context.quiet)
        key = (str(path), str(context.device))
        if key not in self._priors:
            if not spec.get("arch"):
                raise ConfigError(f"{path}: no prior.arch for these weights (give --weights a registry name, or set prior.arch/prior.config)")
            section = dict(plain(cfg.get("prior")) or {})
            differing = [k for k in ("arch", "config") if section.get(k) not in (None, spec.get(k)) and not cfg.get("weights")]
            if differing:
                context.log(f"restore: warning: prior.{', prior.'.join(differing)} differ from {path.name}'s card; the card's architecture is used")
            network = build_checked(str(spec["arch"]), dict(spec.get("config") or {}), f"{path}: the prior's config")
            load_into(network, path, wrapper, what=f"architecture '{spec['arch']}' with this config")
            diffusion = dict(spec.get("diffusion") or {})
            if "learn_sigma" not in diffusion:
                diffusion["learn_sigma"] = int(getattr(network, "out_channels", channels)) == 2 * channels
            prior = UnconditionalPrior(network, diffusion, channels, self.spatial_dims)
            self._priors[key] = LoadedModel(prior.to(context.device).eval(), cfg, {"prior": spec, "path": str(path)}, path)
        return self._priors[key]

    def train(self, cfg: DictConfig, context: RunContext, *, data: Any, output_dir: Any = None, max_steps: int | None = None) -> Path:
        """Train the unconditional prior itself (``prior.arch`` / ``prior.config`` / ``prior.diffusion``) on HR files."""
        return super().train(cfg, context, data=data, output_dir=output_dir, max_steps=max_steps)

    def degradation(self, cfg: DictConfig, scale: int, context: RunContext) -> Any:
        """The prior learns clean images only: the "LR" of its training pairs is the HR patch itself."""
        return lambda hr, generator=None: hr

    def build_model(self, cfg: DictConfig, channels: int, networks: Any = None) -> torch.nn.Module:
        from restore_core.published import build_checked

        section = dict(plain(cfg.get("prior")) or {})
        if not section.get("arch"):
            raise ConfigError("training a prior needs prior.arch and prior.config")
        network = build_checked(str(section["arch"]), dict(section.get("config") or {}), "prior.config")
        return UnconditionalPrior(network, dict(section.get("diffusion") or {}), channels, self.spatial_dims)

    def plan(self, cfg: DictConfig, loaded: LoadedModel, context: RunContext) -> Any:
        """The preset's plan; what an unconditional prior cannot run is refused here, before any window."""
        plan = super().plan(cfg, loaded, context)
        if plan.guidance_scale != 1.0:
            raise ConfigError("guidance.scale must be 1 for zero-shot methods: an unconditional prior has no condition to guide by")
        if plan.sampler == "iddpm" and not getattr(loaded.model, "learn_sigma", False):
            raise ConfigError("sampler.name=iddpm needs a prior with learned variance (diffusion.learn_sigma); use ddpm or ddim")
        return plan


def _card_spec(path: Path) -> Mapping[str, Any]:
    """``arch``/``config``/``diffusion`` from a JSON card beside a weights file (``<file>.json`` or ``<stem>.json``)."""
    for card in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if card.is_file():
            try:
                values = json.loads(card.read_text())
            except (OSError, ValueError) as exc:
                raise InputError(card, f"not a readable weights card ({' '.join(str(exc).split())})") from None
            prior = values.get("prior", values) if isinstance(values, dict) else {}
            return {k: prior[k] for k in ("arch", "config", "diffusion") if k in prior}
    return {}


__all__ = ["ZeroShotMethod"]
