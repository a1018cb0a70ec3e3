"""k-space data consistency for diffusion sampling of 2D MR slices (R2D2+).

The measurement of a low-resolution MR slice is the centre of its k-space:
``y = A x`` with ``A`` the in-plane k-space truncation
(:func:`restore_mri.kspace.kspace_truncate`).  Zero-filling is its
Moore-Penrose pseudo-inverse: ``A A^+ = I`` (cropping a zero-padded spectrum
gives it back) and ``A^+ A`` is the ideal low-pass filter, an orthogonal
projection (a real symmetric mask in Fourier space; the Nyquist fold/split
convention of :mod:`restore_mri.kspace` averages the ``+N/2`` and ``-N/2``
bins, still symmetric and idempotent).  So the core's DDNM step
``x0 <- x0 + A^+(y - A x0)`` (Wang et al. 2023, eq. 13) with this operator
*replaces the centre of k-space of the x0 estimate by the measured one* and
keeps the estimate's high frequencies: the regularisation of R2D2+ (Chung et
al., IEEE TMI 2023), where the diffusion corrects only what was not measured.

For noisy measurements, :class:`KSpaceConsistency` takes a softness
``lam`` in (0, 1]: ``x0 <- x0 + lam A^+(y - A x0)`` mixes the measured and the
denoised low frequencies (``lam = 1`` is exactly DDNM).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from restore_core.diffusion.consistency import DDNM
from restore_core.errors import ConfigError
from restore_mri.kspace import fourier_resample, kspace_truncate, zero_fill

__all__ = ["KSpaceTruncation", "KSpaceConsistency", "kspace_consistency"]


class KSpaceTruncation:
    """A = in-plane k-space truncation of ``(B, C, H, W)`` slices; A^+ = zero-filling.

    ``factors`` are the (H, W) upsampling factors.  ``hr_size``/``lr_size``
    pin the two grids exactly (rounding of odd sizes and non-integer
    factors); without them the sizes follow :func:`kspace_truncate` and
    :func:`zero_fill`.
    """

    def __init__(
        self,
        factors: Sequence[float],
        hr_size: Sequence[int] | None = None,
        lr_size: Sequence[int] | None = None,
    ) -> None:
        factors = tuple(float(f) for f in factors)
        if len(factors) != 2 or any(not f >= 1 for f in factors):
            raise ValueError(f"KSpaceTruncation needs two in-plane factors >= 1, got {factors}")
        self.factors = factors
        self.hr_size = tuple(int(s) for s in hr_size) if hr_size is not None else None
        self.lr_size = tuple(int(s) for s in lr_size) if lr_size is not None else None

    @staticmethod
    def _dims(x: torch.Tensor) -> tuple[int, int]:
        if x.ndim < 3:
            raise ValueError(f"expected (..., H, W) slices, got shape {tuple(x.shape)}")
        return (x.ndim - 2, x.ndim - 1)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        dims = self._dims(x)
        if self.lr_size is not None:
            return fourier_resample(x, self.lr_size, dims)
        return kspace_truncate(x, self.factors, dims)

    def A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        dims = self._dims(y)
        if self.hr_size is not None:
            return fourier_resample(y, self.hr_size, dims)
        return zero_fill(y, self.factors, dims)


class KSpaceConsistency(DDNM):
    """Keep the measured low frequencies: ``x0 <- x0 + lam A^+(y - A x0)``.

    ``lam = 1``: DDNM with :class:`KSpaceTruncation`, the centre of k-space of
    the result is exactly the measured one.  ``lam < 1`` (noisy inputs, R2D2+'s
    regularisation): a convex mix of the measured and the denoised centre.
    """

    def __init__(self, operator: KSpaceTruncation, lam: float = 1.0) -> None:
        if not 0.0 <= float(lam) <= 1.0:
            raise ValueError(f"the k-space consistency weight lam must lie in [0, 1], got {lam}")
        super().__init__(operator)
        self.lam = float(lam)

    def correct_x0(self, x0: torch.Tensor, t: int, y: torch.Tensor) -> torch.Tensor:
        if self.lam == 0.0:
            return x0
        if self.lam == 1.0:
            return super().correct_x0(x0, t, y)
        return x0 + self.lam * self.operator.A_pinv(y - self.operator.A(x0))


def kspace_consistency(operator: Any, scale: Any = None, spatial_dims: int = 2, lam: Any = 1.0, **_: Any) -> KSpaceConsistency | None:
    """The ``kspace`` sampler step (``register_sampler_steps``): ``consistency.name: kspace``.

    ``operator`` must be the run's :class:`KSpaceTruncation` (the method
    supplies it per batch of slices); ``lam`` the weight, resolved by the
    method (R2D2+ resolves ``auto`` from the estimated noise level).  ``lam = 0``
    switches the step off.  Other ``consistency.*`` keys (``clean_sigma``,
    ``noisy_lam``) are the method's and ignored here.
    """
    if not isinstance(operator, KSpaceTruncation):
        raise ConfigError("consistency.name=kspace needs the k-space truncation operator of an MRI method (r2d2, disc-diff)")
    try:
        weight = float(lam)
    except (TypeError, ValueError):
        raise ConfigError(f"consistency.lam must be a number in [0, 1] here, got '{lam}'") from None
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"consistency.lam must lie in [0, 1], got {weight}")
    return KSpaceConsistency(operator, weight) if weight > 0 else None
