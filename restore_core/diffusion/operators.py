"""Linear degradation operators A with pseudo-inverses A^+ for consistency steps."""
from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F

__all__ = ["LinearOperator", "AveragePoolSR", "BicubicSR", "bicubic_resize_matrix", "OPERATORS"]


@runtime_checkable
class LinearOperator(Protocol):
    """A degradation y = A(x) and its Moore-Penrose pseudo-inverse A^+(y)."""

    def A(self, x: torch.Tensor) -> torch.Tensor: ...

    def A_pinv(self, y: torch.Tensor) -> torch.Tensor: ...


class AveragePoolSR:
    """A = s^d-pixel block average (the ×s area degradation), with a right inverse R (A R = I).

    ``inverse="nearest"``: the Moore-Penrose pseudo-inverse. A A^T = s^-d I, so
    A^+ = s^d A^T is replication (Wang et al. DDNM 2023, sec. 3.3,
    "super-resolution"). Its correction A^+(y - A x) is constant on every s^d
    block, so a range-null step leaves a faint s-pixel block grid on smooth
    areas wherever the model's x misses y.

    ``inverse="bicubic"`` (default): R = U (A U)^-1 per axis, with U the
    bicubic upsampling matrix (:func:`bicubic_resize_matrix`). A R = I still
    holds exactly, so A R A = A and the range-null decomposition
    x <- R y + (I - R A) x of DDNM eq. 13 keeps A(x) = y; only the null-space
    part it leaves differs: the correction is a smooth (bicubic-like)
    interpolation of the LR residual, with no block edges. Hand-written:
    no library ships a right inverse of area pooling.
    """

    INVERSES = ("bicubic", "nearest")

    def __init__(self, scale: int, spatial_dims: int = 2, inverse: str = "bicubic") -> None:
        if int(scale) != scale or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}")
        if inverse not in self.INVERSES:
            raise ValueError(f"inverse must be one of {', '.join(self.INVERSES)}, got {inverse!r}")
        self.scale = int(scale)
        self.spatial_dims = spatial_dims
        self.inverse = inverse
        self._cache: dict[tuple[int, torch.dtype, torch.device], torch.Tensor] = {}

    def A(self, x: torch.Tensor) -> torch.Tensor:
        if any(n % self.scale for n in x.shape[2:]):
            raise ValueError(f"spatial size {tuple(x.shape[2:])} not divisible by {self.scale}")
        pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[self.spatial_dims - 1]
        return pool(x, self.scale)

    def _right_inverse(self, lr_length: int, like: torch.Tensor) -> torch.Tensor:
        """R = U (A U)^-1 along one axis, [s*n, n]; A R = I."""
        key = (lr_length, like.dtype, like.device)
        if key not in self._cache:
            up = bicubic_resize_matrix(lr_length, lr_length * self.scale)
            average = torch.kron(torch.eye(lr_length, dtype=torch.float64), torch.full((1, self.scale), 1 / self.scale))
            right = up @ torch.linalg.inv(average @ up)
            self._cache[key] = right.to(dtype=like.dtype, device=like.device)
        return self._cache[key]

    def A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        if self.inverse == "nearest" or self.scale == 1:
            for axis in range(2, 2 + self.spatial_dims):
                y = y.repeat_interleave(self.scale, dim=axis)
            return y
        for axis in range(2, 2 + self.spatial_dims):
            right = self._right_inverse(y.shape[axis], y)
            y = torch.movedim(torch.movedim(y, axis, -1) @ right.T, -1, axis)
        return y


def _cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (Matlab imresize 'bicubic')."""
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def bicubic_resize_matrix(in_length: int, out_length: int) -> torch.Tensor:
    """Matrix W [out, in] (float64) of Matlab's imresize(..., 'bicubic') along one axis.

    Downscaling widens the kernel by 1/scale (antialiasing); borders mirror
    with the edge sample repeated, as Matlab does.
    """
    scale = out_length / in_length
    width = 4.0 / scale if scale < 1 else 4.0
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    dist = u[:, None] - idx
    w = scale * _cubic(scale * dist) if scale < 1 else _cubic(dist)
    w = w / w.sum(dim=1, keepdim=True)
    mirror = torch.cat([torch.arange(in_length), torch.arange(in_length - 1, -1, -1)])
    cols = mirror[(idx.long() - 1) % (2 * in_length)]
    W = torch.zeros(out_length, in_length, dtype=torch.float64)
    W.scatter_add_(1, cols, w)
    return W


class BicubicSR:
    """A = Matlab-style antialiased bicubic downscaling by ``scale``, applied separably.

    A = W_1 (x) W_2 (x) ... (Kronecker of 1-D matrices), so its pseudo-inverse is
    the Kronecker of the 1-D pseudo-inverses (torch.linalg.pinv), and A A^+ A = A.
    """

    def __init__(self, scale: int, spatial_dims: int = 2) -> None:
        if int(scale) != scale or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        self.scale = int(scale)
        self.spatial_dims = spatial_dims
        self._cache: dict[tuple[str, int, torch.dtype, torch.device], torch.Tensor] = {}

    def _matrix(self, kind: str, hr_length: int, like: torch.Tensor) -> torch.Tensor:
        key = (kind, hr_length, like.dtype, like.device)
        if key not in self._cache:
            W = bicubic_resize_matrix(hr_length, hr_length // self.scale)
            M = W if kind == "down" else torch.linalg.pinv(W)
            self._cache[key] = M.to(dtype=like.dtype, device=like.device)
        return self._cache[key]

    def _apply(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        for axis in range(2, 2 + self.spatial_dims):
            n = x.shape[axis]
            hr_length = n if kind == "down" else n * self.scale
            M = self._matrix(kind, hr_length, x)
            x = torch.movedim(torch.movedim(x, axis, -1) @ M.T, -1, axis)
        return x

    def A(self, x: torch.Tensor) -> torch.Tensor:
        if any(n % self.scale for n in x.shape[2:]):
            raise ValueError(f"spatial size {tuple(x.shape[2:])} not divisible by {self.scale}")
        return self._apply(x, "down")

    def A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        return self._apply(y, "pinv")


def _replicate_blur_matrix(length: int, sigma: float, radius: int) -> torch.Tensor:
    """``(length, length)`` matrix of a 1-D Gaussian blur with replicated borders (rows sum to 1)."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    matrix = torch.zeros(length, length, dtype=torch.float64)
    rows = torch.arange(length)
    for tap, weight in zip(offsets.long().tolist(), kernel.tolist()):
        matrix[rows, (rows + tap).clamp(0, length - 1)] += weight
    return matrix


class GaussianBlur:
    """A = separable Gaussian blur of std ``blur_sigma`` pixels (replicated borders); same grid in and out.

    A is the Kronecker product of 1-D blur matrices, so A^+ is the Kronecker of
    their pseudo-inverses.  Blur matrices are ill-conditioned, so singular values
    below ``rcond`` times the largest are dropped (DDNM, Wang et al. 2023, sec.
    3.3, "deblurring", likewise thresholds the SVD): A^+ is then the
    pseudo-inverse of the rank-truncated A, and ``A A^+ A = A`` holds on the kept
    range.  ``scale`` is accepted for the common operator signature and must be 1.
    """

    def __init__(self, scale: int = 1, spatial_dims: int = 2, blur_sigma: float = 2.0, rcond: float = 1e-3) -> None:
        if int(scale) != 1:
            raise ValueError(f"a blur keeps the grid: scale must be 1, got {scale}")
        if not blur_sigma > 0:
            raise ValueError(f"blur_sigma must be positive, got {blur_sigma}")
        self.spatial_dims = spatial_dims
        self.sigma = float(blur_sigma)
        self.radius = max(1, int(round(3 * self.sigma)))
        self.rcond = float(rcond)
        self._cache: dict[tuple[str, int, torch.dtype, torch.device], torch.Tensor] = {}

    def _matrix(self, kind: str, length: int, like: torch.Tensor) -> torch.Tensor:
        key = (kind, length, like.dtype, like.device)
        if key not in self._cache:
            W = _replicate_blur_matrix(length, self.sigma, self.radius)
            M = W if kind == "blur" else torch.linalg.pinv(W, rtol=self.rcond)
            self._cache[key] = M.to(dtype=like.dtype, device=like.device)
        return self._cache[key]

    def _apply(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        for axis in range(2, 2 + self.spatial_dims):
            M = self._matrix(kind, x.shape[axis], x)
            x = torch.movedim(torch.movedim(x, axis, -1) @ M.T, -1, axis)
        return x

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply(x, "blur")

    def A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        return self._apply(y, "pinv")


class Identity:
    """A = I (denoising: y = x + n); A^+ = I.  With DDNM+ (``sigma_y``) this is zero-shot denoising."""

    def __init__(self, scale: int = 1, spatial_dims: int = 2) -> None:
        if int(scale) != 1:
            raise ValueError(f"denoising keeps the grid: scale must be 1, got {scale}")

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        return y


#: Measurement operators by name: ``factory(scale, spatial_dims, **consistency.operator_params)``.
OPERATORS = {"average_pool": AveragePoolSR, "bicubic": BicubicSR, "gaussian_blur": GaussianBlur, "identity": Identity}


class WaveletDomainOperator:
    """An operator seen from the Haar wavelet domain: A_w = A H^-1, A_w^+ = H A^+.

    H (one-level orthonormal Haar, :mod:`.wavelet`) is orthogonal, so
    (A H^-1)^+ = H A^+ exactly; consistency steps then work unchanged on a
    denoiser that runs in the wavelet domain.
    """

    def __init__(self, operator: LinearOperator, spatial_dims: int) -> None:
        self.operator = operator
        self.spatial_dims = spatial_dims

    def A(self, z: torch.Tensor) -> torch.Tensor:
        from .wavelet import haar_inverse

        return self.operator.A(haar_inverse(z, self.spatial_dims))

    def A_pinv(self, y: torch.Tensor) -> torch.Tensor:
        from .wavelet import haar_forward

        return haar_forward(self.operator.A_pinv(y), self.spatial_dims)
