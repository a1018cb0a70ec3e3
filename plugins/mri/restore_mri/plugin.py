"""Hook implementations of the ``mri`` plugin (entry point ``mri``).

Nothing heavy is imported here: nibabel and torch load when a reader,
writer, degradation, method or command is first used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from restore_core.hookspecs import hookimpl
from restore_core.hookspecs import lazy as _lazy

from restore_mri import __version__

CONFIG_DIR = Path(__file__).with_name("configs")
EXTENSIONS = [".nii", ".nii.gz"]



def _sniff(head: bytes) -> bool:
    from restore_mri.nifti import sniff_nifti  # numpy only; nibabel is not needed to sniff

    return sniff_nifti(head)


@hookimpl
def restore_plugin_info() -> dict[str, Any]:
    return {
        "name": "mri",
        "version": __version__,
        "api_version": 1,
        "modalities": ["MRI"],
        "description": "MRI: NIfTI volumes and 4D series; k-space degradations, sinc baseline, contrast simulation.",
    }


@hookimpl
def register_readers(register: Any) -> None:
    register(name="nifti", read=_lazy("restore_mri.nifti", "read_nifti"), extensions=EXTENSIONS, sniff=_sniff,
             description="NIfTI-1/2, 3D volume or 4D series (each frame restored in turn)")


@hookimpl
def register_writers(register: Any) -> None:
    register(name="nifti", write=_lazy("restore_mri.nifti", "write_nifti"), extensions=EXTENSIONS,
             description="NIfTI with the input's header; float32 unless io.keep_dtype=true")


@hookimpl
def register_methods(register: Any) -> None:
    register(
        name="sinc",
        factory=_lazy("restore_mri.sinc", "SincInterpolation"),
        description="zero-filled k-space upsampling = ideal sinc interpolation (baseline, no model)",
        modalities=["MRI"],
    )
    register(
        name="r2d2",
        factory=_lazy("restore_mri.r2d2", "R2D2Method"),
        description="R2D2+ (Chung et al. 2023): denoise + in-plane SR, reverse diffusion from the noisy input, k-space consistency",
        modalities=["MRI"],
        default=True,
    )
    register(
        name="r2d2-zs",
        factory=_lazy("restore_mri.r2d2", "R2D2ZeroShot"),
        description="R2D2+ as published: an unconditional prior (--weights) from the noisy input, soft k-space regularisation",
        modalities=["MRI"],
    )
    register(
        name="disc-diff",
        factory=_lazy("restore_mri.disc_diff", "DiscDiffMethod"),
        description="DisC-Diff (Mao et al. 2023): T2 in-plane SR guided by a T1 reference (--ref), disentangled multi-stream",
        modalities=["MRI"],
        default_with_ref=True,
    )


@hookimpl
def register_degradations(register: Any) -> None:
    module = "restore_mri.degradations"
    register(name="kspace", factory=_lazy(module, "kspace_truncation"), description="in-plane k-space truncation by scale (×2, ×4)")
    register(name="thick_slices", factory=_lazy(module, "slice_thickening"),
             description="through-plane slice thickening by scale (box or Gaussian slice profile)")
    register(name="rician", factory=_lazy(module, "rician_noise"), description="Rician noise of a given sigma")
    register(name="kspace_rician", factory=_lazy(module, "kspace_rician"),
             description="k-space truncation, then Rician noise (a noisy low-resolution scan)")


@hookimpl
def register_denoisers(register: Any) -> None:
    register(
        name="disentangled_unet", factory=_lazy("restore_mri.disc_diff_net", "DisentangledUNet"),
        description="DisC-Diff's three-stream UNet with shared/specific bottleneck parts (Mao et al. 2023)",
    )


@hookimpl
def register_sampler_steps(register: Any) -> None:
    register(
        name="kspace", factory=_lazy("restore_mri.kspace_consistency", "kspace_consistency"),
        description="keep the measured k-space centre of each x0 estimate (R2D2+/DisC-Diff; consistency.lam)",
    )


@hookimpl
def register_cli_options(register: Any) -> None:
    register(name="--slice-axis", key="slice_axis", help="voxel axis across slices (0, 1, 2, or auto)", metavar="AXIS")
    register(name="--keep-dtype", key="io.keep_dtype", help="write the input's data type instead of float32", flag_only=True)


@hookimpl
def register_configs(register: Any) -> None:
    register(method="defaults", config=CONFIG_DIR / "defaults.yaml")
    register(method="sinc", config=CONFIG_DIR / "sinc.yaml")
    register(method="r2d2", config=CONFIG_DIR / "r2d2.yaml")
    register(method="r2d2-zs", config=CONFIG_DIR / "r2d2-zs.yaml")
    register(method="disc-diff", config=CONFIG_DIR / "disc-diff.yaml")


@hookimpl
def register_commands(register: Any) -> None:
    from restore_mri import commands

    register(name="simulate", help=commands.HELP, add_arguments=commands.add_arguments, run=commands.run)
