"""Export a prior trained by ``restore train --method <zero-shot method>`` as a published-layout weights file.

    python scripts/export_prior.py runs/prior-image/model.safetensors plugins/image/restore_image/checkpoints/prior-image.safetensors

The training checkpoint holds the :class:`~restore_core.engine.prior.UnconditionalPrior` (keys
``network.*``); the export holds the network alone with the reference architecture's own keys
(float16, safetensors), exactly as a published checkpoint of ``prior.arch`` would, so it loads with
``restore weights add`` and ``--weights`` like any published prior.  Beside it, ``<name>.json``: the
architecture, its configuration and schedule, and the training provenance (data, steps, seconds,
code version, the training card's sha256) and this file's own sha256.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from restore_core.engine.checkpoint import load_checkpoint
from restore_core.published import build
from restore_core.published.state_files import load_into
from restore_core.weights import sha256_of_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="the training run's model.safetensors (EMA weights)")
    parser.add_argument("target", type=Path, help="the exported .safetensors")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    args = parser.parse_args()
    modules, card = load_checkpoint(args.source)
    prior = (card.get("config") or {}).get("prior") or {}
    state = {k[len("network."):]: v for k, v in modules["model"].items() if k.startswith("network.")}
    if not state or not prior.get("arch"):
        raise SystemExit(f"{args.source}: not a trained prior (no network.* weights or no prior.arch in its card)")
    dtype = getattr(torch, args.dtype)
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    args.target.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(args.target), metadata={"format": "published-layout", "arch": str(prior["arch"])})
    load_into(build(str(prior["arch"]), dict(prior.get("config") or {})), args.target)  # it must load as published weights do
    export = {
        "arch": prior["arch"], "config": prior.get("config"), "diffusion": prior.get("diffusion"),
        "stored_dtype": args.dtype, "sha256": sha256_of_file(args.target),
        "trained": {
            "method": card.get("method"), "plugin": card.get("plugin"), "data": card.get("data"), "steps": card.get("steps"),
            "train_seconds": card.get("train_seconds"), "train_config": (card.get("config") or {}).get("train"),
            "code_version": card.get("code_version"), "training_checkpoint_sha256": card.get("sha256"), "created": card.get("created"),
        },
    }
    args.target.with_suffix(".json").write_text(json.dumps(export, indent=2) + "\n")
    print(f"{args.target} ({args.target.stat().st_size / 1e6:.1f} MB, sha256 {export['sha256']})")


if __name__ == "__main__":
    main()
