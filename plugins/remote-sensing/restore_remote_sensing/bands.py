"""Which bands a diffusion model restores, and what happens to the others (issue 5, item 5).

The rule (``bands.rgb`` in ``configs/remote-sensing/defaults.yaml``), for
methods whose model has fewer channels than the scene has bands:

1. ``bands.rgb`` lists the 1-based band numbers the model restores, in model
   channel order (e.g. ``[1, 2, 3]``, or ``[4, 3, 2]`` for a Landsat 8 stack).
   ``auto``: the bands whose colour interpretation is red, green and blue when
   the file has all three, else bands 1, 2, 3.
2. Every other band (NIR, SWIR, panchromatic, ...) is upsampled by bicubic
   interpolation and written in its original position: no band is dropped, and
   the output has the input's band count, order and band metadata.
3. A file with fewer bands than the model has channels (one or two bands) has
   each band restored on its own: replicated to the model's channels, and the
   model's output channels averaged back into that band.

The bicubic baseline is not a model and upsamples every band itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from restore_core.errors import UsageError

BandFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
_RGB_NAMES = ("red", "green", "blue")


@dataclass(frozen=True)
class BandRule:
    """0-based band indices: one tuple per model call, and the bands bicubic upsamples."""

    count: int
    model_groups: tuple[tuple[int, ...], ...]
    bicubic_bands: tuple[int, ...]

    def describe(self) -> str:
        groups = ", ".join("+".join(str(b + 1) for b in group) for group in self.model_groups)
        rest = ", ".join(str(b + 1) for b in self.bicubic_bands) or "none"
        return f"model: bands {groups}; bicubic: bands {rest}"


def _interp_name(value: Any) -> str:
    return str(getattr(value, "name", value)).lower()


def band_rule(count: int, colorinterp: Sequence[Any], rgb: Any = "auto", channels: int = 3) -> BandRule:
    """Apply the module's rule to a scene of ``count`` bands and a model of ``channels`` channels."""
    if count < channels:
        return BandRule(count, tuple((b,) * channels for b in range(count)), ())
    if rgb is None or str(rgb).lower() == "auto":
        names = [_interp_name(c) for c in colorinterp]
        if channels == 3 and all(n in names for n in _RGB_NAMES):
            chosen = [names.index(n) for n in _RGB_NAMES]
        else:
            chosen = list(range(channels))
    else:
        try:
            numbers = [int(b) for b in rgb]
        except (TypeError, ValueError):
            raise UsageError(f"bands.rgb must be 'auto' or a list of band numbers, got {rgb!r}") from None
        if len(numbers) != channels or len(set(numbers)) != channels or not all(1 <= b <= count for b in numbers):
            raise UsageError(f"bands.rgb must list {channels} distinct band numbers in 1..{count}, got {numbers}")
        chosen = [b - 1 for b in numbers]
    rest = tuple(b for b in range(count) if b not in chosen)
    return BandRule(count, (tuple(chosen),), rest)


def apply_band_rule(data: np.ndarray, valid: np.ndarray, rule: BandRule, model: BandFn, bicubic: BandFn) -> np.ndarray:
    """Restore a window ``(count, h, w)`` band-wise by ``rule``; returns ``(count, h*s, w*s)`` in band order.

    ``model`` and ``bicubic`` map ``(k, h, w)`` data and validity to ``(k, h*s, w*s)``.
    """
    if data.shape[0] != rule.count:
        raise ValueError(f"window has {data.shape[0]} bands, the rule was made for {rule.count}")
    out: np.ndarray | None = None
    parts: list[tuple[tuple[int, ...], np.ndarray]] = []
    for group in rule.model_groups:
        index = list(group)
        result = np.asarray(model(data[index], valid[index]), dtype=np.float32)
        if len(set(group)) == 1:  # a band replicated to the model's channels: average back
            result = result.mean(axis=0, keepdims=True)
            group = group[:1]
        parts.append((group, result))
    if rule.bicubic_bands:
        index = list(rule.bicubic_bands)
        parts.append((rule.bicubic_bands, np.asarray(bicubic(data[index], valid[index]), dtype=np.float32)))
    for group, result in parts:
        if out is None:
            out = np.empty((rule.count, *result.shape[1:]), np.float32)
        out[list(group)] = result
    assert out is not None
    return out
