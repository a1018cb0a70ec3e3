"""The ``restore`` command: a thin layer that parses, calls :mod:`restore_core.api`, reports.

Imports here stay light: ``restore --help`` and ``restore plugins`` never
import torch.  Exit codes: 0 done, 2 bad usage or bad input, 1 internal error.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from typing import Callable, Iterator, Sequence

from restore_core import __version__
from restore_core.errors import RestoreError

SUBCOMMANDS = ("plugins", "train", "eval", "config", "weights")

DESCRIPTION = """\
Restore and super-resolve images and volumes with diffusion models.

usage:
  restore --plugin NAME INPUT... [-o OUTPUT] [--method M] [--scale S] [--steps N]
          [--seed K] [--device auto|cpu|cuda] [--config FILE] [key=value ...]
  restore plugins [--json]          list installed plugins, methods, file types
  restore config show --plugin P [--method M] [--config FILE] [key=value ...]
  restore train --plugin P [--method M] --data PATH [--out DIR] [key=value ...]
  restore eval --plugin P [--method M] --data PATH [--out DIR] [key=value ...]
  restore weights list|show NAME|add NAME ...   published and added checkpoints
  restore PLUGIN COMMAND ...        a command contributed by a plugin

A folder as INPUT restores every file the plugin reads.  Without -o, each
output is written next to its input with the suffix '_restored'.
"""


def _add_common(parser: argparse.ArgumentParser, *, plugin_required: bool) -> None:
    parser.add_argument("--plugin", required=plugin_required, help="plugin name (see 'restore plugins')")
    parser.add_argument("--method", help="restoration method of the plugin (default: the plugin's default)")
    parser.add_argument("--config", help="YAML file overriding the method's defaults")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to run (default: auto)")
    parser.add_argument("--seed", type=int, help="random seed (default: 0)")
    # default None, not False: an absent --quiet leaves 'quiet' to the config layers
    parser.add_argument("--quiet", action="store_true", default=None, help="no progress bar")


def plugin_options(argv: Sequence[str]) -> list:
    """The ``cli_options`` of the plugin named by ``--plugin`` (of every installed plugin without it).

    Plugins register them (``register_cli_options``); the core defines none.
    A plugin that fails to load contributes none (the run reports it later).
    """
    from restore_core.plugins import load_all, load_plugin
    from restore_core.errors import PluginError

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin")
    known, _ = pre.parse_known_args(list(argv))
    try:
        records = [load_plugin(known.plugin)] if known.plugin else load_all()
    except PluginError:
        return []
    options: dict[str, object] = {}
    for record in records:
        if record.ok and record.registry is not None:
            for entry in record.registry.entries["cli_options"].values():
                options.setdefault(entry.name, entry)
    return list(options.values())


def run_parser(options: Sequence = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="restore", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="files or folders, then key=value overrides")
    parser.add_argument("-o", "--output", help="output file, or folder for several inputs")
    parser.add_argument("--scale", help="upscaling factor (a plugin may accept per-axis 'sx,sy,sz')")
    parser.add_argument("--steps", type=int, help="number of sampling steps")
    parser.add_argument("--ref", help="reference image for methods that use one (see the plugin's methods)")
    parser.add_argument("--weights", help="weights to run: a name from 'restore weights list' or a file (= weights=...)")
    parser.add_argument("--version", action="version", version=f"restore {__version__}")
    _add_common(parser, plugin_required=False)
    for option in options:
        extra = {"action": "store_true", "default": None} if option.fields.get("flag_only") else {"metavar": option.fields.get("metavar")}
        parser.add_argument(option.name, dest=_dest(option.key), help=f"{option.help} (= {option.key}=...)", **extra)
    return parser


def _dest(key: str) -> str:
    return "plugin_option__" + key.replace(".", "__")


def split_overrides(items: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate INPUT paths from key=value overrides (an existing path is an input)."""
    inputs, overrides = [], []
    for item in items:
        if "=" in item and not os.path.exists(item):
            overrides.append(item)
        else:
            inputs.append(item)
    return inputs, overrides


def cmd_run(argv: Sequence[str]) -> int:
    options = plugin_options(argv)
    parser = run_parser(options)
    args = parser.parse_intermixed_args(argv)
    inputs, overrides = split_overrides(args.inputs)
    if not inputs:
        parser.print_usage(sys.stderr)
        print("restore: error: no INPUT given", file=sys.stderr)
        return 2
    from restore_core import api

    written = api.restore(
        inputs,
        plugin=args.plugin,
        output=args.output,
        method=args.method,
        scale=args.scale,
        steps=args.steps,
        seed=args.seed,
        device=args.device,
        config=args.config,
        overrides=overrides,
        quiet=args.quiet,
        ref=args.ref,
        weights=args.weights,
        extra_flags={option.key: getattr(args, _dest(option.key)) for option in options},
    )
    for path in written:
        print(path)
    return 0


def cmd_plugins(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="restore plugins", description="List installed plugins.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_intermixed_args(argv)
    from restore_core.plugins import load_all

    summaries = [record.summary() for record in load_all()]
    if args.json:
        print(json.dumps(summaries, indent=2))
        return 0
    if not summaries:
        print("no plugins installed")
    for s in summaries:
        print(f"{s['name']} {s['version'] or ''}  [{s['status']}]  {s['description']}".rstrip())
        print(f"    from: {s['source']} ({s['module']})")
        if s["status"] != "ok":
            print(f"    error: {s['error']}")
            continue
        methods = ", ".join(m + (" (default)" if m == s["default_method"] else "") for m in s["methods"])
        print(f"    methods: {methods or '-'}")
        print(f"    reads: {' '.join(s['reads']) or '-'}    writes: {' '.join(s['writes']) or '-'}")
        if s["commands"]:
            print(f"    commands: {', '.join(s['commands'])}")
    return 0


def cmd_config(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="restore config", description="Show the resolved config.")
    parser.add_argument("action", choices=("show",))
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    _add_common(parser, plugin_required=True)
    args = parser.parse_intermixed_args(argv)
    from restore_core import api
    from restore_core.config import to_yaml

    flags = {"device": args.device, "seed": args.seed, "quiet": args.quiet}
    _, cfg = api.prepare(args.plugin, args.method, config=args.config, flags=flags, overrides=args.overrides)
    print(to_yaml(cfg), end="")
    return 0


def cmd_train(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="restore train", description="Train a method on your own data.")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    parser.add_argument("--data", required=True, help="folder of high-resolution training files")
    parser.add_argument("--out", help="folder for checkpoints (default: runs/<plugin>-<method>)")
    parser.add_argument("--steps", type=int, help="training steps (overrides train.steps)")
    _add_common(parser, plugin_required=True)
    args = parser.parse_intermixed_args(argv)
    from restore_core import api

    path = api.train(
        args.plugin,
        args.method,
        data=args.data,
        output_dir=args.out,
        config=args.config,
        overrides=args.overrides,
        device=args.device,
        seed=args.seed,
        steps=args.steps,
        quiet=args.quiet,
    )
    print(path)
    return 0


def cmd_eval(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="restore eval", description="Evaluate a method on held-out data.")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    parser.add_argument("--data", required=True, help="folder of high-resolution files kept out of training")
    parser.add_argument("--out", help="folder for metrics.csv, metrics.json and comparison PNGs")
    parser.add_argument("--scale", help="upscaling factor")
    parser.add_argument("--steps", type=int, help="number of sampling steps")
    parser.add_argument("--lpips-weights", help="local LPIPS AlexNet weights (.safetensors)")
    parser.add_argument("--limit", type=int, help="evaluate at most this many files")
    _add_common(parser, plugin_required=True)
    args = parser.parse_intermixed_args(argv)
    from restore_core.evaluation import evaluate

    rows = evaluate(
        args.plugin,
        args.method,
        data=args.data,
        output_dir=args.out,
        config=args.config,
        overrides=args.overrides,
        flags={"device": args.device, "seed": args.seed, "scale": args.scale, "sampler.steps": args.steps},
        lpips_weights=args.lpips_weights,
        limit=args.limit,
        quiet=args.quiet,
    )
    for row in rows:
        print(json.dumps(row))
    return 0


def cmd_weights(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="restore weights", description="Published checkpoints: list, show, add.")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="known and added checkpoints, and whether each is on this machine")
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="the model card of one entry")
    show.add_argument("name")
    add = actions.add_parser("add", help="add a checkpoint file or URL under NAME (checked against its architecture)")
    add.add_argument("name")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", help="a local weights file (.safetensors, .pt, .pth, .ckpt, .bin)")
    source.add_argument("--url", help="a download URL (needs --sha256)")
    add.add_argument("--sha256", help="the file's SHA-256 (required with --url)")
    add.add_argument("--arch", required=True, help="architecture (see restore_core.published.ARCHITECTURES)")
    add.add_argument("--config", required=True, help="YAML/JSON file of the architecture's constructor arguments")
    add.add_argument("--diffusion", help="YAML/JSON file of the noise schedule a prior samples with (beta_schedule, timesteps, learn_sigma, prediction)")
    add.add_argument("--wrapper", help="the entry of the file that holds the weights (e.g. ema), when it holds several")
    for name in ("licence", "trained-on", "source", "notes"):
        add.add_argument(f"--{name}", default=None)
    args = parser.parse_args(argv)
    from restore_core.published.catalogue import WeightsEntry, WeightsRegistry

    registry = WeightsRegistry()
    if args.action == "list":
        rows = [{"name": e.name, "arch": e.arch, "origin": e.origin, "present": e.local_path(registry.cache_dir) is not None,
                 "licence": e.licence, "url": e.url} for e in sorted(registry.entries.values(), key=lambda e: e.name)]
        if args.json:
            print(json.dumps(rows, indent=2))
        for row in [] if args.json else rows:
            print(f"{row['name']:<30} {row['arch'] or '-':<20} {row['origin']:<6} {'present' if row['present'] else 'missing':<8} {row['licence']}")
        return 0
    if args.action == "show":
        import yaml

        print(yaml.safe_dump(registry.get(args.name).card(), sort_keys=False), end="")
        return 0
    from pathlib import Path

    from restore_core.config import read_mapping_file

    if args.url and not args.sha256:
        parser.error("--url needs --sha256 (a download is never trusted unhashed)")
    entry = WeightsEntry(
        name=args.name, arch=args.arch, config=read_mapping_file(Path(args.config)), url=args.url, sha256=args.sha256,
        diffusion=read_mapping_file(Path(args.diffusion)) if args.diffusion else {},
        wrapper=args.wrapper, licence=args.licence or "unknown", trained_on=args.trained_on or "unknown",
        source=args.source or (args.url or str(args.file)), notes=args.notes or "", origin="added",
    )
    from restore_core.published import ARCHITECTURES

    if args.arch not in ARCHITECTURES:
        from restore_core.errors import UsageError

        raise UsageError(f"unknown architecture '{args.arch}'; known: {', '.join(sorted(ARCHITECTURES))}")
    added = registry.add(entry, Path(args.file) if args.file else None)
    print(f"added '{added.name}' ({added.arch}, sha256 {added.sha256})")
    return 0


def cmd_plugin_command(plugin: str, argv: Sequence[str]) -> int:
    from restore_core.plugins import require_plugin

    registry = require_plugin(plugin).registry
    assert registry is not None
    names = registry.names("commands")
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: restore {plugin} COMMAND ...\ncommands of plugin '{plugin}': {', '.join(names) or 'none'}")
        return 0 if argv else 2
    entry = registry.get("commands", argv[0])
    parser = argparse.ArgumentParser(prog=f"restore {plugin} {argv[0]}", description=entry.help)
    entry.add_arguments(parser)
    return int(entry.run(parser.parse_args(argv[1:])) or 0)


def dispatch(argv: Sequence[str]) -> int:
    handlers: dict[str, Callable[[Sequence[str]], int]] = {
        "plugins": cmd_plugins,
        "config": cmd_config,
        "train": cmd_train,
        "eval": cmd_eval,
        "weights": cmd_weights,
    }
    if argv and argv[0] in handlers:
        return handlers[argv[0]](argv[1:])
    if argv and not argv[0].startswith("-") and not os.path.exists(argv[0]):
        from restore_core.plugins import discover

        if argv[0] in discover():
            return cmd_plugin_command(argv[0], argv[1:])
    return cmd_run(argv)


class Terminated(SystemExit):
    """SIGTERM arrived: unwinds like an exception, so temporary outputs are removed."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(128 + signum)


@contextlib.contextmanager
def terminate_as_exception() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` (exit 143) instead of killing the process.

    ``atomic_output`` removes its temporary file on any exception, so a
    terminated run leaves neither a partial output nor a stray temporary.
    """
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``restore`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with terminate_as_exception():
            return dispatch(argv)
    except RestoreError as exc:
        print(f"restore: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("restore: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        print("restore: terminated", file=sys.stderr)
        return int(exc.code)  # type: ignore[arg-type]
    except SystemExit as exc:  # argparse: usage errors exit 2
        return int(exc.code) if isinstance(exc.code, int) else 2
    except Exception as exc:
        from restore_core.plugins import strict_mode

        if strict_mode() or os.environ.get("RESTORE_DEBUG"):
            raise
        print(f"restore: internal error: {type(exc).__name__}: {exc} (set RESTORE_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
