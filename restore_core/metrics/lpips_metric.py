"""LPIPS perceptual distance (Zhang et al. 2018, "The Unreasonable Effectiveness
of Deep Features as a Perceptual Metric", CVPR) for 2D images and 3D volumes.

Wraps the ``lpips`` package (AlexNet trunk, v0.1 linear heads). All weights come
from one local safetensors file, so nothing is downloaded and nothing is
unpickled. ``lpips`` needs torchvision and is therefore an optional extra.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from restore_core.metrics.image_quality import ArrayLike, as_float_tensor, to_batch_channel_first

LPIPS_EXTRA_HINT = "LPIPS needs the optional extra: pip install 'restore-diffusion[lpips]'"
LPIPS_WEIGHTS_FILENAME = "lpips_alex.safetensors"
LPIPS_WEIGHTS_ENV = "RESTORE_LPIPS_WEIGHTS"
# AlexNet's conv1 (k11, s4, p2) and two 3x3/s2 max-pools need >= 31 pixels per side.
ALEXNET_MIN_SIZE = 31
# Constant buffers that lpips builds in code rather than storing in its state dict.
_BUFFERS_BUILT_IN_CODE = ("scaling_layer.shift", "scaling_layer.scale")


def _import_lpips() -> Any:
    try:
        import lpips  # lpips imports torchvision at import time
    except ImportError as err:
        raise ImportError(f"{LPIPS_EXTRA_HINT} (import failed: {err})") from err
    return lpips


def default_lpips_weights_path() -> Path:
    """``$RESTORE_LPIPS_WEIGHTS`` if set, else ``lpips_alex.safetensors`` in the weights cache."""
    from restore_core.weights import default_cache_dir

    env_path = os.environ.get(LPIPS_WEIGHTS_ENV)
    return Path(env_path) if env_path else default_cache_dir() / LPIPS_WEIGHTS_FILENAME


class LPIPSMetric:
    """LPIPS distance between images in [0, 1] (Zhang et al. 2018); lower is more similar.

    Grey images are replicated to three channels; values are clipped to [0, 1]
    and mapped to [-1, 1] as the network expects. 3D volumes are scored as the
    mean LPIPS over 2D slices taken along one spatial axis.
    """

    def __init__(self, weights_path: str | Path | None = None, device: str | torch.device = "cpu") -> None:
        lpips = _import_lpips()
        from safetensors.torch import load_file

        path = Path(weights_path) if weights_path is not None else default_lpips_weights_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"LPIPS weights not found at {path}; pass weights_path or set ${LPIPS_WEIGHTS_ENV} "
                f"to a copy of {LPIPS_WEIGHTS_FILENAME}"
            )
        with warnings.catch_warnings():
            # torchvision deprecation notices about lpips' use of `pretrained=`.
            warnings.simplefilter("ignore", UserWarning)
            # pretrained=False / pnet_rand=True: lpips neither downloads the trunk
            # nor unpickles its bundled heads; every weight comes from `path`.
            model = lpips.LPIPS(net="alex", pretrained=False, pnet_rand=True, verbose=False)
        result = model.load_state_dict(load_file(str(path)), strict=False)
        missing = [key for key in result.missing_keys if key not in _BUFFERS_BUILT_IN_CODE]
        if missing or result.unexpected_keys:
            raise ValueError(
                f"{path} is not an LPIPS AlexNet state dict: missing {missing}, "
                f"unexpected {list(result.unexpected_keys)}"
            )
        self.device = torch.device(device)
        self.model = model.eval().requires_grad_(False).to(self.device)
        self.weights_path = path

    def __call__(
        self,
        pred: ArrayLike,
        target: ArrayLike,
        spatial_dims: int = 2,
        slice_axis: int = 0,
        batch_size: int = 16,
    ) -> float:
        """Mean LPIPS between ``pred`` and ``target`` (values in [0, 1]).

        Shapes are ``(*spatial)``, ``(C, *spatial)`` or ``(B, C, *spatial)`` with
        C in {1, 3}. For ``spatial_dims=3``, ``slice_axis`` (0, 1 or 2) picks
        the spatial axis the volume is cut along; the result is the mean over
        slices (and batch items).
        """
        pred_slices = self._as_rgb_slices(pred, spatial_dims, slice_axis)
        target_slices = self._as_rgb_slices(target, spatial_dims, slice_axis)
        if pred_slices.shape != target_slices.shape:
            raise ValueError(
                f"pred and target shapes differ: {tuple(pred_slices.shape)} vs {tuple(target_slices.shape)}"
            )
        distances = []
        with torch.no_grad():
            for start in range(0, pred_slices.shape[0], batch_size):
                pred_batch = pred_slices[start : start + batch_size].to(self.device)
                target_batch = target_slices[start : start + batch_size].to(self.device)
                distances.append(self.model(pred_batch, target_batch).flatten().cpu())
        return float(torch.cat(distances).mean().item())

    @staticmethod
    def _as_rgb_slices(array: ArrayLike, spatial_dims: int, slice_axis: int) -> torch.Tensor:
        """``(N, 3, H, W)`` float32 in [-1, 1]: batch items (and slices for 3D) stacked on N."""
        tensor = to_batch_channel_first(as_float_tensor(array), spatial_dims)
        channels = tensor.shape[1]
        if channels not in (1, 3):
            raise ValueError(f"LPIPS needs 1 (grey) or 3 (RGB) channels, got {channels}")
        if spatial_dims == 3:
            if slice_axis not in (0, 1, 2):
                raise ValueError(f"slice_axis must be 0, 1 or 2 (a spatial axis), got {slice_axis}")
            # (B, C, D0, D1, D2) -> (B, S, C, h, w) -> (B*S, C, h, w)
            tensor = tensor.movedim(2 + slice_axis, 1)
            tensor = tensor.reshape(-1, channels, *tensor.shape[3:])
        height, width = tensor.shape[-2:]
        if min(height, width) < ALEXNET_MIN_SIZE:
            raise ValueError(
                f"LPIPS (AlexNet) needs slices of at least {ALEXNET_MIN_SIZE}x{ALEXNET_MIN_SIZE} "
                f"pixels, got {height}x{width}"
            )
        tensor = tensor.expand(-1, 3, -1, -1) if channels == 1 else tensor
        return (tensor.clamp(0.0, 1.0) * 2.0 - 1.0).to(torch.float32)
