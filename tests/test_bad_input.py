"""Bad input: one clear line naming the file and the problem, exit 2, no output."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

import restore_core.registry as registry_module
from restore_core.cli import main
from tests.conftest import listing


def run_expecting_error(capsys, folder: Path, args: list[str], *needles: str) -> None:
    before = listing(folder)
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert listing(folder) == before, "an output or temporary file was left behind"


@pytest.fixture
def good_png(tmp_path: Path, rgb8: np.ndarray) -> Path:
    path = tmp_path / "good.png"
    Image.fromarray(rgb8).save(path)
    return path


def test_missing_file(capsys, tmp_path):
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", str(tmp_path / "nope.png")], "nope.png", "no such file")


def test_unreadable_file(capsys, tmp_path, good_png, monkeypatch):
    # Tests run as root here, where chmod 000 does not stop reading; make the
    # open in the reader look-up fail the way an unreadable file does.
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(registry_module, "open", denied, raising=False)
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", str(good_png)], "good.png", "permission denied")


@pytest.mark.parametrize(
    "name, content",
    [
        ("garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        ("garbage.jpg", b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 4),
        ("garbage.tif", b"II*\x00" + b"\xff" * 64),
        ("text.png", b"hello, this is text and not an image"),
    ],
)
def test_corrupt_file(capsys, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", str(path)], name)


def test_truncated_png(capsys, tmp_path, good_png):
    truncated = tmp_path / "truncated.png"
    noisy = tmp_path / "noisy.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(noisy)
    content = noisy.read_bytes()
    truncated.write_bytes(content[: len(content) // 2])
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", str(truncated)], "truncated.png", "cannot be read")


def test_unsupported_type(capsys, tmp_path):
    path = tmp_path / "notes.xyz"
    path.write_text("some text")
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", str(path)], "notes.xyz", "unsupported file type '.xyz'", ".png")


def test_unsupported_output_type(capsys, tmp_path, good_png):
    run_expecting_error(
        capsys, tmp_path, ["--plugin", "image", str(good_png), "-o", str(tmp_path / "out.gif")], "out.gif", "cannot write"
    )


def test_empty_file(capsys, tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", str(path)], "empty.png", "empty")


def test_zero_size_image(capsys, tmp_path):
    path = tmp_path / "zero.tif"
    tifffile.imwrite(path, np.zeros((0, 5), np.uint8))
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", str(path)], "zero.tif", "zero size")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(capsys, tmp_path, bad):
    data = np.ones((8, 8), np.float32)
    data[3, 4] = bad
    path = tmp_path / "nonfinite.tif"
    tifffile.imwrite(path, data)
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", str(path)], "nonfinite.tif", "NaN or Inf")


def test_output_equal_to_input_is_refused(capsys, tmp_path, good_png):
    original = good_png.read_bytes()
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", str(good_png), "-o", str(good_png)], "good.png", "never overwritten")
    assert good_png.read_bytes() == original


def test_output_equal_to_input_through_another_spelling(capsys, tmp_path, good_png, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", "good.png", "-o", "./sub/../good.png"], "never overwritten")


def test_unknown_method_lists_known(capsys, tmp_path, good_png):
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", str(good_png), "--method", "bicubik"], "unknown method 'bicubik'", "did you mean 'bicubic'", "known:")


def test_unknown_plugin(capsys, tmp_path, good_png):
    run_expecting_error(capsys, tmp_path, ["--plugin", "nosuch", str(good_png)], "unknown plugin 'nosuch'", "installed:")


def test_unknown_config_key_suggests(capsys, tmp_path, good_png):
    run_expecting_error(capsys, tmp_path, ["--plugin", "image", str(good_png), "sampler.stesp=3"], "unknown config key 'sampler.stesp'", "did you mean 'sampler.steps'")


def test_bad_file_in_folder_does_not_stop_the_others(capsys, tmp_path, good_png):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    out = tmp_path / "out"
    assert main(["--plugin", "image", "--method", "bicubic", "--scale", "2", str(tmp_path), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.png" in err and "1 of 2 inputs failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["good.png", "good.png.yaml"]


def test_internal_error_exits_1(plugin_site, capsys, tmp_path, good_png):
    plugin_site(
        "crashy",
        """
        from restore_core.hookspecs import hookimpl
        import restore_image.io as io

        class Crash:
            def restore(self, sample, cfg, context):
                raise RuntimeError("a bug")

        @hookimpl
        def register_readers(register):
            register(name="png", read=io.read_png, extensions=[".png"])

        @hookimpl
        def register_writers(register):
            register(name="png", write=io.write_png, extensions=[".png"])

        @hookimpl
        def register_methods(register):
            register(name="crash", factory=Crash)
        """,
    )
    before = listing(tmp_path)
    assert main(["--plugin", "crashy", str(good_png), "--device", "cpu"]) == 1
    assert "internal error: RuntimeError: a bug" in capsys.readouterr().err
    assert listing(tmp_path) == before
