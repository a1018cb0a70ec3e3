"""Export the EMA weights of a training run's last checkpoint as a loadable model.

    python scripts/export_ema.py runs/image-sr3/last.safetensors runs/image-sr3/ema_now.safetensors

Useful to validate a run while it trains; `restore train` writes the same
thing as model.safetensors when it finishes.
"""
from __future__ import annotations

import sys

from restore_core.engine.checkpoint import load_checkpoint, save_checkpoint


def main() -> None:
    source, target = sys.argv[1], sys.argv[2]
    modules, card = load_checkpoint(source)
    card = {k: v for k, v in card.items() if k not in ("sha256", "created", "code_version", "module_elements")}
    print(save_checkpoint(target, {"model": modules["ema"]}, {**card, "exported_from": source}))


if __name__ == "__main__":
    main()
