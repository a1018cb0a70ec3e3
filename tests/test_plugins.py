"""The plugin contract: discovery by entry point, failure tolerance, validation."""
from __future__ import annotations

import json
import sys

import pytest

from restore_core import hookspecs
from restore_core.cli import main
from restore_core.plugins import discover, load_plugin
from tests.conftest import run_cli

GOOD_PLUGIN = """
from restore_core.hookspecs import hookimpl

@hookimpl
def restore_plugin_info():
    return {"name": "toy", "version": "9.9", "api_version": 1, "modalities": ["toy"], "description": "a toy"}

@hookimpl
def register_readers(register):
    register(name="toy", read=lambda path, cfg: None, extensions=[".toy"], sniff=lambda head: head.startswith(b"TOY"))

@hookimpl
def register_writers(register):
    register(name="toy", write=lambda sample, path, cfg: None, extensions=[".toy"])

@hookimpl
def register_methods(register):
    register(name="copy", factory=lambda: None, description="identity", default=True)

@hookimpl
def register_commands(register):
    def add_arguments(parser):
        parser.add_argument("word")
    def run(args):
        print("toy says", args.word)
        return 0
    register(name="say", help="print a word", add_arguments=add_arguments, run=run)
"""


def test_throwaway_plugin_is_listed_through_entry_point_metadata(plugin_site, capsys):
    plugin_site("toy", GOOD_PLUGIN)
    assert "toy" in discover()
    assert main(["plugins", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    toy = listed["toy"]
    assert toy["status"] == "ok"
    assert toy["version"] == "9.9"
    assert toy["methods"] == ["copy"] and toy["default_method"] == "copy"
    assert toy["reads"] == [".toy"] and toy["writes"] == [".toy"]
    assert "throwaway-toy" in toy["source"]
    assert listed["image"]["status"] == "ok"  # first-party plugins come through the same door


def test_plugin_command_runs(plugin_site, capsys):
    plugin_site("toy", GOOD_PLUGIN)
    assert main(["toy", "say", "hello"]) == 0
    assert "toy says hello" in capsys.readouterr().out


def test_plugin_that_fails_to_import_is_listed_as_failed_and_cli_still_works(plugin_site, capsys):
    plugin_site("broken", "import no_such_module_anywhere\n")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "broken" in out and "[failed]" in out
    assert "no_such_module_anywhere" in out
    assert "image" in out and "[ok]" in out
    assert main(["plugins", "--json"]) == 0
    broken = {p["name"]: p for p in json.loads(capsys.readouterr().out)}["broken"]
    assert broken["status"] == "failed" and "ModuleNotFoundError" in broken["error"]


def test_plugin_that_fails_to_register_is_listed_as_failed(plugin_site):
    plugin_site(
        "badreg",
        """
        from restore_core.hookspecs import hookimpl
        @hookimpl
        def register_methods(register):
            raise RuntimeError("boom in registration")
        """,
    )
    record = load_plugin("badreg")
    assert record.status == "failed" and "boom in registration" in record.error


def test_using_a_failed_plugin_is_a_clear_usage_error(plugin_site, capsys, tmp_path):
    plugin_site("broken", "raise ImportError('cannot load the thing')\n")
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert main(["--plugin", "broken", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "plugin 'broken' failed to load" in err and "cannot load the thing" in err


def test_misspelled_hook_implementation_is_an_error(plugin_site):
    plugin_site(
        "typo",
        """
        from restore_core.hookspecs import hookimpl
        @hookimpl
        def register_method(register):
            pass
        """,
    )
    record = load_plugin("typo")
    assert record.status == "failed"
    assert "register_method" in record.error and "did you mean 'register_methods'" in record.error


def test_wrong_register_keyword_is_an_error(plugin_site):
    plugin_site(
        "kw",
        """
        from restore_core.hookspecs import hookimpl
        @hookimpl
        def register_methods(register):
            register(name="m", factory=lambda: None, descripton="typo")
        """,
    )
    record = load_plugin("kw")
    assert record.status == "failed" and "descripton" in record.error and "description" in record.error


def test_newer_api_version_is_refused(plugin_site):
    plugin_site(
        "future",
        """
        from restore_core.hookspecs import hookimpl
        @hookimpl
        def restore_plugin_info():
            return {"name": "future", "api_version": 999}
        """,
    )
    record = load_plugin("future")
    assert record.status == "failed" and "API 999" in record.error


def test_strict_mode_reraises(plugin_site):
    plugin_site("broken", "raise ImportError('strictly broken')\n")
    relaxed = run_cli("plugins")
    assert relaxed.returncode == 0 and "strictly broken" in relaxed.stdout
    strict = run_cli("plugins", env={"RESTORE_STRICT_PLUGINS": "1"})
    assert strict.returncode == 1
    assert "Traceback" in strict.stderr and "ImportError: strictly broken" in strict.stderr


def test_help_and_plugins_do_not_import_torch():
    code = (
        "import sys, contextlib, io\n"
        "from restore_core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['plugins']) == 0\n"
        "    assert main(['plugins', '--json']) == 0\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'monai', 'PIL', 'tifffile') if m in sys.modules]\n"
        "print(heavy)\n"
        "assert not heavy, heavy\n"
    )
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout


def test_unknown_plugin_lists_installed_ones(capsys, tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    assert main(["--plugin", "imag", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert "unknown plugin 'imag'" in err and "did you mean 'image'" in err and "installed:" in err


# The contract only grows: these hooks and arguments exist in API version 1.
HOOKS_V1 = {
    "restore_plugin_info": [],
    "register_readers": ["register"],
    "register_writers": ["register"],
    "register_degradations": ["register"],
    "register_conditioning": ["register"],
    "register_denoisers": ["register"],
    "register_methods": ["register"],
    "register_sampler_steps": ["register"],
    "register_configs": ["register"],
    "register_commands": ["register"],
    "register_cli_options": ["register"],
}
REGISTER_KWARGS_V1 = {
    "readers": {"name", "read", "extensions", "sniff", "description"},
    "writers": {"name", "write", "extensions", "description"},
    "methods": {"name", "factory", "description", "modalities", "default"},
    "configs": {"method", "config"},
    "commands": {"name", "help", "add_arguments", "run"},
    "cli_options": {"name", "key", "help", "flag_only", "metavar"},
}


@pytest.mark.parametrize("hook", sorted(HOOKS_V1))
def test_hook_signatures_only_grow(hook):
    import inspect

    params = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert params[: len(HOOKS_V1[hook])] == HOOKS_V1[hook]


def test_register_keywords_only_grow():
    from restore_core.registry import REGISTRATION_KINDS

    for kind, names in REGISTER_KWARGS_V1.items():
        required, optional = REGISTRATION_KINDS[kind]
        assert names <= set(required) | set(optional), kind


def test_plugin_cli_options_come_from_the_plugin_not_the_core(capsys, tmp_path):
    """--slice-axis is the mri plugin's (register_cli_options): the image plugin's runs do not know it."""
    from restore_core.cli import plugin_options, run_parser

    assert "--slice-axis" not in run_parser().format_help()
    mri = {option.name: option.key for option in plugin_options(["--plugin", "mri"])}
    assert mri == {"--slice-axis": "slice_axis", "--keep-dtype": "io.keep_dtype"}
    assert plugin_options(["--plugin", "image"]) == []
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert main(["--plugin", "image", str(image), "--slice-axis", "0"]) == 2
    assert "unrecognized arguments: --slice-axis" in capsys.readouterr().err


def test_default_candidates_prefer_scale_specific_defaults():
    """default_scales: a default=True method that is the default only at those scales; others are the fallback."""
    from restore_core.registry import Registry

    registry = Registry()
    register = registry.callback("methods", "demo")
    register(name="baseline", factory=object, default=True)
    register(name="model_x4", factory=object, default=True, default_scales=[4])
    register(name="guided", factory=object, default_with_ref=True)
    assert registry.default_candidates() == ["model_x4", "baseline"]
    assert registry.default_candidates(with_ref=True) == ["guided", "model_x4", "baseline"]
    assert registry.default_method(scale=4) == "model_x4"
    assert registry.default_method(scale=2) == "baseline"
    assert registry.default_method(scale="2,2,1") == "baseline"
    assert registry.is_default_at("baseline", 3) and not registry.is_default_at("model_x4", 3)
