"""Score one restored/reference pair and write a table of scores as CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from restore_core.atomic import write_text_atomic
from restore_core.metrics.image_quality import ArrayLike, as_float_tensor, psnr, ssim

if TYPE_CHECKING:
    from restore_core.metrics.lpips_metric import LPIPSMetric


def evaluate_pair(
    pred: ArrayLike,
    target: ArrayLike,
    data_range: float,
    spatial_dims: int,
    lpips: LPIPSMetric | None = None,
    lpips_slice_axis: int = 0,
) -> dict[str, float]:
    """PSNR, SSIM (Wang et al. 2004) and, if ``lpips`` is given, LPIPS (Zhang et al. 2018).

    Values are assumed to lie in ``[0, data_range]``; LPIPS sees them divided
    by ``data_range``. 3D LPIPS is the mean over slices along ``lpips_slice_axis``.
    """
    scores = {
        "psnr": psnr(pred, target, data_range),
        "ssim": ssim(pred, target, data_range, spatial_dims),
    }
    if lpips is not None:
        scale = 1.0 / float(data_range)
        scores["lpips"] = lpips(
            as_float_tensor(pred) * scale,
            as_float_tensor(target) * scale,
            spatial_dims=spatial_dims,
            slice_axis=lpips_slice_axis,
        )
    return scores


def _plain(value: Any) -> Any:
    """NumPy/torch scalars and paths -> JSON-native values."""
    if isinstance(value, (np.generic,)):
        return value.item()
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _json_safe(value: Any) -> Any:
    """Non-finite floats become strings ("inf", "nan") so the JSON stays standard."""
    value = _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_results(
    rows: list[dict[str, Any]],
    csv_path: str | Path | None,
    json_path: str | Path | None,
) -> None:
    """Write ``rows`` (one dict per case) to CSV and/or JSON.

    CSV columns are the union of the rows' keys in first-seen order; a missing
    value is an empty cell. Either path may be ``None`` to skip that format.
    """
    plain_rows = [{key: _plain(value) for key, value in row.items()} for row in rows]
    if csv_path is not None:
        columns: list[str] = []
        for row in plain_rows:
            columns.extend(key for key in row if key not in columns)
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(plain_rows)
        write_text_atomic(csv_path, table.getvalue())
    if json_path is not None:
        safe_rows = [{key: _json_safe(value) for key, value in row.items()} for row in plain_rows]
        write_text_atomic(json_path, json.dumps(safe_rows, indent=2) + "\n")
