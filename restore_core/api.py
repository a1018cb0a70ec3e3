"""The Python API; the CLI is a thin layer over these functions.

>>> from restore_core import restore
>>> restore("photo.png", plugin="image", method="bicubic", scale=2)  # doctest: +SKIP
[PosixPath('photo_restored.png')]
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from omegaconf import DictConfig

from restore_core.atomic import atomic_output_with_sidecar, full_suffix
from restore_core.config import compose_config, to_yaml
from restore_core.context import RunContext, resolve_device
from restore_core.errors import InputError, PluginError, RestoreError, UsageError
from restore_core.method import StreamingMethod, TrainableMethod
from restore_core.plugins import PluginRecord, discover, load_plugin, require_plugin
from restore_core.registry import Registry
from restore_core.sample import Sample


class BatchError(RestoreError):
    """Some inputs of a batch failed; the others were written."""

    exit_code = 2


@dataclass
class Job:
    """One input file and where its output goes."""

    source: Path
    target: Path


def input_suffixes(paths: Sequence[Path]) -> set[str]:
    """Extensions of the input files and of the files inside input folders; a missing input is an error."""
    suffixes: set[str] = set()
    for path in paths:
        if path.is_dir():
            try:
                files = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
            except OSError as exc:
                raise InputError(path, f"cannot list folder ({exc.strerror or exc})") from None
            suffixes.update(full_suffix(p).lower() for p in files)
        elif path.exists():
            suffixes.add(full_suffix(path).lower())
        else:
            raise InputError(path, "no such file or directory")
    return suffixes - {""}


def choose_plugin(paths: Sequence[Path]) -> str:
    """Pick the one installed plugin that reads these files (or the files in these folders), when --plugin is absent."""
    suffixes = input_suffixes(paths)
    candidates = []
    for name in sorted(discover()):
        record = load_plugin(name)
        if record.ok and record.registry and suffixes & set(record.registry.extensions("readers")):
            candidates.append(name)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UsageError(f"no installed plugin reads {', '.join(sorted(suffixes)) or 'these inputs'}; use --plugin")
    raise UsageError(f"several plugins read these inputs ({', '.join(candidates)}); choose one with --plugin")


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def default_output(source: Path, suffix: str) -> Path:
    ext = full_suffix(source)
    stem = source.name[: len(source.name) - len(ext)] if ext else source.name
    return source.with_name(f"{stem}{suffix}{ext}")


def plan_jobs(
    inputs: Sequence[str | Path], output: str | Path | None, registry: Registry, suffix: str, folder_as_one: bool = False
) -> list[Job]:
    """Expand folders, decide every output path, and refuse to overwrite an input.

    ``folder_as_one`` (config ``input.folder_as_one``, e.g. a plugin's ``--burst``): a folder is one
    input, read by the plugin's folder reader (``register_readers(..., folder=True)``); it needs ``-o``.
    """
    sources: list[Path] = []
    many = len(inputs) > 1
    for item in inputs:
        path = Path(item)
        if path.is_dir() and folder_as_one:
            if registry.folder_reader() is None:
                raise UsageError(f"{path}: this plugin has no reader of whole folders")
            if output is None:
                raise UsageError(f"{path}: a folder read as one input needs -o OUTPUT")
            sources.append(path)
        elif path.is_dir():
            many = True
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and registry.can_read(p))
            if not found:
                raise InputError(path, f"folder holds no file this plugin reads ({', '.join(registry.extensions('readers'))})")
            sources.extend(found)
        elif not path.exists():
            raise InputError(path, "no such file or directory")
        else:
            registry.reader_for(path)  # unsupported or unreadable inputs fail before any work
            sources.append(path)
    out = Path(output) if output is not None else None
    as_folder = out is not None and (many or out.is_dir() or str(output).endswith(os.sep))
    if as_folder and out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"{out}: is a file; with several inputs (or a folder), -o must name a folder")
    jobs = []
    for source in sources:
        if out is None:
            target = default_output(source, suffix)
        elif as_folder:
            target = out / source.name
            if _same_file(target, source):
                target = out / default_output(source, suffix).name
        else:
            target = out
        jobs.append(Job(source, target))
    all_sources = [j.source for j in jobs]
    seen: dict[Path, Path] = {}
    for job in jobs:
        for source in all_sources:
            if _same_file(job.target, source):
                raise InputError(job.target, "output path equals an input; an input is never overwritten")
        key = job.target.resolve()
        if key in seen:
            raise UsageError(f"{job.source} and {seen[key]} would both be written to {job.target}")
        seen[key] = job.source
        registry.writer_for(job.target)
    return jobs


def validate_sample(sample: Sample, path: Path) -> None:
    """Refuse data no method can work on: empty arrays and non-finite values."""
    if sample.data.size == 0 or any(s == 0 for s in sample.data.shape):
        raise InputError(path, f"image has zero size (shape {tuple(sample.data.shape)})")
    bad = int(np.count_nonzero(~np.isfinite(sample.data)))
    if bad:
        raise InputError(path, f"contains {bad} NaN or Inf value(s)")


def read_sample(registry: Registry, path: Path, cfg: DictConfig) -> Sample:
    """Read one file (or a folder, with the plugin's folder reader) with the plugin's reader; any failure becomes an InputError."""
    folder = registry.folder_reader() if path.is_dir() else None
    reader = folder if folder is not None else registry.reader_for(path)
    try:
        sample = reader.read(path, cfg)
    except RestoreError:
        raise
    except Exception as exc:
        raise InputError(path, f"cannot be read as {reader.name} ({type(exc).__name__}: {exc})") from None
    sample.path = path
    validate_sample(sample, path)
    return sample


def check_writable(registry: Registry, sample: Sample, target: Path) -> None:
    """Ask the target's writer, before any work, whether it can store what ``sample`` becomes.

    The writer's optional ``check(sample, path)`` sees the *input* sample: a
    restoration keeps its dtype, channels and meta.  A refusal names ``target``.
    """
    writer = registry.writer_for(target)
    check = writer.fields.get("check")
    if check is None:
        return
    try:
        check(sample, target)
    except RestoreError:
        raise
    except Exception as exc:
        raise InputError(target, f"cannot be written as {writer.name}: {exc}") from None


def commit_output(target: Path, cfg: DictConfig, write: Callable[[Path], None]) -> Path:
    """Write ``target`` with ``write(temporary_path)`` and, if configured, ``<target>.yaml``.

    The YAML is written before the output is renamed into place, so an
    output never appears without its config (see :func:`atomic_output_with_sidecar`).
    """
    sidecar = (config_path_for(target), to_yaml(cfg)) if cfg.output.write_config else None
    return atomic_output_with_sidecar(target, write, sidecar)


def write_sample(registry: Registry, sample: Sample, path: Path, cfg: DictConfig) -> Path:
    """Write atomically (temporary file, then rename) with the plugin's writer."""
    writer = registry.writer_for(path)
    return commit_output(path, cfg, lambda tmp: writer.write(sample, tmp, cfg))


def check_reference(ref: Path, inputs: Sequence[Path]) -> None:
    """A reference must be a readable file that is not also one of the inputs."""
    if not ref.exists():
        raise InputError(ref, "reference: no such file or directory")
    if not ref.is_file():
        raise InputError(ref, "reference: expected a file")
    try:
        with open(ref, "rb") as handle:
            if not handle.read(1):
                raise InputError(ref, "reference: file is empty (0 bytes)")
    except PermissionError:
        raise InputError(ref, "reference: permission denied") from None
    if any(_same_file(ref, p) for p in inputs):
        raise InputError(ref, "reference is also an input")


def stream_file(method_obj: Any, job: Job, cfg: DictConfig, context: RunContext) -> Path:
    """Let a streaming method read and write windows itself (scenes too large for memory).

    The method's ``restore_file(source, target, cfg, context)`` writes to a
    temporary path that is renamed on success, like every other output.
    """
    return commit_output(job.target, cfg, lambda tmp: method_obj.restore_file(job.source, tmp, cfg, context))


def config_path_for(output: Path) -> Path:
    return output.with_name(output.name + ".yaml")


def prepare(
    plugin: str | None,
    method: str | None,
    *,
    inputs: Sequence[Path] = (),
    config: str | Path | None = None,
    flags: dict[str, Any] | None = None,
    overrides: Sequence[str] = (),
) -> tuple[PluginRecord, DictConfig]:
    """Load the plugin and compose the resolved config of a run."""
    name = plugin or choose_plugin(inputs)
    record = require_plugin(name)
    assert record.registry is not None
    registry = record.registry
    if method is not None:
        registry.get("methods", method)
        return record, compose_config(registry, name, method, config_file=config, flags=flags, overrides=overrides)
    # the run's scale is known only once a candidate's config is composed: take the first that is a default there
    *preferred, fallback = registry.default_candidates(with_ref=bool((flags or {}).get("ref")))
    for candidate in preferred:
        cfg = compose_config(registry, name, candidate, config_file=config, flags=flags, overrides=overrides)
        if registry.is_default_at(candidate, cfg.scale):
            return record, cfg
    return record, compose_config(registry, name, fallback, config_file=config, flags=flags, overrides=overrides)


def make_context(cfg: DictConfig, quiet: bool | None = None, registry: Registry | None = None) -> RunContext:
    """The run context of a resolved config (``quiet`` given here wins over ``cfg.quiet``)."""
    return RunContext(
        device=resolve_device(cfg.device),
        seed=int(cfg.seed),
        quiet=bool(cfg.quiet if quiet is None else quiet),
        registry=registry,
    )


def run_flags(quiet: bool | None = None, **flags: Any) -> dict[str, Any]:
    """Command-line style flags; None means "not given", so the config layers decide."""
    return {**flags, "quiet": quiet}


def restore(
    inputs: str | Path | Iterable[str | Path],
    *,
    plugin: str | None = None,
    output: str | Path | None = None,
    method: str | None = None,
    scale: float | str | None = None,
    steps: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    quiet: bool | None = True,
    ref: str | Path | None = None,
    weights: str | Path | None = None,
    extra_flags: dict[str, Any] | None = None,
) -> list[Path]:
    """Restore files or folders and return the written output paths.

    Mirrors ``restore --plugin P INPUT... [-o OUT] [--method M] ...``.  A bad
    input raises :class:`InputError`; in a batch, the other inputs are still
    written and :class:`BatchError` is raised at the end.  ``quiet=None``
    leaves progress bars to the config's ``quiet``.  ``ref`` is a reference
    image for methods that use one (``cfg.ref``); it must exist and be readable.
    ``weights`` (``cfg.weights``) names the weights to run: a name from the weights
    registry (``restore weights list``) or a file.
    ``extra_flags`` are further command-line flags as dotted config keys
    (a plugin's ``register_cli_options``, e.g. ``{"io.some_key": True}``); None values are not given.
    """
    paths = [Path(inputs)] if isinstance(inputs, (str, Path)) else [Path(p) for p in inputs]
    if not paths:
        raise UsageError("no input given")
    if ref is not None:
        check_reference(Path(ref), paths)
    flags = run_flags(quiet, **{"scale": scale, "sampler.steps": steps, "seed": seed, "device": device, "ref": ref,
                       "weights": str(weights) if weights is not None else None, **(extra_flags or {})})
    record, cfg = prepare(plugin, method, inputs=paths, config=config, flags=flags, overrides=overrides)
    registry = record.registry
    assert registry is not None
    jobs = plan_jobs(paths, output, registry, str(cfg.output.suffix), bool((cfg.get("input") or {}).get("folder_as_one", False)))
    context = make_context(cfg, registry=registry)
    method_obj = registry.get("methods", str(cfg.method)).factory()
    if cfg.get("weights") and not callable(getattr(method_obj, "load", None)):
        raise UsageError(f"method '{cfg.method}' runs no network, so it takes no --weights")
    written: list[Path] = []
    failures: list[str] = []
    for job in context.progress(jobs, total=len(jobs), desc="files") if len(jobs) > 1 else jobs:
        try:
            if isinstance(method_obj, StreamingMethod):
                written.append(stream_file(method_obj, job, cfg, context))
                continue
            sample = read_sample(registry, job.source, cfg)
            check_writable(registry, sample, job.target)
            result = method_obj.restore(sample, cfg, context)
            written.append(write_sample(registry, result, job.target, cfg))
        except InputError as exc:
            if len(jobs) == 1:
                raise
            failures.append(str(exc))
            context.log(f"restore: error: {exc}")
    if failures:
        raise BatchError(f"{len(failures)} of {len(jobs)} inputs failed; the others were written")
    return written


def train(
    plugin: str,
    method: str | None = None,
    *,
    data: str | Path | None = None,
    output_dir: str | Path | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    device: str | None = None,
    seed: int | None = None,
    steps: int | None = None,
    quiet: bool | None = True,
) -> Path:
    """Train ``method`` of ``plugin``; returns the checkpoint path."""
    flags = run_flags(quiet, device=device, seed=seed)
    record, cfg = prepare(plugin, method, config=config, flags=flags, overrides=overrides)
    assert record.registry is not None
    method_obj = record.registry.get("methods", str(cfg.method)).factory()
    if not isinstance(method_obj, TrainableMethod):
        raise UsageError(f"method '{cfg.method}' of plugin '{plugin}' has nothing to train")
    context = make_context(cfg, registry=record.registry)
    return Path(method_obj.train(cfg, context, data=data, output_dir=output_dir, max_steps=steps))


__all__ = ["restore", "train", "prepare", "plan_jobs", "read_sample", "write_sample", "BatchError", "PluginError"]
