"""Full-reference image quality for 2D images and 3D volumes: PSNR, SSIM, consistency.

PSNR and SSIM are MONAI's implementations (``PSNRMetric``, ``SSIMMetric``);
this module only fixes the conventions: inputs are one image or volume,
channel-first, given as a NumPy array or a torch tensor, and the result is a
Python float. MONAI is imported on first use because importing
``monai.metrics`` takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor
RestoredT = TypeVar("RestoredT", np.ndarray, torch.Tensor)

# Wang et al. 2004, Sec. III-C: 11x11 Gaussian window with sigma 1.5.
SSIM_WINDOW_SIZE = 11
SSIM_WINDOW_SIGMA = 1.5


def as_float_tensor(array: ArrayLike) -> torch.Tensor:
    """Return ``array`` (NumPy array or torch tensor) as a detached float64 CPU tensor."""
    if isinstance(array, np.ndarray):
        return torch.from_numpy(np.array(array, dtype=np.float64))
    if isinstance(array, torch.Tensor):
        return array.detach().to(device="cpu", dtype=torch.float64)
    raise TypeError(f"expected a numpy array or torch tensor, got {type(array).__name__}")


def _check_same_shape(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")


def _check_data_range(data_range: float) -> None:
    if not data_range > 0:
        raise ValueError(f"data_range must be positive (max - min of the valid values), got {data_range}")


def to_batch_channel_first(array: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """Add batch/channel axes so ``array`` is ``(B, C, *spatial)``.

    Accepts ``(*spatial)``, ``(C, *spatial)`` or ``(B, C, *spatial)``.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    missing_axes = spatial_dims + 2 - array.ndim
    if missing_axes not in (0, 1, 2):
        raise ValueError(
            f"a {spatial_dims}D input must have {spatial_dims} to {spatial_dims + 2} axes "
            f"((*spatial), (C, *spatial) or (B, C, *spatial)); got shape {tuple(array.shape)}"
        )
    return array.reshape((1,) * missing_axes + tuple(array.shape))


def psnr(pred: ArrayLike, target: ArrayLike, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``, over all elements.

    ``inf`` when ``pred`` equals ``target``. Uses MONAI's ``PSNRMetric``.
    """
    from monai.metrics.regression import PSNRMetric

    _check_data_range(data_range)
    pred_t, target_t = as_float_tensor(pred), as_float_tensor(target)
    _check_same_shape(pred_t, target_t)
    # One image (or volume) is one sample: flatten so MONAI averages over every element.
    value = PSNRMetric(max_val=float(data_range))(pred_t.reshape(1, -1), target_t.reshape(1, -1))
    return float(torch.as_tensor(value).item())


def ssim(
    pred: ArrayLike,
    target: ArrayLike,
    data_range: float,
    spatial_dims: int,
    window_size: int = SSIM_WINDOW_SIZE,
) -> float:
    """Mean structural similarity (Wang et al. 2004, IEEE TIP 13(4)) with a Gaussian window.

    2D or 3D by ``spatial_dims``; shapes ``(*spatial)``, ``(C, *spatial)`` or
    ``(B, C, *spatial)``; channels and batch are averaged. Every spatial size
    must be at least ``window_size``, except that a 3D volume thinner than the
    window along one axis (a slab of few slices) is scored as the mean 2D SSIM
    of its slices along that axis, the usual convention for thick-slice MRI.
    Uses MONAI's ``SSIMMetric``.
    """
    from monai.metrics.regression import SSIMMetric

    _check_data_range(data_range)
    pred_t, target_t = as_float_tensor(pred), as_float_tensor(target)
    _check_same_shape(pred_t, target_t)
    pred_t = to_batch_channel_first(pred_t, spatial_dims)
    target_t = to_batch_channel_first(target_t, spatial_dims)
    spatial_shape = tuple(pred_t.shape[2:])
    thin = [axis for axis, size in enumerate(spatial_shape) if size < window_size]
    if spatial_dims == 3 and len(thin) == 1:
        axis = 2 + thin[0]  # fold the slices into the batch: (B*S, C, *plane)
        slices_p, slices_t = (x.movedim(axis, 1).flatten(0, 1) for x in (pred_t, target_t))
        return ssim(slices_p, slices_t, data_range, 2, window_size)
    if min(spatial_shape) < window_size:
        raise ValueError(
            f"SSIM needs every spatial size >= window_size={window_size}; got spatial shape {spatial_shape}"
        )
    metric = SSIMMetric(
        spatial_dims=spatial_dims,
        data_range=float(data_range),
        kernel_type="gaussian",
        win_size=window_size,
        kernel_sigma=SSIM_WINDOW_SIGMA,
    )
    return float(torch.as_tensor(metric(pred_t, target_t)).mean().item())


def consistency_mse(
    lr_input: ArrayLike,
    restored: RestoredT,
    degrade: Callable[[RestoredT], ArrayLike],
) -> float:
    """Data consistency: ``mean((degrade(restored) - lr_input)^2)``.

    ``degrade`` is the forward model that produced the input (blur + downsample,
    k-space truncation, ...); a faithful restoration re-degrades to its input.
    """
    redegraded = as_float_tensor(degrade(restored))
    lr_tensor = as_float_tensor(lr_input)
    if redegraded.shape != lr_tensor.shape:
        raise ValueError(
            f"degrade(restored) has shape {tuple(redegraded.shape)} but lr_input has "
            f"{tuple(lr_tensor.shape)}; degrade must map the restored grid back to the input grid"
        )
    return float(torch.mean((redegraded - lr_tensor) ** 2).item())
