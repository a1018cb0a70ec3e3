"""The plugin contract: pluggy hook specifications of ``restore``.

A plugin is a module (named by an entry point in the group ``restore.plugins``)
holding functions marked with :data:`hookimpl`.  Registration hooks receive a
``register`` callback; call it once per thing you contribute.  The callbacks
take keyword arguments that may grow in later API versions but are never
removed or renamed, so a plugin written today keeps working.

Rules for plugin modules:

* import nothing heavy at module import time (no torch, nibabel, rasterio):
  register *factories* that import what they need when called;
* hooks are called once, when the plugin is loaded, never per sampling step;
* a hook implementation whose name is not listed here is an error
  (misspellings are caught at load time).

``register`` callback signatures (keyword arguments; ``*`` = required):

``register_readers``
    ``register(name*, read*, extensions*=(".png", ...), sniff=None, description="")``
    ``read(path: Path, cfg: DictConfig) -> Sample``; ``sniff(head: bytes) -> bool``
    recognises a file from its first bytes.
``register_writers``
    ``register(name*, write*, extensions*=(...), description="", check=None)``
    ``write(sample: Sample, path: Path, cfg: DictConfig) -> None``.  The core
    hands the writer a temporary path and renames it afterwards.
    ``check(sample: Sample, path: Path) -> None`` (optional) raises when this
    writer cannot store the restoration of ``sample`` at ``path`` (JPEG and a
    float image, say).  It is called right after the input is read, before the
    method runs, with the *input* sample (a restoration keeps its dtype,
    channels and meta) and the final output path.  Raise ``ValueError`` with
    the reason (the core reports ``<path>: cannot be written as <writer>:
    <reason>``, exit 2) or an :class:`~restore_core.errors.InputError`.
``register_degradations``
    ``register(name*, factory*, description="")``; ``factory(**params)`` returns a
    callable ``degrade(hr_tensor, generator) -> lr_tensor``.  ``hr_tensor`` is a
    CPU tensor ``(B, C, *spatial)`` and ``generator`` a seeded CPU
    ``torch.Generator`` (or None): draw every random number (kernels, noise)
    from it, so that the same seed gives the same LR on any machine and
    ``restore eval`` can re-apply the very same degradation to a restoration.
``register_conditioning``
    ``register(name*, factory*, description="")``: builders of a method's condition.
``register_denoisers``
    ``register(name*, factory*, description="")``: denoisers and priors (nn.Modules).
``register_methods``
    ``register(name*, factory*, description="", modalities=(), default=False, default_with_ref=False,
    default_scales=None)``; ``default_with_ref`` marks the method chosen when a run has ``--ref`` but no
    ``--method``; ``default_scales`` (e.g. ``[4]``) makes a ``default=True`` method the default only at
    those scales, preferred there over a ``default=True`` method without them (the fallback at other scales).
    ``factory()`` returns an object with ``restore(sample, cfg, context) -> Sample``
    and optionally ``train(cfg, context, *, data, output_dir, max_steps) -> Path``.
    A method for inputs too large for memory may instead provide
    ``restore_file(source: Path, target: Path, cfg, context) -> None`` and do
    its own windowed reading and writing; ``target`` is a temporary path the
    core renames on success.
``register_sampler_steps``
    ``register(name*, factory*, description="")``: consistency projections and
    other per-step operators (see :mod:`restore_core.diffusion.consistency`).
``register_configs``
    ``register(method*, config*)``: ``config`` is a YAML path or a mapping holding
    the defaults of that method.  The key ``"defaults"`` is the plugin-wide base.
    The defaults fix each key's type for later layers (``--config``,
    ``key=value``); a section whose default is ``{}`` or ``null`` accepts new
    keys; a key with several forms lists them under the top-level ``_types``
    mapping, e.g. ``_types: {some_axis: [int, str]}`` (see :mod:`restore_core.config`).
``register_commands``
    ``register(name*, help*, add_arguments*, run*)``: an extra subcommand, run as
    ``restore PLUGIN NAME ...``; ``add_arguments(parser)`` and ``run(args) -> int``.
``register_cli_options``
    ``register(name*, key*, help*, flag_only=False, metavar=None)``: a command-line
    option of ``restore --plugin NAME ...`` that sets the config key ``key``,
    e.g. ``register(name="--some-axis", key="some_axis", help="...")``;
    ``flag_only=True`` makes a switch that sets ``key`` to true.  The core
    itself defines no plugin-specific option.
``restore_plugin_info``
    returns a mapping with ``name``, ``version``, ``api_version``, ``modalities``
    and ``description``.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import pluggy

PROJECT_NAME = "restore"
ENTRY_POINT_GROUP = "restore.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[..., None]


def lazy(module: str, attribute: str) -> Callable[..., Any]:
    """A callable that imports ``module.attribute`` on its first call and calls it.

    Plugins register these as readers, writers and factories, so loading a
    plugin imports nothing heavy (torch, nibabel, rasterio).
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), attribute)(*args, **kwargs)

    call.__name__ = attribute
    call.__qualname__ = f"lazy({module}.{attribute})"
    return call


@hookspec(firstresult=True)
def restore_plugin_info() -> Mapping[str, Any]:
    """Describe the plugin: name, version, api_version, modalities, description."""


@hookspec
def register_readers(register: Register) -> None:
    """Register file readers, by extension and by content sniffing."""


@hookspec
def register_writers(register: Register) -> None:
    """Register file writers, by extension."""


@hookspec
def register_degradations(register: Register) -> None:
    """Register degradation models used to synthesise training pairs."""


@hookspec
def register_conditioning(register: Register) -> None:
    """Register builders of a method's condition (references, encodings)."""


@hookspec
def register_denoisers(register: Register) -> None:
    """Register denoisers and priors (``nn.Module`` factories)."""


@hookspec
def register_methods(register: Register) -> None:
    """Register restoration methods."""


@hookspec
def register_sampler_steps(register: Register) -> None:
    """Register per-step operators such as consistency projections."""


@hookspec
def register_configs(register: Register) -> None:
    """Register default configs, one per method."""


@hookspec
def register_commands(register: Register) -> None:
    """Register extra CLI subcommands."""


@hookspec
def register_cli_options(register: Register) -> None:
    """Register command-line options of ``restore --plugin NAME`` that map to config keys."""
