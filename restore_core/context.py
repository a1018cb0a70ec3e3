"""What a method receives besides its input and config: device, seed, progress."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, TypeVar

from restore_core.errors import UsageError

T = TypeVar("T")

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> str:
    """Map ``auto|cpu|cuda`` (or ``cuda:N``) to a torch device string."""
    import torch

    choice = str(requested).lower()
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cpu":
        return "cpu"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for, but no CUDA device is available (use --device cpu or auto)")
        return choice
    raise UsageError(f"unknown device '{requested}'; choose one of {', '.join(DEVICE_CHOICES)}")


@dataclass
class RunContext:
    """Run-wide settings handed to methods (never per-step state)."""

    device: str = "cpu"
    seed: int = 0
    quiet: bool = False
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))
    # What the loaded plugin registered (sampler steps, degradations...), for methods that look things up.
    registry: Any = None

    def progress(self, iterable: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        """A progress bar on stderr, shown only for work taking over a second."""
        if self.quiet:
            return iter(iterable)
        from tqdm.auto import tqdm

        return iter(tqdm(iterable, total=total, desc=desc, delay=1.0, file=sys.stderr, leave=False))

    def generator(self, offset: int = 0) -> Any:
        """A seeded torch generator on this context's device."""
        import torch

        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(self.seed) + offset)
        return gen
