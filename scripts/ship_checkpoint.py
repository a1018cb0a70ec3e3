"""Turn a finished training run into a shipped checkpoint: float16 weights plus validation scores.

    python scripts/ship_checkpoint.py runs/image-sr3/model.safetensors \
        plugins/image/restore_image/checkpoints/sr3.safetensors --plugin image --method sr3 \
        --val data/images/val --scales 2 4

Weights are stored as float16 (half the size; they are loaded into float32
modules). The model card keeps the training card and gains `validation`:
mean PSNR/SSIM/consistency per scale on the held-out folder, measured with the
stored (float16) weights through `restore eval`.

Methods that `restore eval` cannot score alone (DisC-Diff needs a reference
contrast per volume) are validated by their own benchmark instead:
`--validation-json rows.json` embeds the rows that benchmark wrote for the
float16 weights (`--stage-only` writes them first, unvalidated, to run it on).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from restore_core.engine.checkpoint import load_checkpoint, save_checkpoint
from restore_core.evaluation import evaluate

DROP = ("sha256", "created", "code_version", "module_elements")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--val", help="held-out HR folder (scored with restore eval)")
    parser.add_argument("--validation-json", help="instead of --val: validation rows measured by a benchmark")
    parser.add_argument("--stage-only", action="store_true", help="write the float16 weights without validation")
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--max-size", type=int, default=256)
    args = parser.parse_args()
    modules, card = load_checkpoint(args.source)
    half = {name: {k: v.half() if v.is_floating_point() else v for k, v in sd.items()} for name, sd in modules.items()}
    card = {k: v for k, v in card.items() if k not in DROP}
    card["stored_dtype"] = "float16"
    card["trained_from"] = str(args.source)
    if args.stage_only or args.validation_json:
        if args.validation_json:
            card["validation"] = {"source": str(args.validation_json), "rows": json.loads(Path(args.validation_json).read_text())}
        print(save_checkpoint(args.target, half, card))
        return
    if not args.val:
        parser.error("give --val, --validation-json or --stage-only")
    with tempfile.TemporaryDirectory() as tmp:
        staged = save_checkpoint(Path(tmp) / "staged.safetensors", half, card)
        validation = {}
        for scale in args.scales:
            rows = evaluate(args.plugin, args.method, data=args.val, output_dir=Path(tmp) / f"x{scale}",
                            flags={"scale": scale, "device": "cpu"},
                            overrides=[f"model.checkpoint={staged}", f"eval.max_size={args.max_size}", "eval.lpips=skip"])
            validation[f"x{scale}"] = {
                "images": [r["file"] for r in rows],
                **{m: round(statistics.mean(r[m] for r in rows), 4) for m in ("psnr", "ssim", "consistency_mse")},
            }
            print(f"x{scale}: {validation[f'x{scale}']}", flush=True)
    card["validation"] = {"data": str(args.val), "max_size": args.max_size, "degradation": "area", **validation}
    print(save_checkpoint(args.target, half, card))


if __name__ == "__main__":
    main()
