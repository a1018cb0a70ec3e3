"""The in-memory windowing back-end: sliding windows over 2D images and 3D volumes held in memory.

Built on MONAI's ``sliding_window_inference``, which already places windows,
runs them in batches, accumulates outputs and supports outputs on a finer grid
than the input (it infers the zoom from the first output window). This module
adds what it lacks for super-resolution:

* tiles are clipped to the image instead of padding the image up to the tile
  (MONAI pads with a constant, which a denoiser would see as content);
* overlap given in pixels or as a fraction, turned into an exact stride;
* blending weights computed on the *output* window (MONAI would
  nearest-upsample input-window weights into blocky x4 steps) and made
  image-border aware (below);
* checks that ``fn`` returns exactly ``tile * scale`` and that every window
  lands on whole output pixels, rather than failing inside MONAI's indexing.

Blending (Gaussian-weighted averaging as in nnU-Net, Isensee et al. 2021):
``out(p) = sum_w g_w(p) f_w(p) / sum_w g_w(p)``, ``g_w`` a separable Gaussian
of std ``sigma_scale * window_size`` centred on window ``w``, so window edges,
where ``fn`` sees truncated context, contribute little and seams vanish.
MONAI uses one weight map for every window; then a pixel near the image border
covered only by the edge of an inner window and the edge of the flush last
window blends both about equally, although only the last window saw its true
context. Here a window's profile stays at its peak from its centre to any side
that lies on the image border, where its context is as true as it gets.
Per-window weights ride through MONAI as one extra output channel
(``[g * f, g]``), and the ratio of the two accumulated sums is the result.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Sequence

import torch
from monai.data.utils import dense_patch_slices
from monai.inferers import sliding_window_inference

from restore_core.engine.windows.weights import MIN_AXIS_WEIGHT, blend_profile

_SUPPORTED_RANKS = (2, 3)
_BLEND_MODES = ("gaussian", "constant")
# Scale * position must be within this of an integer to count as on-grid.
_GRID_TOLERANCE = 1e-6


def _per_axis(value: int | float | Sequence[int] | Sequence[float], ndim: int, what: str) -> tuple:
    if isinstance(value, numbers.Real):
        return (value,) * ndim
    values = tuple(value)
    if len(values) != ndim:
        raise ValueError(f"{what} needs 1 or {ndim} values, got {values}")
    return values


def _window_geometry(
    shape: Sequence[int], tile: int | Sequence[int], overlap: float | int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Tile size clipped to ``shape`` and the stride between window starts, per axis.

    ``overlap`` is a fraction of the tile in [0, 1) when a float, or a number
    of pixels when an int (``0 <= overlap < tile`` after clipping, else the
    overlap is reduced to ``tile - 1``).
    """
    ndim = len(shape)
    tiles = tuple(min(int(t), int(s)) for t, s in zip(_per_axis(tile, ndim, "tile"), shape))
    if any(t < 1 for t in tiles):
        raise ValueError(f"tile and image sizes must be >= 1, got tile={tile}, shape={tuple(shape)}")
    if isinstance(overlap, bool) or not isinstance(overlap, numbers.Real):
        raise TypeError(f"overlap must be a float fraction or an int pixel count, got {overlap!r}")
    strides = []
    for t in tiles:
        if isinstance(overlap, numbers.Integral):
            if overlap < 0:
                raise ValueError(f"overlap in pixels must be >= 0, got {overlap}")
            overlap_px = min(int(overlap), t - 1)
        else:
            if not 0.0 <= overlap < 1.0:
                raise ValueError(f"overlap as a fraction must be in [0, 1), got {overlap}")
            overlap_px = int(round(float(overlap) * t))
        strides.append(max(t - overlap_px, 1))
    return tiles, tuple(strides)


def _monai_overlap(tiles: Sequence[int], strides: Sequence[int]) -> tuple[float, ...]:
    """Fractions for which MONAI's ``int(tile * (1 - o))`` gives back exactly ``stride``."""
    # Aim half a pixel above the stride so float rounding cannot floor below it.
    return tuple(max(0.0, (t - s - 0.5) / t) for t, s in zip(tiles, strides))


def iter_windows(
    shape: Sequence[int], tile: int | Sequence[int], overlap: float | int
) -> Iterator[tuple[slice, ...]]:
    """Yield the spatial slices of the windows ``tiled_apply`` uses on an image of ``shape``.

    Windows have the clipped tile size, start every ``stride`` pixels and the
    last one on each axis is shifted back to end flush with the image. Useful
    for streaming readers/writers that must visit the same windows.
    """
    tiles, strides = _window_geometry(shape, tile, overlap)
    for window in dense_patch_slices(tuple(shape), tiles, strides):
        yield tuple(slice(int(s.start), int(s.stop)) for s in window)


def tiled_apply(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int | Sequence[int],
    overlap: float | int,
    scale: float | Sequence[float] = 1,
    mode: str = "gaussian",
    sigma_scale: float | Sequence[float] = 0.125,
    batch_size: int = 1,
    progress: bool = False,
    with_origins: bool = False,
) -> torch.Tensor:
    """Apply ``fn`` window by window to ``x`` and blend the outputs into one tensor.

    Args:
        fn: maps ``(n, C, *tile)`` to ``(n, C_out, *(tile * scale))``; it is
            never called with a window larger than ``tile`` (nor with more than
            ``batch_size`` windows), so its memory is bounded by the tile.
        x: ``(B, C, H, W)`` or ``(B, C, D, H, W)``.
        tile: window size in input pixels, one value or one per axis; clipped
            to the image, so inputs smaller than a tile are processed whole.
        overlap: float fraction of the tile in [0, 1), or int pixels.
        scale: output/input size ratio per axis (e.g. 4 for x4 SR). Every
            window start and the tile size times ``scale`` must be integers.
        mode: ``"gaussian"`` (seamless) or ``"constant"`` (plain average).
        sigma_scale: Gaussian std as a fraction of the window size.
        batch_size: windows per ``fn`` call.
        progress: show a tqdm bar.
        with_origins: call ``fn(windows, origins)`` with each window's start
            (input pixels, one tuple per window), e.g. to seed per-window noise
            by position (:func:`restore_core.engine.windows.window_seed`).

    Returns:
        ``(B, C_out, *(spatial * scale))``. Working memory beyond one batch of
        windows: the output with one extra channel, plus MONAI's
        single-channel count map of the output's spatial size.
    """
    if x.ndim - 2 not in _SUPPORTED_RANKS:
        raise ValueError(f"x must be (B, C, H, W) or (B, C, D, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor (weights are blended in its dtype), got {x.dtype}")
    if mode not in _BLEND_MODES:
        raise ValueError(f"mode must be one of {_BLEND_MODES}, got {mode!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    spatial = tuple(x.shape[2:])
    ndim = len(spatial)
    scales = tuple(float(s) for s in _per_axis(scale, ndim, "scale"))
    if any(s <= 0 for s in scales):
        raise ValueError(f"scale must be > 0, got {scale}")
    tiles, strides = _window_geometry(spatial, tile, overlap)
    _check_output_grid(spatial, tiles, strides, scales)
    out_tile = tuple(round(t * s) for t, s in zip(tiles, scales))
    weights = _WindowWeights(spatial, out_tile, mode, _per_axis(sigma_scale, ndim, "sigma_scale"), x)

    def weighted_fn(window: torch.Tensor, coords: Sequence[Sequence[slice]]) -> torch.Tensor:
        out = fn(window, [tuple(int(c.start) for c in cs[2:]) for cs in coords]) if with_origins else fn(window)
        if not isinstance(out, torch.Tensor) or out.ndim != window.ndim:
            raise ValueError(f"fn must return a tensor of rank {window.ndim}")
        if out.shape[0] != window.shape[0] or tuple(out.shape[2:]) != out_tile:
            raise ValueError(
                f"fn returned {tuple(out.shape)} for a window {tuple(window.shape)}; expected "
                f"({window.shape[0]}, C_out, *{out_tile}) for scale {scales}"
            )
        g = torch.stack([weights.for_window(c[2:]) for c in coords]).to(out.dtype)
        return torch.cat([out * g, g], dim=1)

    # MONAI's own weighting is switched off ("constant": every window counts
    # 1), so its normalisation divides both sums by the same count.
    summed = sliding_window_inference(
        x,
        roi_size=tiles,
        sw_batch_size=batch_size,
        predictor=weighted_fn,
        overlap=_monai_overlap(tiles, strides),
        mode="constant",
        progress=progress,
        with_coord=True,
    )
    weighted_sum, weight_sum = summed[:, :-1], summed[:, -1:]
    if summed.requires_grad:
        return weighted_sum / weight_sum
    return weighted_sum.div_(weight_sum).contiguous()  # in place: no second output-sized buffer


class _WindowWeights:
    """Blending weights ``g_w`` per window on the output grid (see module docstring)."""

    def __init__(
        self,
        spatial: Sequence[int],
        out_tile: Sequence[int],
        mode: str,
        sigma_scales: Sequence[float],
        like: torch.Tensor,
    ) -> None:
        self.spatial = tuple(spatial)
        self.out_tile = tuple(out_tile)
        self.mode = mode
        self.sigma_scales = tuple(float(s) for s in sigma_scales)
        self.device, self.dtype = like.device, like.dtype
        # Floor each axis profile (not the product, which would lift the
        # weight of a window's interior edge far above its Gaussian value), as
        # MONAI floors its maps at 1e-3, but high enough that a corner weight,
        # the product of ndim floors, stays a normal number in ``like.dtype``.
        smallest_normal = torch.finfo(like.dtype).tiny
        self.axis_floor = max(MIN_AXIS_WEIGHT, smallest_normal ** (1.0 / len(self.spatial)))
        self._cache: dict[tuple[tuple[bool, bool], ...], torch.Tensor] = {}

    def _axis_profile(self, axis: int, on_start_border: bool, on_end_border: bool) -> torch.Tensor:
        n = self.out_tile[axis]
        if self.mode == "constant":
            return torch.ones(n, dtype=torch.float64)
        return torch.from_numpy(blend_profile(n, self.sigma_scales[axis], on_start_border, on_end_border, self.axis_floor))

    def for_window(self, window: Sequence[slice]) -> torch.Tensor:
        """``(1, *out_tile)`` weights for the window at input-grid ``window`` slices."""
        key = tuple((bool(w.start == 0), bool(w.stop == size)) for w, size in zip(window, self.spatial))
        if key not in self._cache:
            weights = torch.ones((), dtype=torch.float64)
            for axis, (on_start, on_end) in enumerate(key):
                profile = self._axis_profile(axis, on_start, on_end)
                weights = weights.unsqueeze(-1) * profile
            self._cache[key] = weights.to(device=self.device, dtype=self.dtype)[None]
        return self._cache[key]


def _check_output_grid(
    spatial: Sequence[int], tiles: Sequence[int], strides: Sequence[int], scales: Sequence[float]
) -> None:
    """Raise unless every window maps to whole output pixels at ``scales``."""
    for axis, (size, t, stride, s) in enumerate(zip(spatial, tiles, strides, scales)):
        starts = set(range(0, max(size - t, 0) + 1, stride)) | {size - t}
        for position in sorted(starts | {t, size}):
            scaled = position * s
            if not math.isclose(scaled, round(scaled), abs_tol=_GRID_TOLERANCE):
                raise ValueError(
                    f"axis {axis}: position {position} x scale {s} = {scaled} is not a whole output pixel; "
                    f"choose tile/overlap so window starts (multiples of {stride}, and {size - t}) times "
                    "the scale are integers"
                )
