"""Image and volume quality metrics: PSNR, SSIM, LPIPS, data consistency, reports.

MONAI (PSNR/SSIM) and lpips are imported on first use, so importing this
package stays cheap.
"""

from restore_core.metrics.comparison_png import side_by_side_png
from restore_core.metrics.image_quality import consistency_mse, psnr, ssim
from restore_core.metrics.lpips_metric import LPIPS_EXTRA_HINT, LPIPSMetric
from restore_core.metrics.report import evaluate_pair, write_results

__all__ = [
    "LPIPS_EXTRA_HINT",
    "LPIPSMetric",
    "consistency_mse",
    "evaluate_pair",
    "psnr",
    "side_by_side_png",
    "ssim",
    "write_results",
]
