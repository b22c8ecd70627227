"""Installs are reproducible: uv.lock pins every dependency with hashes and matches
pyproject.toml, and `uv lock --check` (what `make lock-check` and CI run) catches a range
changed without re-locking. Uses the uv the Makefile pins and bootstraps into .uv/."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".uv" / "bin" / "uv"


def lock() -> dict:
    return tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower() for line in requirements}


def test_every_declared_dependency_is_locked_at_one_exact_version_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = requirement_names(project["dependencies"]) | requirement_names(
        project["optional-dependencies"]["dev"]
    )
    packages = [package for package in lock()["package"] if package["name"] != "leadops"]
    locked = {package["name"] for package in packages}
    assert declared <= locked, declared - locked
    for package in packages:
        assert re.fullmatch(r"\d+(\.\d+)*([a-z]+\d+)?(\.post\d+)?", package["version"]), package
        files = [package.get("sdist"), *package.get("wheels", [])]
        files = [file for file in files if file]
        assert files, f"{package['name']} has no files in the lock"
        for file in files:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", file["hash"]), (package["name"], file)


def test_the_makefile_installs_the_lock_exactly_and_refuses_a_stale_one():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^UV_VERSION := \d+\.\d+\.\d+$", makefile, re.MULTILINE)
    assert "sync --locked" in makefile
    assert "lock --check" in makefile
    assert "make lock-check" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.fixture
def project_copy(tmp_path):
    if not UV.exists():
        pytest.fail("the pinned uv is missing: run `make install`")
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def lock_check(folder: Path) -> subprocess.CompletedProcess:
    # Not --offline: after a range changes uv re-resolves to say the lock is stale, and on a fresh
    # machine its cache lacks the index pages for that (`make install` only syncs the lock).
    return subprocess.run(
        [str(UV), "lock", "--check", "--python", sys.executable],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )


def test_lock_check_passes_on_the_committed_files_and_fails_after_a_range_changes(project_copy):
    assert lock_check(project_copy).returncode == 0, lock_check(project_copy).stderr

    pyproject = project_copy / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert '"django-htmx>=1.29,<2"' in text
    pyproject.write_text(text.replace('"django-htmx>=1.29,<2"', '"django-htmx>=1.28,<2"'))
    changed = lock_check(project_copy)
    assert changed.returncode != 0
    assert "needs to be updated" in changed.stderr, changed.stderr
