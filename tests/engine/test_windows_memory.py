"""tiled_apply: equality with the untiled operator, shapes, seams, bounded windows."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from restore_core.engine.windows.memory import iter_windows, tiled_apply

SIGMA_SCALE = 0.125


def _nearest_up(scale: int):
    return lambda window: F.interpolate(window, scale_factor=scale, mode="nearest")


def _bilinear_up2(window: torch.Tensor) -> torch.Tensor:
    return F.interpolate(window, scale_factor=2, mode="bilinear", align_corners=False)


def _conv_net(spatial_dims: int, upscale: int = 1, upsample_mode: str = "nearest") -> torch.nn.Module:
    """Two 3x3(x3) zero-padded convs, then upsampling: receptive radius 2 input pixels
    (nearest) or 3 (bilinear)."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d if spatial_dims == 2 else torch.nn.Conv3d
    layers = [conv(1, 4, 3, padding=1), torch.nn.Tanh(), conv(4, 1, 3, padding=1)]
    if upscale > 1:
        layers.append(torch.nn.Upsample(scale_factor=upscale, mode=upsample_mode))
    return torch.nn.Sequential(*layers).eval()


def _border_error(fn, x: torch.Tensor, tile: int, overlap: int, scale: int) -> float:
    """E: the largest difference between a window's output and the untiled output there."""
    full = fn(x)
    worst = 0.0
    for window in iter_windows(x.shape[2:], tile, overlap):
        out_window = tuple(slice(s.start * scale, s.stop * scale) for s in window)
        diff = fn(x[(slice(None), slice(None), *window)]) - full[(slice(None), slice(None), *out_window)]
        worst = max(worst, diff.abs().max().item())
    return worst


def _blend_leak_bound(tile: int, overlap: int, radius: int, scale: int, ndim: int) -> float:
    """Fraction of E that can reach the blended output (why the tolerance is what it is).

    A window's output is wrong only within ``r = radius * scale`` output pixels of
    an edge inside the image. Along one axis such a pixel has offset at least
    ``d_bad = (T - 1) / 2 - (r - 1)`` from that window's centre (T = tile * scale),
    and, since windows overlap by ``O = overlap * scale >= 2r``, it lies within
    ``d_good = |(T - 1) / 2 - (T - O)| + r`` of the centre of a neighbour that saw
    its full context (or on that neighbour's image-border plateau, weight 1). The
    weights are separable, so the wrong share is at most ``g(d_bad) / g(d_good)``
    per axis, summed over axes: err <= ndim * g(d_bad) / g(d_good) * E, with
    ``g(d) = exp(-d^2 / (2 (sigma_scale T)^2))``.
    """
    t_out, r_out, o_out = tile * scale, radius * scale, overlap * scale
    assert o_out >= 2 * r_out
    sigma = SIGMA_SCALE * t_out
    d_bad = (t_out - 1) / 2 - (r_out - 1)
    d_good = abs((t_out - 1) / 2 - (t_out - o_out)) + r_out
    return ndim * math.exp(-(d_bad**2 - d_good**2) / (2 * sigma**2))


@pytest.mark.parametrize(
    ("spatial_dims", "size", "tile", "overlap", "scale"),
    [(2, (37, 50), 16, 4, 2), (2, (23, 9), 8, 0.5, 4), (3, (11, 13, 9), 6, 2, 2), (3, (7, 10, 5), 4, 0, 4)],
)
def test_pointwise_upsampling_is_reproduced_exactly(spatial_dims, size, tile, overlap, scale) -> None:
    """Nearest upsampling sees no context, so tiling may only cost float rounding
    of ``sum(g * v) / sum(g) = v``: a few ulps, hence 1e-5 on values ~N(0, 1)."""
    x = torch.randn(2, 3, *size)
    fn = _nearest_up(scale)
    out = tiled_apply(fn, x, tile=tile, overlap=overlap, scale=scale)
    assert out.shape == (2, 3, *(s * scale for s in size))
    torch.testing.assert_close(out, fn(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("fn", "spatial_dims", "size", "radius", "scale"),
    [
        (_bilinear_up2, 2, (40, 52), 1, 2),
        (_conv_net(2), 2, (60, 49), 2, 1),
        (_conv_net(2, upscale=2), 2, (25, 41), 2, 2),
        (_conv_net(3, upscale=2), 3, (30, 26, 28), 2, 2),
    ],
)
def test_local_operator_matches_untiled_within_the_blending_bound(fn, spatial_dims, size, radius, scale) -> None:
    tile, overlap = 24, 12
    torch.manual_seed(1)
    x = torch.randn(1, 1, *size)
    with torch.no_grad():
        out = tiled_apply(fn, x, tile=tile, overlap=overlap, scale=scale)
        untiled = fn(x)
        border_error = _border_error(fn, x, tile, overlap, scale)
    tolerance = _blend_leak_bound(tile, overlap, radius, scale, spatial_dims) * border_error
    assert border_error > 0.05  # the windows really are wrong at their edges ...
    assert tolerance < 0.02 * border_error  # ... and the bound says blending hides 98 % of it
    assert (out - untiled).abs().max().item() <= tolerance


def test_flush_last_window_does_not_leak_its_neighbours_edge() -> None:
    """Image just larger than a tile: two windows overlap almost fully. With one
    shared Gaussian map (plain MONAI) the inner window's wrong edge weighs ~1/3
    at the image border; the border plateau here keeps it at ~1e-3."""
    fn = _conv_net(2)
    x = torch.randn(1, 1, 25, 25)
    with torch.no_grad():
        error = (tiled_apply(fn, x, tile=24, overlap=12) - fn(x)).abs().max().item()
        border_error = _border_error(fn, x, 24, 12, 1)
    assert error < 0.01 * border_error


@pytest.mark.parametrize(("size", "scale"), [((5, 7), 4), ((3, 4, 2), 2)])
def test_input_smaller_than_tile_runs_as_one_window(size, scale) -> None:
    calls = []

    def fn(window: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(window.shape))
        return _nearest_up(scale)(window)

    x = torch.randn(1, 2, *size)
    out = tiled_apply(fn, x, tile=16, overlap=0.25, scale=scale)
    assert calls == [(1, 2, *size)]
    torch.testing.assert_close(out, _nearest_up(scale)(x))


@pytest.mark.parametrize("batch_size", [1, 3])
def test_fn_never_sees_more_than_a_tile(batch_size: int) -> None:
    seen = []

    def fn(window: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(window.shape))
        return _nearest_up(2)(window)

    x = torch.randn(2, 1, 45, 31, 20)
    tile = (8, 12, 16)
    tiled_apply(fn, x, tile=tile, overlap=3, scale=2, batch_size=batch_size)
    windows_per_image = len(list(iter_windows(x.shape[2:], tile, 3)))
    assert sum(shape[0] for shape in seen) == 2 * windows_per_image
    assert all(shape[0] <= batch_size and shape[2:] == tile for shape in seen)


def _seam_ratio(out: torch.Tensor, tile_out: int, stride_out: int) -> float:
    """Max gradient magnitude within 2 px of a window edge / max gradient elsewhere."""
    grad_rows = (out[..., 1:, :-1] - out[..., :-1, :-1]).abs()
    grad_cols = (out[..., :-1, 1:] - out[..., :-1, :-1]).abs()
    magnitude = torch.sqrt(grad_rows**2 + grad_cols**2)[0, 0]
    edges = set()
    for start in range(0, magnitude.shape[0], stride_out):
        edges.update({start, start + tile_out})
    near_edge = torch.zeros_like(magnitude, dtype=torch.bool)
    for edge in edges:
        if 0 < edge < magnitude.shape[0]:
            near_edge[max(edge - 2, 0) : edge + 2, :] = True
            near_edge[:, max(edge - 2, 0) : edge + 2] = True
    inner = (slice(4, -4), slice(4, -4))  # the image's own border is not a seam
    return (magnitude[inner][near_edge[inner]].max() / magnitude[inner][~near_edge[inner]].max()).item()


@pytest.mark.parametrize(("scale", "plain_seam_ratio"), [(1, 2.0), (2, 1.4)])
def test_no_seams_on_a_smooth_image(scale: int, plain_seam_ratio: float) -> None:
    """A zero-padded conv net makes every window's border wrong; the Gaussian
    blend must hide it: gradients at window edges stay within 10 % of the rest.
    The same net on plain, non-overlapping tiles shows the seams (the ratios
    measured for it are ~3.1 at x1 and ~1.7 at x2, bilinear smoothing part of it)."""
    coords = torch.linspace(0, 1, 72)
    x = (torch.sin(2 * math.pi * coords)[:, None] * torch.cos(3 * math.pi * coords)[None, :])[None, None]
    fn = _conv_net(2, upscale=scale, upsample_mode="bilinear")
    with torch.no_grad():
        blended = tiled_apply(fn, x, tile=24, overlap=12, scale=scale)
        plain = tiled_apply(fn, x, tile=24, overlap=0, scale=scale, mode="constant")
    assert _seam_ratio(blended, tile_out=24 * scale, stride_out=12 * scale) < 1.1
    assert _seam_ratio(plain, tile_out=24 * scale, stride_out=24 * scale) > plain_seam_ratio


def test_iter_windows_cover_the_image_with_the_requested_overlap() -> None:
    windows = list(iter_windows((50, 20), 16, 4))
    covered = torch.zeros(50, 20)
    for window in windows:
        covered[window] += 1
        assert all(s.stop - s.start == min(16, n) for s, n in zip(window, (50, 20)))
    assert covered.min() >= 1
    starts = sorted({w[0].start for w in windows})
    assert starts == [0, 12, 24, 34]  # stride 16 - 4, the last flush with the end


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"overlap": 1.0}, ValueError),
        ({"overlap": -1}, ValueError),
        ({"overlap": True}, TypeError),
        ({"overlap": 2, "x": torch.ones(1, 1, 30, 30, dtype=torch.int64)}, TypeError),
        ({"overlap": 0.25, "mode": "median"}, ValueError),
        ({"overlap": 3, "scale": 1.5}, ValueError),  # window start 13 * 1.5 is no output pixel
        ({"overlap": 0.25, "scale": 3}, ValueError),  # fn returns x2, not x3
    ],
)
def test_bad_arguments_raise(kwargs, error) -> None:
    kwargs = {"x": torch.randn(1, 1, 30, 30), **kwargs}
    with pytest.raises(error):
        tiled_apply(_nearest_up(2), tile=16, **kwargs)


def test_half_precision_weights_stay_representable() -> None:
    """3D corners multiply three edge weights; fp16 must not flush them to 0 (0/0)."""
    x = torch.randn(1, 1, 20, 20, 20).half()
    out = tiled_apply(_nearest_up(2), x, tile=8, overlap=0, scale=2)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, _nearest_up(2)(x), atol=1e-2, rtol=1e-2)


def test_fractional_scale_on_aligned_windows() -> None:
    x = torch.randn(1, 1, 32, 32)
    fn = lambda window: F.interpolate(window, scale_factor=1.5, mode="nearest")  # noqa: E731
    out = tiled_apply(fn, x, tile=16, overlap=8, scale=1.5)
    assert out.shape == (1, 1, 48, 48)
