"""Run published conditional checkpoints with the project's methods: ``--method srdiff --weights srdiff-df2k-x4``.

A *runner* turns a weights-registry entry of a published architecture into a
model the sampling plan can run (:func:`restore_core.engine.plan.run_plan`):
it builds the reference network (:func:`restore_core.published.build`), loads
the file strictly, and adapts the reference's conditioning, parameterisation,
target space and noise schedule to the plan's model interface (``schedule``,
``prediction_type``, ``process``, ``spatial_dims``, ``wavelet``, ``space``,
``channels``, ``target_channels``, ``condition(lr, hr_size, ...)``,
``denoise(x_t, t, cond)``, ``to_target``, ``from_target``, ``target_grid``,
``shift_origin``), so that the method's own sampling (plan, windows,
consistency) runs the published weights.

``RUNNERS`` maps an architecture to ``"module:function"``, a function
``load(spec, path, weights, device) -> nn.Module`` where ``spec`` is the
entry's ``arch``/``config``/``diffusion`` (plus ``extra``: the entry's other
fields), ``path`` the verified weights file and ``weights`` the
:class:`~restore_core.published.catalogue.WeightsRegistry` (for companion
files, such as ResShift's autoencoder).  A method declares the architectures
it can run in ``published_archs``.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Mapping

RUNNERS: dict[str, str] = {
    "srdiff": "restore_core.published.srdiff_runner:load",
    "resshift-swin-unet": "restore_core.published.resshift_runner:load",
    "disc-diff": "restore_core.published.disc_diff_runner:load",
    # conditional guided-diffusion UNets, condition concatenated (AT-DDPM); unconditional ones are zero-shot priors
    "guided-diffusion": "restore_core.published.concat_runner:load",
}


def load_runner(spec: Mapping[str, Any], path: Path, weights: Any, device: str) -> Any:
    """The plan model of a published checkpoint (see the module docstring)."""
    arch = str(spec.get("arch"))
    if arch not in RUNNERS:
        raise KeyError(f"no runner for architecture '{arch}'; runners exist for {', '.join(sorted(RUNNERS))}")
    module, function = RUNNERS[arch].split(":")
    return getattr(importlib.import_module(module), function)(dict(spec), Path(path), weights, device)


__all__ = ["RUNNERS", "load_runner"]
