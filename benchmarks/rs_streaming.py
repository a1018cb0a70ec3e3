"""Streaming memory and speed of the remote-sensing plugin on synthetic scenes (issue 5, item 2).

    python benchmarks/rs_streaming.py                     # 2k², 8k², 20k² at ×2 (long; needs ~25 GB of disk)
    python benchmarks/rs_streaming.py --sizes 512 1024    # a quick check

For each size, a uint16 4-band scene (smooth fields plus noise) is written as a
tiled, deflate-compressed GeoTIFF into a temporary folder, then restored with
the streaming ``bicubic`` method through ``restore_core.api.restore`` in a
fresh child process, which reports its own peak RSS (``getrusage``
``ru_maxrss``) and wall time.  Megapixels per second count output pixels.
The target: peak RSS at 20000² within 10% of the 2048² figure.
Writes the "rs-streaming" section of docs/benchmarks.md (``--no-doc``: prints it).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from report import markdown_table, update_section

CHILD = """
import json, resource, sys, time
from restore_core.api import restore
import rasterio, torch, restore_remote_sensing.bicubic  # what a run imports, outside the timing
source, target, scale, overrides = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
if source == "-":
    print(json.dumps({"peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    raise SystemExit
began = time.perf_counter()
restore(source, plugin="remote-sensing", output=target, scale=scale, quiet=True, overrides=overrides)
seconds = time.perf_counter() - began
print(json.dumps({"seconds": seconds, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def synthesise(path: Path, size: int, bands: int = 4, strip: int = 512, seed: int = 0) -> None:
    """Write a ``size``² uint16 scene strip by strip (the writer's memory stays one strip)."""
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": bands, "dtype": "uint16", "crs": "EPSG:32618",
        "transform": Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0), "tiled": True, "blockxsize": 512,
        "blockysize": 512, "compress": "deflate", "predictor": 2, "bigtiff": "IF_SAFER",
    }
    rng = np.random.default_rng(seed)
    x = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as dst:
        for top in range(0, size, strip):
            rows = min(strip, size - top)
            y = np.arange(top, top + rows, dtype=np.float32)[:, None]
            layers = []
            for band in range(bands):
                field = np.sin(x / (37.0 + 11 * band)) * np.cos(y / (53.0 + 7 * band)) + np.sin((x + y) / 211.0)
                noise = rng.normal(0.0, 0.15, (rows, size)).astype(np.float32)
                layers.append(np.clip(8000 + 3000 * (field + noise), 0, 65535).astype(np.uint16))
            dst.write(np.stack(layers), window=Window(0, top, size, rows))


def run_child(source: str, target: str, scale: int, overrides: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, source, target, str(scale), *overrides], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 8192, 20000])
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--workdir", help="folder for the temporary scenes (default: the system's temp folder)")
    parser.add_argument("--no-doc", action="store_true", help="print the section instead of writing docs/benchmarks.md")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. tiling.tile=256")
    args = parser.parse_args()
    baseline = run_child("-", "-", args.scale, [])["peak_rss_kb"] / 1024
    rows = []
    for size in args.sizes:
        folder = Path(tempfile.mkdtemp(prefix="rs_streaming_", dir=args.workdir))
        try:
            source, target = folder / f"scene_{size}.tif", folder / f"scene_{size}_x{args.scale}.tif"
            synthesise(source, size)
            result = run_child(str(source), str(target), args.scale, list(args.overrides))
            out_mpx = (size * args.scale) ** 2 / 1e6
            rows.append({
                "scene": f"{size}²×4 uint16", "scale": args.scale, "input Mpx": f"{size * size / 1e6:.1f}",
                "output Mpx": f"{out_mpx:.1f}", "seconds": f"{result['seconds']:.1f}",
                "output Mpx/s": f"{out_mpx / result['seconds']:.2f}",
                "peak RSS MB": round(result["peak_rss_kb"] / 1024), "input MB": round(source.stat().st_size / 2**20),
                "output MB": round(target.stat().st_size / 2**20),
            })
            print(json.dumps(rows[-1]), flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    first = rows[0]["peak RSS MB"]
    for row in rows:
        row["RSS vs first"] = f"{row['peak RSS MB'] / first:.3f}"
    columns = ["scene", "scale", "input Mpx", "output Mpx", "seconds", "output Mpx/s", "peak RSS MB", "RSS vs first", "input MB", "output MB"]
    body = (
        markdown_table(rows, columns)
        + f"\n\nStreaming `bicubic` (plugin defaults: 512-pixel windows, halo 2, 512-pixel deflate blocks, "
        f"64 MB GDAL cache{'; overrides: ' + ' '.join(args.overrides) if args.overrides else ''}), "
        f"run in a fresh process per scene; seconds exclude imports. Peak RSS of a process that only imports what a run imports: "
        f"{baseline:.0f} MB. Target (issue 5): peak RSS at 20000² within 10% of the 2048² figure."
    )
    if args.no_doc:
        print(body)
    else:
        update_section("rs-streaming", "Remote sensing: streaming memory and speed", body)


if __name__ == "__main__":
    main()
