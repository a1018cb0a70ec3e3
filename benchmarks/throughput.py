"""Throughput of every shipped method against the machine's own limit (issue 12, item 1).

    python benchmarks/throughput.py [--device cpu|cuda] [--threads N] [--no-doc]

In ONE run: the machine's limit (a 64-channel 3×3 convolution on 256² and a 2048² matmul, at the
thread count used), then for every shipped method at its default settings, one default window (image
and remote sensing: ``tiling.tile`` LR pixels; MRI: one 256×256 output slice) restored once through the
method's own sampling plan, with:

* the denoiser's FLOPs per evaluation (``torch.utils.flop_counter.FlopCounterMode``, multiply-adds × 2),
* its achieved GFLOP/s (FLOPs × evaluations / seconds inside the denoiser) and the ratio to the
  convolution limit,
* the number of evaluations, seconds per output megapixel (MRI: per 256×256 slice and per 256×256×64
  volume), the share of wall time outside the denoiser, and the process's peak RSS.

Writes the "throughput" section of docs/benchmarks.md (``--no-doc``: prints it).  Read the ratios, not
the seconds, when other jobs share the machine.
"""
from __future__ import annotations

import argparse
import resource
import time
from typing import Any, Callable

import torch
from report import markdown_table, update_section

#: (plugin, method, output grid of one window) — the shipped methods at their defaults.
METHODS = [
    ("image", "srdiff", None), ("image", "sr3", None), ("image", "resshift", None),
    ("remote-sensing", "dmdc", None), ("remote-sensing", "ddsr", None),
    ("mri", "r2d2", (256, 256)), ("mri", "disc-diff", (256, 256)),
]


def timed(fn: Callable[[], Any], repeats: int = 3) -> float:
    fn()  # warm-up
    began = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - began) / repeats


def machine_limit(device: str) -> dict[str, float]:
    """GFLOP/s of a plain 64-channel 3×3 convolution (256², batch 1) and of a 2048² matmul."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device).eval()
    x = torch.randn(1, 64, 256, 256, device=device)
    a, b = torch.randn(2048, 2048, device=device), torch.randn(2048, 2048, device=device)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    with torch.inference_mode():
        conv_s = timed(lambda: (conv(x), sync()))
        mm_s = timed(lambda: (a @ b, sync()))
    conv_flops = 2 * 64 * 64 * 9 * 256 * 256
    return {"conv_gflops": conv_flops / conv_s / 1e9, "matmul_gflops": 2 * 2048**3 / mm_s / 1e9}


class CountingDenoiser:
    """Wraps ``model.denoise``: counts evaluations and the seconds spent inside it."""

    def __init__(self, model: Any, device: str) -> None:
        self.model, self.inner, self.device = model, model.denoise, device
        self.calls, self.seconds = 0, 0.0

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, cond: Any) -> torch.Tensor:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        began = time.perf_counter()
        out = self.inner(x_t, t, cond)
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - began
        self.calls += 1
        return out


def flops_per_evaluation(model: Any, x_t: torch.Tensor, cond: Any) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model.denoise(x_t, torch.full((x_t.shape[0],), 10, device=x_t.device, dtype=torch.long), cond)
    return float(counter.get_total_flops())


def measure(plugin: str, method: str, grid: tuple[int, int] | None, device: str) -> dict[str, Any]:
    """Restore one default window of ``method`` once and measure it (see the module docstring)."""
    from restore_core.api import make_context, prepare
    from restore_core.engine.plan import run_plan
    from restore_core.engine.sr_model import hr_size_for

    record, cfg = prepare(plugin, method, flags={"device": device, "quiet": True})
    context = make_context(cfg, registry=record.registry)
    method_obj = record.registry.get("methods", method).factory()
    channels = 1 if plugin == "mri" else 3
    loaded = method_obj.load(cfg, channels, context)
    model, plan = loaded.model, method_obj.plan(cfg, loaded, context)
    generator = torch.Generator(device=device).manual_seed(0)
    if plugin == "mri":
        scale = 2
        lr = torch.rand(1, 1, grid[0] // scale, grid[1] // scale, device=device) * 2 - 1
        from restore_mri.disc_diff import sample_disc_diff
        from restore_mri.r2d2 import sample_r2d2

        if method == "r2d2":
            run = lambda: sample_r2d2(model, plan, lr, (2.0, 2.0), generator, sigma=0.02, lam=1.0)  # noqa: E731
            cond = model.condition(lr, grid)
        else:
            ref = torch.rand(1, 1, *grid, device=device) * 2 - 1
            run = lambda: sample_disc_diff(model, plan, lr, ref, (2.0, 2.0), generator, 1.0)  # noqa: E731
            cond = model.condition(lr, grid, ref)
        hr_size = grid
    else:
        scale = int(float(cfg.scale))
        tile = int(cfg.tiling.tile)
        lr = torch.rand(1, 3, tile, tile, device=device) * 2 - 1
        hr_size = hr_size_for(lr, scale, model.wavelet)
        cond = model.condition(lr, hr_size)
        run = lambda: run_plan(plan, model, lr, hr_size, generator)  # noqa: E731
    x_t = torch.randn(1, model.target_channels, *model.target_grid(hr_size), device=device)
    flops = flops_per_evaluation(model, x_t, cond)
    counter = CountingDenoiser(model, device)
    model.denoise = counter
    try:
        with torch.inference_mode():
            run()  # warm-up (first-call allocations)
            counter.calls, counter.seconds = 0, 0.0
            began = time.perf_counter()
            run()
            wall = time.perf_counter() - began
    finally:
        del model.denoise
    megapixels = hr_size[0] * hr_size[1] / 1e6
    row = {
        "method": f"{plugin}/{method}", "window": f"{tuple(lr.shape[2:])}→{tuple(hr_size)}",
        "gflop_per_eval": flops / 1e9, "evals": counter.calls,
        "gflops": flops * counter.calls / max(counter.seconds, 1e-9) / 1e9,
        "s_per_mpx": wall / megapixels, "outside_denoiser": 1.0 - counter.seconds / wall,
    }
    if plugin == "mri":
        row["s_per_volume_64"] = wall * 64
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the setting the tests and CI use)")
    parser.add_argument("--methods", nargs="+", default=[f"{p}/{m}" for p, m, _ in METHODS])
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    limit = machine_limit(args.device)
    print(limit, flush=True)
    rows = []
    for plugin, method, grid in METHODS:
        if f"{plugin}/{method}" not in args.methods:
            continue
        row = measure(plugin, method, grid, args.device)
        row["of_limit"] = row["gflops"] / limit["conv_gflops"]
        rows.append(row)
        print(row, flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    columns = ["method", "window", "gflop_per_eval", "evals", "gflops", "of_limit", "s_per_mpx", "outside_denoiser", "s_per_volume_64"]
    body = (
        f"Command: `python benchmarks/throughput.py --device {args.device} --threads {args.threads}`. Machine limit at "
        f"{args.threads} thread(s): 64-channel 3×3 convolution {limit['conv_gflops']:.1f} GFLOP/s, 2048² matmul "
        f"{limit['matmul_gflops']:.1f} GFLOP/s. One default window per method, restored once with its shipped "
        "config (after a warm-up run); `of_limit` = the denoiser's achieved GFLOP/s over the convolution limit; "
        "`outside_denoiser` = the share of wall time not spent in denoiser calls; `s_per_volume_64` = seconds "
        f"for 64 such slices. Peak RSS of the whole run: {peak:.0f} MB.\n\n"
        + markdown_table(rows, [c for c in columns if any(c in r for r in rows)])
    )
    if args.no_doc:
        print(body)
    else:
        update_section("throughput", "Throughput against the machine's limit", body)


if __name__ == "__main__":
    main()
