"""The core's own contributions, registered through the same hooks as any plugin's.

The core keeps no table of its own: its denoiser and LR encoder enter every
plugin's :class:`~restore_core.registry.Registry` through these hook
implementations (owner ``restore_core``), beside what the plugin registers,
and networks are looked up there by name (:mod:`restore_core.nets`).
"""
from __future__ import annotations

from typing import Any

from restore_core.hookspecs import hookimpl, lazy

CORE = "restore_core"


@hookimpl
def register_denoisers(register: Any) -> None:
    register(
        name="conditional_unet", factory=lazy("restore_core.nets.unet", "ConditionalUNet"),
        description="MONAI DiffusionModelUNet with SR3 concatenation and SRDiff feature injection, 2D/3D",
    )
    from restore_core.published import ARCHITECTURES

    for arch in ARCHITECTURES:  # the published reference architectures, by their names (restore_core.published)
        register(name=arch, factory=_published(arch), description=f"published reference architecture '{arch}' (restore_core.published)")


def _published(arch: str) -> Any:
    def make(**kwargs: Any) -> Any:
        from restore_core.published.denoiser import factory

        return factory(arch)(**kwargs)

    return make


@hookimpl
def register_conditioning(register: Any) -> None:
    register(
        name="rrdb", factory=lazy("restore_core.nets.rrdb", "RRDBEncoder"),
        description="RRDB LR encoder (SRDiff sec. 3.3): hidden features injected into the denoiser",
    )
