"""Multi-contrast brain volumes simulated from tissue probability maps (training data).

The BrainWeb approach (Collins et al., TMI 17:463, 1998; Kwan, Evans & Pike,
TMI 18:1085, 1999): each voxel is a mixture of tissues with fractions
``p_t`` (partial volume), and its spin-echo magnitude is

    S = sum_t p_t * PD_t * (1 - exp(-TR / T1_t)) * exp(-TE / T2_t)        (1)

(the spin-echo signal equation for TR >> TE; Haacke et al., *Magnetic
Resonance Imaging*, 1999, eq. 8.26, ignoring the refocusing term).

Tissue maps: the MNI ICBM152 2009a GM and WM probability maps (Fonov et al.,
NeuroImage 2011); CSF = brain mask - GM - WM, clipped to [0, 1], where the
brain mask is ``GM + WM > 0.1`` closed and hole-filled (ventricles and sulci
are CSF; the template's skull and scalp are left out, the phantom is brain only).

Tissue parameters (ms; PD relative to CSF):

* 1.5 T, BrainWeb (Kwan et al. 1999, table I): CSF T1 2569 T2 329 PD 1.0;
  GM T1 833 T2 83 PD 0.86; WM T1 500 T2 70 PD 0.77.
* 3 T: GM/WM T1 and T2 from Wansapura et al., JMRI 9:531, 1999 (GM T1 1331,
  T2 110; WM T1 832, T2 80); CSF T1 4309 and T2 1886 measured in the
  subarachnoid space at 3 T ("Quantification of T1 and T2 of subarachnoid
  CSF: implications for water exchange between CSF and brain tissues",
  Magn Reson Med 2024, PMC10696635; 4454 and 2373 in the frontal horns);
  PD as at 1.5 T (PD does not depend on the field).

Realism augmentations: a smooth multiplicative bias field (a random
polynomial in the exponent, as MONAI's ``RandBiasField``), a random global
intensity scale, and Rician noise (see :mod:`restore_mri.degradations`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from restore_core.errors import InputError

GM_FILE = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
WM_FILE = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"
T1_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
TISSUES = ("csf", "gm", "wm")


@dataclass(frozen=True)
class Tissue:
    """Relaxation times (ms) and proton density of one tissue."""

    t1: float
    t2: float
    pd: float


TISSUE_PARAMETERS: dict[str, dict[str, Tissue]] = {
    "1.5T": {"csf": Tissue(2569, 329, 1.0), "gm": Tissue(833, 83, 0.86), "wm": Tissue(500, 70, 0.77)},
    "3T": {"csf": Tissue(4309, 1886, 1.0), "gm": Tissue(1331, 110, 0.86), "wm": Tissue(832, 80, 0.77)},
}


@dataclass(frozen=True)
class SpinEcho:
    """Repetition and echo time (ms) of a spin-echo sequence."""

    tr: float
    te: float


#: Classic clinical spin-echo weightings (short TR/TE = T1w, long TR/TE = T2w, long TR/short TE = PDw).
#: With TR = 4 s, CSF (T1 about 4.3 s at 3 T) is not fully relaxed, so at 3 T the PDw CSF is darker than GM.
SEQUENCES: dict[str, SpinEcho] = {"T1w": SpinEcho(500, 15), "T2w": SpinEcho(4000, 100), "PDw": SpinEcho(4000, 15)}


@dataclass
class TissueMaps:
    """Tissue fractions on one grid, each (X, Y, Z) in [0, 1], and the grid's affine."""

    fractions: dict[str, np.ndarray]
    affine: np.ndarray

    def crop(self, slices: Sequence[slice]) -> "TissueMaps":
        """A sub-volume (voxel slices per axis); the affine's origin moves to the new voxel 0."""
        shape = self.fractions["gm"].shape
        offset = np.array([s.indices(n)[0] for s, n in zip(slices, shape)] + [1.0])
        affine = self.affine.copy()
        affine[:, 3] = self.affine @ offset
        return TissueMaps({k: np.ascontiguousarray(v[tuple(slices)]) for k, v in self.fractions.items()}, affine)


def spin_echo_signal(tissue: Tissue, sequence: SpinEcho) -> float:
    """Equation (1) for one pure tissue."""
    return tissue.pd * (1.0 - np.exp(-sequence.tr / tissue.t1)) * np.exp(-sequence.te / tissue.t2)


def find_mni_folder(folder: str | Path) -> Path:
    """The folder holding the MNI maps: ``folder`` itself or ``folder/data/mri``."""
    base = Path(folder)
    for candidate in (base, base / "data" / "mri"):
        if all((candidate / name).is_file() for name in (GM_FILE, WM_FILE)):
            return candidate
    raise InputError(base, f"holds neither {GM_FILE} nor {WM_FILE} (nor data/mri/ with them)")


def brain_mask(gm: np.ndarray, wm: np.ndarray, threshold: float = 0.1, closing: int = 3) -> np.ndarray:
    """Tissue (GM + WM > threshold), closed by ``closing`` voxels and hole-filled (adds CSF spaces)."""
    from scipy import ndimage

    tissue = (gm + wm) > threshold
    structure = ndimage.generate_binary_structure(3, 1)
    closed = ndimage.binary_closing(tissue, structure=structure, iterations=closing, border_value=0)
    return ndimage.binary_fill_holes(closed | tissue)


def load_tissue_maps(folder: str | Path) -> TissueMaps:
    """GM, WM and CSF fractions from the MNI ICBM152 2009a maps in ``folder``."""
    import nibabel as nib

    root = find_mni_folder(folder)
    maps = {}
    for key, name in (("gm", GM_FILE), ("wm", WM_FILE)):
        image = nib.load(str(root / name))
        data = np.asarray(image.dataobj, dtype=np.float32)
        maps[key] = data / max(1.0, float(data.max()))  # the converted maps store probability x 255
    maps["csf"] = np.clip(brain_mask(maps["gm"], maps["wm"]) - maps["gm"] - maps["wm"], 0.0, 1.0).astype(np.float32)
    return TissueMaps(maps, np.array(image.affine, dtype=np.float64))


def contrast_image(maps: TissueMaps, contrast: str, field: str = "1.5T") -> np.ndarray:
    """The noiseless, bias-free weighted image (equation 1), in units of PD_CSF."""
    if contrast not in SEQUENCES:
        raise ValueError(f"unknown contrast '{contrast}'; known: {', '.join(SEQUENCES)}")
    if field not in TISSUE_PARAMETERS:
        raise ValueError(f"unknown field strength '{field}'; known: {', '.join(TISSUE_PARAMETERS)}")
    parameters, sequence = TISSUE_PARAMETERS[field], SEQUENCES[contrast]
    image = np.zeros_like(maps.fractions["gm"], dtype=np.float32)
    for tissue in TISSUES:
        image += np.float32(spin_echo_signal(parameters[tissue], sequence)) * maps.fractions[tissue]
    return image


def bias_field(shape: Sequence[int], rng: np.random.Generator, strength: float = 0.3, degree: int = 3) -> np.ndarray:
    """A smooth multiplicative field ``exp(sum c_ijk P_i(x) P_j(y) P_k(z))``, normalised to mean 1.

    ``P`` are Legendre polynomials on [-1, 1] per axis, ``i + j + k <= degree``,
    coefficients uniform in ``[-strength/degree, strength/degree]`` (the model of
    MONAI's ``RandBiasField``, after Van Leemput et al., TMI 18:885, 1999;
    evaluated separably here, which is ~100x faster on whole volumes).
    """
    from numpy.polynomial import legendre

    if strength <= 0:
        return np.ones(tuple(shape), np.float32)
    width = strength / degree
    orders = np.arange(degree + 1)
    allowed = orders[:, None, None] + orders[None, :, None] + orders[None, None, :] <= degree
    coefficients = rng.uniform(-width, width, size=allowed.shape) * allowed
    basis = [legendre.legvander(np.linspace(-1.0, 1.0, int(n)), degree).T for n in shape]  # (degree+1, n)
    log_field = np.einsum("ijk,ix,jy,kz->xyz", coefficients, *basis, optimize=True)
    field = np.exp(log_field)
    return (field / field.mean()).astype(np.float32)


def simulate(
    maps: TissueMaps,
    contrast: str,
    rng: np.random.Generator,
    *,
    field: str = "1.5T",
    peak: float = 1000.0,
    intensity_jitter: float = 0.2,
    bias_strength: float = 0.3,
    noise: float = 0.0,
) -> np.ndarray:
    """One realisation: equation (1) x bias field x random scale (about ``peak``), plus Rician noise.

    ``noise`` is the Rician sigma as a fraction of ``peak`` (BrainWeb's "percent noise").
    """
    image = contrast_image(maps, contrast, field)
    image *= bias_field(image.shape, rng, bias_strength)
    brightest = max(float(image.max()), 1e-12)
    image *= np.float32(peak * (1.0 + rng.uniform(-intensity_jitter, intensity_jitter)) / brightest)
    if noise > 0:
        sigma = noise * peak
        real = rng.standard_normal(image.shape, dtype=np.float32)
        imag = rng.standard_normal(image.shape, dtype=np.float32)
        image = np.sqrt((image + sigma * real) ** 2 + (sigma * imag) ** 2)
    return image.astype(np.float32)


def save_volume(volume: np.ndarray, affine: np.ndarray, path: Path, description: str = "", dtype: str = "float32") -> Path:
    """Write a simulated volume as NIfTI in MNI space (qform/sform code 4 = MNI152), millimetres."""
    import nibabel as nib

    data = np.rint(volume).astype(dtype) if np.dtype(dtype).kind in "ui" else volume.astype(dtype)
    image = nib.Nifti1Image(data, affine)
    image.set_qform(affine, code=4)
    image.set_sform(affine, code=4)
    image.header.set_xyzt_units("mm", "sec")
    image.header["descrip"] = description[:79].encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, str(path))
    return path


#: File stem -> contrast of the README sample volumes.
SAMPLE_CONTRASTS: Mapping[str, str] = {"t1": "T1w", "t2": "T2w", "pd": "PDw"}

#: The README's sample slab: 160 x 192 x 16 voxels of axial slices through the ventricles.
SAMPLE_SLAB = (slice(18, 178), slice(20, 212), slice(126, 142))  # inside the held-out slab z = 120-150


def make_sample_volumes(
    shared_dir: str | Path,
    out_dir: str | Path,
    *,
    slab: Sequence[slice] = SAMPLE_SLAB,
    lr_factor: int = 2,
    seed: int = 0,
    contrasts: Mapping[str, str] = SAMPLE_CONTRASTS,
) -> list[Path]:
    """Write small README sample volumes: ``t1/t2/pd.nii.gz`` (HR) and ``t2_lr.nii.gz``.

    ``t2_lr`` is the T2w slab k-space truncated x``lr_factor`` in-plane (the
    issue's main job: restore it, optionally guided by ``t1``).  Volumes are
    int16 (values up to about 1000) to keep the files small.
    """
    import torch

    from restore_mri.kspace import kspace_truncate

    maps = load_tissue_maps(shared_dir).crop(slab)
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    written = []
    for stem, contrast in contrasts.items():
        volume = simulate(maps, contrast, rng, bias_strength=0.2, noise=0.0)
        written.append(save_volume(volume, maps.affine, out / f"{stem}.nii.gz", f"restore phantom {contrast} (MNI152 2009a)", "int16"))
        if contrast == "T2w":
            lr = kspace_truncate(torch.from_numpy(volume.astype(np.float64)), (lr_factor, lr_factor), (0, 1)).numpy()
            affine = maps.affine @ np.diag([lr_factor, lr_factor, 1.0, 1.0])  # k-space grids share voxel 0
            written.append(save_volume(np.clip(lr, 0, None), affine, out / f"{stem}_lr.nii.gz", f"restore phantom {contrast} x{lr_factor} k-space LR", "int16"))
    return written
