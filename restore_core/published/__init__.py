"""Published reference architectures, rebuilt with the reference's exact state-dict keys and forward signatures.

``build(arch, config)`` takes the reference constructor's own keyword
arguments (a researcher's config carries over unchanged) and returns an
``nn.Module`` whose ``state_dict()`` has exactly the keys and shapes of the
published checkpoints, so they load with ``strict=True``.  Equivalence with
the reference code is proven numerically by the tests in ``tests/published``
(fixtures made from the reference implementations; see docs/published.md).

=======================  =====================================================
``arch``                 reference
=======================  =====================================================
``guided-diffusion``     openai/guided-diffusion ``unet.UNetModel`` (ADM)
``difface``              zsyOAOA/DifFace ``UNetModel`` (iDDPM prior)
``disc-diff``            Yebulabula/DisC-Diff ``SuperResModel``
``srdiff``               LeiaLi/SRDiff ``GaussianDiffusion`` (Unet + RRDBNet)
``resshift-swin-unet``   zsyOAOA/ResShift ``UNetModelSwin``
``resshift-vq-f4``       zsyOAOA/ResShift ``VQModelTorch``
=======================  =====================================================
"""
from __future__ import annotations

import importlib
from typing import Any, Mapping

#: ``arch`` -> ``"module:function"`` building it from the reference's keyword arguments (imported on use).
ARCHITECTURES: dict[str, str] = {
    "guided-diffusion": "restore_core.published.guided_diffusion:build",
    "difface": "restore_core.published.difface:build",
    "disc-diff": "restore_core.published.disc_diff:build",
    "srdiff": "restore_core.published.srdiff:build",
    "resshift-swin-unet": "restore_core.published.resshift_swin_unet:build",
    "resshift-vq-f4": "restore_core.published.resshift_vq:build",
}


def build(arch: str, config: Mapping[str, Any]) -> Any:
    """The reference architecture ``arch`` built from the reference constructor's keyword arguments ``config``."""
    if arch not in ARCHITECTURES:
        from restore_core.registry import did_you_mean

        raise KeyError(f"unknown architecture '{arch}'{did_you_mean(arch, ARCHITECTURES)}; known: {', '.join(sorted(ARCHITECTURES))}")
    module, function = ARCHITECTURES[arch].split(":")
    return getattr(importlib.import_module(module), function)(dict(config))


def build_checked(arch: str, config: Mapping[str, Any], where: str = "config") -> Any:
    """:func:`build` for user-facing paths: an unknown architecture or a config it does not take is one
    :class:`~restore_core.errors.ConfigError` line (exit 2) naming ``where`` the config came from."""
    from restore_core.errors import ConfigError

    if arch not in ARCHITECTURES:
        raise ConfigError(f"{where}: unknown architecture '{arch}'; known: {', '.join(sorted(ARCHITECTURES))}")
    try:
        return build(arch, config)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"{where}: cannot build '{arch}' from it ({' '.join(str(exc).split())})") from None


__all__ = ["ARCHITECTURES", "build", "build_checked"]
