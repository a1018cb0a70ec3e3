"""Hook implementations of the ``turbulence`` plugin (entry point ``turbulence``).

Nothing heavy is imported here: frames, the simulator and the methods load when first used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from restore_core.hookspecs import hookimpl
from restore_core.hookspecs import lazy as _lazy

from restore_turbulence import __version__

CONFIG_DIR = Path(__file__).with_name("configs")
METHODS = ("at-ddpm", "at-vardiff", "average-unsharp")


@hookimpl
def restore_plugin_info() -> dict[str, Any]:
    return {
        "name": "turbulence",
        "version": __version__,
        "api_version": 1,
        "modalities": ["long-range frame", "burst of a static scene", "video"],
        "description": "Atmospheric turbulence: physical simulator, AT-DDPM and AT-VarDiff; frames, multi-page TIFF bursts, videos.",
    }


@hookimpl
def register_readers(register: Any) -> None:
    from restore_turbulence import frames

    frames.register_readers(register)


@hookimpl
def register_writers(register: Any) -> None:
    from restore_turbulence import frames

    frames.register_writers(register)


@hookimpl
def register_methods(register: Any) -> None:
    register(name="at-ddpm", factory=_lazy("restore_turbulence.methods.at_ddpm", "ATDDPM"), default=True,
             description="AT-DDPM (Nair et al. 2023): conditional DDPM started from the forward-diffused turbulent frame",
             modalities=["long-range frame", "burst of a static scene", "video"])
    register(name="at-vardiff", factory=_lazy("restore_turbulence.methods.at_vardiff", "ATVarDiff"),
             description="AT-VarDiff (Wang et al. 2023): conditional diffusion guided by a variational latent prior of the input",
             modalities=["long-range frame", "burst of a static scene", "video"])
    register(name="average-unsharp", factory=_lazy("restore_turbulence.methods.baseline", "AverageUnsharp"),
             description="classical baseline: registered burst / neighbour average, then unsharp masking",
             modalities=["burst of a static scene", "video", "long-range frame"])


@hookimpl
def register_degradations(register: Any) -> None:
    register(name="turbulence", factory=_lazy("restore_turbulence.degradation", "turbulence_degradation"),
             description="physical simulator (phase screens, tilt then blur, noise) at D/r0 = d_r0 with `frames` frames fused")
    register(name="turbulence_random", factory=_lazy("restore_turbulence.degradation", "random_turbulence_degradation"),
             description="the training distribution: D/r0 1-6, 1-16 frames, anisoplanatism, sampling, wind and noise drawn per sample")
    register(name="warp_blur", factory=_lazy("restore_turbulence.degradation", "warp_blur_degradation"),
             description="a different model for generalisation tests: elastic warp, Gaussian blur, noise (never trained on)")


@hookimpl
def register_cli_options(register: Any) -> None:
    register(name="--burst", key="input.folder_as_one", flag_only=True,
             help="an input folder is ONE burst of a static scene (its frames fused into one output image)")


@hookimpl
def register_commands(register: Any) -> None:
    from restore_turbulence.commands import SIMULATE

    register(**SIMULATE)


@hookimpl
def register_configs(register: Any) -> None:
    register(method="defaults", config=CONFIG_DIR / "defaults.yaml")
    for method in METHODS:
        register(method=method, config=CONFIG_DIR / f"{method}.yaml")
