"""Turn a finished training run into a shipped checkpoint: float16 weights plus an honest model card.

    python scripts/ship_checkpoint.py runs/image-sr3/model.safetensors \
        plugins/image/restore_image/checkpoints/sr3.safetensors --plugin image --method sr3 \
        --val data/images/val --scales 2 4 --lpips-weights ../shared/metrics/lpips_alex.safetensors

Weights are stored as float16 (half the size; they are loaded into float32
modules). The model card keeps the training card and gains

* ``training_degradation``: how the training LR was made, from the run's
  resolved config (``train.scales`` and the degradation keys of ``train``:
  ``degradation``, ``degradation_params``, ``detail_complement``,
  ``noise_sigma``) plus the function the method builds from them and that
  function's own one-line description (asked of the method, no model runs);
* ``validation``: mean scores per scale on the held-out folder, measured with
  the stored (float16) weights and the plugin's shipped config, scored exactly
  as the plugin's benchmark in docs/benchmarks.md scores them, with the
  degradation that made the LR (the plugin's ``eval.degradation``):

  - image, MRI: ``restore eval`` (what benchmarks/image_quality.py and
    benchmarks/mri_quality.py run): values divided by the HR file's peak
    (integer files: the dtype's maximum; float files: the file's maximum);
  - remote sensing: benchmarks/rs_quality.py's ×4 area table (LR = ×4
    average pooling rounded to uint16, restored through the plugin with
    ``mosaic.neighbours=false``), each HR crop's [min, max] mapped to [0, 1]
    (its ``normalised``); NOT against the uint16 peak, which the dark
    Landsat scene would inflate by about 20 dB.

Methods that `restore eval` cannot score alone (DisC-Diff needs a reference
contrast per volume) are validated by their own benchmark instead:
`--validation-json rows.json` embeds the rows that benchmark wrote for the
float16 weights (`--stage-only` writes them first, unvalidated, to run it on);
give `--val`, `--max-size`, `--max-slices`, `--benchmark` and `--normalisation`
to record what those rows were measured on and how they were scaled.

``--revalidate-card`` re-makes the card of an already shipped checkpoint
(SOURCE is the shipped ``.safetensors``; no TARGET): the weights file is read,
never written (its sha256 is checked before and after); only the JSON card's
``training_degradation`` and ``validation`` are replaced, and ``revalidated``
records when, by which command and at which commit. The card embedded in the
safetensors metadata keeps the old text: the JSON card beside it is the one
``load_checkpoint`` reads.
"""
from __future__ import annotations

import argparse
import importlib
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from restore_core.api import prepare, restore, run_flags
from restore_core.atomic import write_text_atomic
from restore_core.context import RunContext
from restore_core.engine.checkpoint import load_checkpoint, save_checkpoint
from restore_core.evaluation import evaluate
from restore_core.weights import sha256_of_file

REPO = Path(__file__).resolve().parents[1]
DROP = ("sha256", "created", "code_version", "module_elements")
# the keys of a config's `train:` section that decide how training LR images are made
DEGRADATION_KEYS = ("degradation", "degradation_params", "detail_complement", "noise_sigma")
BENCHMARKS = {"image": "benchmarks/image_quality.py", "mri": "benchmarks/mri_quality.py", "remote-sensing": "benchmarks/rs_quality.py"}
EVAL_NORMALISATION = ("values divided by the HR file's peak (integer files: the dtype's maximum; float files: the "
                      "file's maximum), PSNR/SSIM with data range 1 (restore_core.evaluation.evaluate)")
RS_NORMALISATION = ("each HR crop's [min, max] mapped to [0, 1] (the same map for the output), PSNR/SSIM with "
                    "data range 1 (benchmarks/rs_quality.py normalised/score)")


# -- training degradation ---------------------------------------------------------------
def _defining_function(made: Any) -> Any:
    """The named function or class that built ``made`` (a closure ``f.<locals>.degrade`` -> ``f``)."""
    target = made if callable(made) and hasattr(made, "__qualname__") else type(made)
    parts = target.__qualname__.split(".")
    if "<locals>" in parts:
        parts = parts[: parts.index("<locals>")]
    owner: Any = importlib.import_module(target.__module__)
    for part in parts:
        owner = getattr(owner, part)
    return owner


def _summary(obj: Any) -> str:
    """First paragraph of a docstring, on one line, reST literals as plain backticks."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return " ".join(doc.split("\n\n")[0].split()).replace("``", "`")


def training_degradation(config: Mapping[str, Any]) -> dict[str, Any]:
    """How a run with resolved ``config`` made its training LR images (nothing is trained or run)."""
    from omegaconf import OmegaConf

    train = dict(config.get("train") or {})
    scales = [int(s) for s in train.get("scales") or [config.get("scale")]]
    settings = {key: train[key] for key in DEGRADATION_KEYS if key in train}
    record, _ = prepare(str(config["plugin"]), str(config["method"]), flags=run_flags(True, device="cpu"))
    assert record.registry is not None
    method = record.registry.get("methods", str(config["method"])).factory()
    context = RunContext(device="cpu", quiet=True, registry=record.registry)
    maker = _defining_function(method.degradation(OmegaConf.create(dict(config)), scales[0], context))
    summary = _summary(maker)
    described = "; ".join(f"train.{key} = {json.dumps(value)}" for key, value in settings.items())
    return {
        "source": "config.train (the run's resolved config)",
        "scales": scales,
        "settings": settings,
        "function": f"{maker.__module__}.{maker.__qualname__}",
        "description": f"{summary} Scales: ×{', ×'.join(map(str, scales))}." + (f" Settings: {described}." if described else ""),
    }


def card_training_degradation(card: Mapping[str, Any]) -> dict[str, Any]:
    """``training_degradation`` of a card; a fine-tuned run's init (its first stage) gets its own entry."""
    result = training_degradation(card["config"])
    init = card.get("init")
    if isinstance(init, Mapping) and isinstance(init.get("config"), Mapping):
        result["init"] = training_degradation(init["config"])
    return result


# -- validation ---------------------------------------------------------------------------
def _mean(rows: Sequence[Mapping[str, Any]], metric: str) -> float:
    value = statistics.mean(float(r[metric]) for r in rows)
    return float(f"{value:.3g}") if metric == "consistency_mse" else round(value, 4)


def _settings(cfg: Any) -> dict[str, Any]:
    """What of the shipped config decides the scores (the card's own config is the training run's)."""
    sampler = cfg.get("sampler") or {}
    consistency = cfg.get("consistency") or {}
    return {"sampler": str(sampler.get("name")), "steps": int(sampler.get("steps") or 0), "consistency": consistency.get("name")}


def validate_with_eval(plugin: str, method: str, checkpoint: Path, data: str, scales: Sequence[int], max_size: int,
                       lpips_weights: str | None, out: Path) -> dict[str, Any]:
    """``restore eval`` per scale (what the image and MRI benchmarks run)."""
    overrides = [f"model.checkpoint={checkpoint}", f"eval.max_size={max_size}", "eval.lpips=required" if lpips_weights else "eval.lpips=skip"]
    _, cfg = prepare(plugin, method, flags=run_flags(True, scale=scales[0], device="cpu"), overrides=overrides)
    metrics = ["psnr", "ssim", *(["lpips"] if lpips_weights else []), "consistency_mse"]
    validation: dict[str, Any] = {
        "data": str(data), "max_size": max_size, "degradation": str(cfg.eval.degradation),
        "normalisation": EVAL_NORMALISATION, "benchmark": BENCHMARKS.get(plugin), "shipped_config": _settings(cfg),
    }
    for scale in scales:
        rows = evaluate(plugin, method, data=data, output_dir=out / f"x{scale}", flags={"scale": scale, "device": "cpu"},
                        overrides=overrides, lpips_weights=lpips_weights)
        validation[f"x{scale}"] = {"images": [r["file"] for r in rows], **{m: _mean(rows, m) for m in metrics}}
        print(f"x{scale}: {validation[f'x{scale}']}", flush=True)
    return validation


def validate_remote_sensing(method: str, checkpoint: Path, data: str, scales: Sequence[int],
                            lpips_weights: str | None, out: Path) -> dict[str, Any]:
    """benchmarks/rs_quality.py's ×4 area table for one method, with its degradation and normalisation."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import rs_quality
    from restore_core.metrics import LPIPSMetric

    if list(scales) != [rs_quality.SCALE]:
        raise SystemExit(f"remote sensing is validated at ×{rs_quality.SCALE} only (benchmarks/rs_quality.py), got {list(scales)}")
    overrides = ["mosaic.neighbours=false", f"model.checkpoint={checkpoint}"]
    _, cfg = prepare("remote-sensing", method, flags=run_flags(True, scale=rs_quality.SCALE, device="cpu"), overrides=overrides)
    if str(cfg.eval.degradation) != "area":
        raise SystemExit(f"eval.degradation is {cfg.eval.degradation}; benchmarks/rs_quality.py validates ×4 area downsampling")
    files = sorted(Path(data).glob("*.tif"))
    if not files:
        raise SystemExit(f"{data}: no .tif crops")
    hrs = [rs_quality.read(f) for f in files]
    folder = out / "lr"
    folder.mkdir(parents=True, exist_ok=True)
    for index, (path, (hr, profile)) in enumerate(zip(files, hrs)):
        rs_quality.write_lr(folder / path.name, rs_quality.degrade(hr, "area", index), profile)
    written = restore(folder, plugin="remote-sensing", method=method, output=out / method, scale=rs_quality.SCALE, overrides=overrides)
    lpips = LPIPSMetric(lpips_weights) if lpips_weights else None
    rows = [rs_quality.score(rs_quality.read(o)[0], hr, lpips) for o, (hr, _) in zip(sorted(written), hrs)]
    metrics = ["psnr", "ssim", *(["lpips"] if lpips else [])]
    shapes = sorted({"x".join(map(str, hr.shape[1:])) for hr, _ in hrs})
    validation = {
        "data": str(data), "crops": ", ".join(shapes), "degradation": "area",
        "lr": "×4 average pooling, rounded to uint16 (benchmarks/rs_quality.py degrade)",
        "normalisation": RS_NORMALISATION, "benchmark": BENCHMARKS["remote-sensing"], "shipped_config": _settings(cfg),
        f"x{rs_quality.SCALE}": {"images": [f.name for f in files], **{m: _mean(rows, m) for m in metrics}},
    }
    print(f"x{rs_quality.SCALE}: {validation[f'x{rs_quality.SCALE}']}", flush=True)
    return validation


def validate(args: argparse.Namespace, checkpoint: Path, tmp: Path) -> dict[str, Any]:
    if args.plugin == "remote-sensing":
        return validate_remote_sensing(args.method, checkpoint, args.val, args.scales, args.lpips_weights, tmp)
    return validate_with_eval(args.plugin, args.method, checkpoint, args.val, args.scales, args.max_size, args.lpips_weights, tmp)


def validation_from_json(args: argparse.Namespace) -> dict[str, Any]:
    """Rows a benchmark wrote (``--validation-json``), with what they were measured on."""
    _, cfg = prepare(args.plugin, args.method, flags=run_flags(True, device="cpu"))
    return {
        "source": str(args.validation_json), "benchmark": args.benchmark, "data": args.val, "max_size": args.max_size,
        **({"max_slices": args.max_slices} if args.max_slices else {}),
        "degradation": str(cfg.eval.degradation), "normalisation": args.normalisation, "shipped_config": _settings(cfg),
        "rows": json.loads(Path(args.validation_json).read_text()),
    }


# -- commands -----------------------------------------------------------------------------
def _with_cards_fields(card: Mapping[str, Any], training: Mapping[str, Any], validation: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """``card`` with ``training_degradation`` and ``validation`` (re)placed after ``steps``, everything else kept in order."""
    result: dict[str, Any] = {}
    for key, value in card.items():
        if key in ("training_degradation", "validation", *extra):
            continue
        result[key] = value
        if key == "steps":
            result.update({"training_degradation": training, "validation": validation, **extra})
    if "validation" not in result:
        result.update({"training_degradation": training, "validation": validation, **extra})
    return result


def _code_revision() -> dict[str, Any]:
    """HEAD and whether the code that scores (not the cards being rewritten) differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    code = ["restore_core", "plugins", "scripts", "benchmarks", ":(exclude,glob)plugins/*/*/checkpoints/*.json"]
    return {"git_commit": git("rev-parse", "HEAD") or None,
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", *code))}


def revalidate_card(args: argparse.Namespace) -> None:
    """Re-measure a shipped checkpoint's validation and rewrite only its JSON card's degradation/validation fields."""
    weights = Path(args.source)
    card_file = weights.with_suffix(".json")
    card = json.loads(card_file.read_text(encoding="utf-8"))
    before = sha256_of_file(weights)
    if before != card.get("sha256"):
        raise SystemExit(f"{weights}: sha256 {before} differs from its card's {card.get('sha256')}")
    if (card["plugin"], card["method"]) != (args.plugin, args.method):
        raise SystemExit(f"{card_file} is a {card['plugin']}/{card['method']} card, not {args.plugin}/{args.method}")
    training = card_training_degradation(card)
    if args.validation_json:
        validation = validation_from_json(args)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            validation = validate(args, weights.resolve(), Path(tmp))
    if sha256_of_file(weights) != before:
        raise SystemExit(f"{weights} changed while it was validated")
    revalidated = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        **_code_revision(),
        "note": "weights unchanged (sha256 checked); validation and training_degradation re-made; the card inside "
                "the safetensors metadata predates this and is superseded by this JSON card",
    }
    write_text_atomic(card_file, json.dumps(_with_cards_fields(card, training, validation, revalidated=revalidated), indent=2) + "\n")
    print(card_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("target", nargs="?")
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--val", help="held-out HR folder (scored as the plugin's benchmark scores it)")
    parser.add_argument("--validation-json", help="instead of scoring here: validation rows measured by a benchmark")
    parser.add_argument("--benchmark", help="with --validation-json: the benchmark command that wrote the rows")
    parser.add_argument("--max-slices", type=int, default=0, help="with --validation-json: central slices the benchmark kept")
    parser.add_argument("--normalisation", help="with --validation-json: what the benchmark scaled to [0, 1] before PSNR/SSIM")
    parser.add_argument("--data-description",
                        help="correct the run card's data description (it comes from the config's "
                             "train.data_description, which may not have named the folder's contents); the run's "
                             "own text is kept under data.description_in_run_card")
    parser.add_argument("--stage-only", action="store_true", help="write the float16 weights without validation")
    parser.add_argument("--revalidate-card", action="store_true",
                        help="SOURCE is a shipped checkpoint: re-make its card's validation and training_degradation only")
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--max-size", type=int, default=256)
    parser.add_argument("--lpips-weights", help="also score LPIPS with these AlexNet weights (the benchmarks use ../shared/metrics/lpips_alex.safetensors)")
    args = parser.parse_args()
    if not (args.stage_only or args.validation_json or args.val):
        parser.error("give --val, --validation-json or --stage-only")
    if args.revalidate_card:
        if args.target or args.stage_only:
            parser.error("--revalidate-card takes only SOURCE (the shipped checkpoint) and a validation")
        revalidate_card(args)
        return
    if not args.target:
        parser.error("give TARGET")
    modules, card = load_checkpoint(args.source)
    half = {name: {k: v.half() if v.is_floating_point() else v for k, v in sd.items()} for name, sd in modules.items()}
    card = {k: v for k, v in card.items() if k not in DROP}
    card["stored_dtype"] = "float16"
    card["trained_from"] = str(args.source)
    if args.data_description:
        data = dict(card.get("data") or {})
        data["description_in_run_card"] = data.get("description")
        data["description"] = args.data_description
        card["data"] = data
    training = card_training_degradation(card)
    if args.stage_only:  # unvalidated: no scores, not even those the source's card carried
        card.pop("validation", None)
        card["training_degradation"] = training
        print(save_checkpoint(args.target, half, card))
        return
    if args.validation_json:
        print(save_checkpoint(args.target, half, _with_cards_fields(card, training, validation_from_json(args))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        staged = save_checkpoint(Path(tmp) / "staged.safetensors", half, card)
        validation = validate(args, staged, Path(tmp))
    print(save_checkpoint(args.target, half, _with_cards_fields(card, training, validation)))


if __name__ == "__main__":
    main()
