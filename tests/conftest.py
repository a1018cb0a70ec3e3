"""Shared fixtures: throwaway plugins installed through real entry-point metadata."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def write_dist(site: Path, plugin_name: str, module_code: str, dist: str | None = None) -> str:
    """Write ``<dist>.dist-info`` with a ``restore.plugins`` entry point and its module.

    Returns the module name (unique, so in-process imports never collide).
    """
    module = f"throwaway_{plugin_name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    dist = dist or f"throwaway-{plugin_name}"
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[restore.plugins]\n{plugin_name} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(module_code))
    return module


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Install throwaway plugins on sys.path (and PYTHONPATH for subprocesses)."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))

    def add(plugin_name: str, module_code: str, dist: str | None = None) -> Path:
        write_dist(site, plugin_name, module_code, dist)
        return site

    return add


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``restore`` in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "restore_core.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def listing(folder: Path) -> set[str]:
    """Every file name below ``folder`` (hidden temporaries included)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def rgb8() -> np.ndarray:
    """A smooth 8-bit RGB test image with some texture, (H, W, 3)."""
    y, x = np.mgrid[0:24, 0:32]
    img = np.stack([x * 7, y * 9, (x + y) * 4], axis=-1) % 256
    return img.astype(np.uint8)
