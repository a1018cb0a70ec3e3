"""One windowing protocol for every method: split → run → blend → merge.

A method never writes its own window loop.  It supplies the *run* step (a
function that restores one window or one batch of slices with the run's
:class:`~restore_core.engine.plan.SamplingPlan`), and one of three back-ends
does the rest:

==============  =====================================  ==========================================
back-end        input                                  split / blend / merge
==============  =====================================  ==========================================
``memory``      a tensor in memory, 2D or 3D           MONAI ``sliding_window_inference`` places
                (:func:`memory.tiled_apply`)           and batches windows; outputs on the finer
                                                       grid blended by :mod:`weights`
``slices``      a volume, slice by slice along an      batches of whole slices, no overlap;
                axis (:func:`slices.restore_slicewise`) reassembled in 3D
``streamed``    a raster larger than memory, read and  the same window placement and weights as
                written block by block                 ``memory``; a strip buffer plus an on-disk
                (:func:`streamed.stream_restore`)      frontier bound the memory by the tile
==============  =====================================  ==========================================

Properties of the protocol, not of a plugin:

* **placement**: :func:`memory.iter_windows` places windows for ``memory`` and
  ``streamed`` alike, so a streamed scene and the same scene in memory are
  split identically;
* **blending**: one profile, :func:`weights.blend_profile` (Gaussian, flat on
  the extent's border);
* **per-window seeded noise**: a window's noise comes from a generator seeded by
  the run's seed and the window's *position* (:func:`window_seed`), never by the
  order in which windows run, so a tile restored alone matches the same tile in
  a mosaic (``streamed``) and a re-run is bit-identical;
* **bounded memory**: each back-end holds at most one batch of windows plus its
  accumulator (``memory``: the output; ``streamed``: one strip, independent of
  the scene's size).
"""
from __future__ import annotations


def window_seed(seed: int, origin: tuple[int, ...], group: int = 0) -> int:
    """A 63-bit seed from the run's ``seed``, a window's ``origin`` and a band/stage ``group``.

    Independent of the order windows run in, so results do not depend on how a
    scene was tiled into files or which windows ran before.
    """
    value = int(seed) & 0xFFFFFFFF
    for part in (*(int(o) for o in origin), int(group)):
        value = (value * 0x9E3779B97F4A7C15 + (part & 0xFFFFFFFF) + 1) % (1 << 63)
    return value


__all__ = ["window_seed"]
