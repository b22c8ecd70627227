"""Our webhook verification gives the same answers with the oldest and the newest
standardwebhooks that pyproject.toml allows, not only with the locked one.

Each version is installed with the Makefile's pinned uv (the project's .venv has no pip) into a
temporary folder (no dependencies: the verifier is plain Python) and put first on the path of a
subprocess that runs check_signature() on a set of deliveries. Skipped only when the package
index cannot be reached.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import base64, json, time
from datetime import UTC, datetime

import django
django.setup()
import standardwebhooks
from standardwebhooks.webhooks import Webhook

from pipeline.intake.errors import IntakeError
from pipeline.intake.webhooks import check_signature

old, new = "whsec_" + base64.b64encode(b"o" * 32).decode(), "whsec_" + base64.b64encode(b"n" * 32).decode()
body, now = '{"email": "dana@northwind.example"}', int(time.time())
moment = datetime.fromtimestamp(now, tz=UTC)
good = Webhook(new).sign("msg_1", moment, body)
stale = Webhook(old).sign("msg_1", moment, body)
wrong = "v1," + base64.b64encode(bytes(32)).decode()
cases = {
    "good": good,
    "rotated pair": f"{stale} {good}",
    "other versions skipped": f"v1a,c2ln {good}",
    "wrong": wrong,
    "no comma": "v1 abc",
    "not base64": "v1,not-base64!",
    "short": "v1,c2hvcnQ=",
    "only v1a": "v1a,c2ln",
}
answers = {"version": standardwebhooks.__version__ if hasattr(standardwebhooks, "__version__") else "?"}
for name, signature in cases.items():
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": signature}
    try:
        answers[name] = check_signature([new], body, headers, now=now)
    except IntakeError as error:
        answers[name] = f"{error.status} {error.message.split(':')[0]}"
print(json.dumps(answers))
"""

EXPECTED = {
    "good": "msg_1",
    "rotated pair": "msg_1",
    "other versions skipped": "msg_1",
    "wrong": "401 signature mismatch",
    "no comma": "401 malformed webhook-signature header",
    "not base64": "401 malformed webhook-signature header",
    "short": "401 malformed webhook-signature header",
    "only v1a": "401 malformed webhook-signature header",
}


def allowed_range() -> tuple[str, str]:
    """(lowest version, upper bound) of standardwebhooks in pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (requirement,) = [
        line for line in project["project"]["dependencies"] if line.startswith("standardwebhooks")
    ]
    match = re.fullmatch(r"standardwebhooks>=([\d.]+),<([\d.]+)", requirement)
    assert match, f"update this test for the range {requirement!r}"
    return match.group(1), match.group(2)


def installer() -> list[str]:
    """The command that installs into a folder: the pinned uv `make install` bootstraps, else
    a uv or a pip this interpreter has."""
    for uv in (ROOT / ".uv" / "bin" / "uv", shutil.which("uv")):
        if uv and Path(uv).exists():
            return [str(uv), "pip", "install", "--quiet", "--python", sys.executable]
    has_pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if has_pip.returncode == 0:
        return [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    pytest.fail("neither .uv/bin/uv (run `make install`), uv on PATH nor pip is available")


def install(requirement: str, target: Path) -> None:
    installed = subprocess.run(
        [*installer(), "--no-deps", "--target", str(target), requirement],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if installed.returncode != 0:
        unreachable = re.search(
            r"(?i)connect|network|resolve|dns|timed? ?out|offline", installed.stderr
        )
        if unreachable:
            pytest.skip(f"cannot install {requirement}: package index unreachable")
        raise AssertionError(f"installing {requirement} failed:\n{installed.stderr}")


@pytest.mark.parametrize("which", ["oldest", "newest"])
def test_the_same_answers_with_the_oldest_and_newest_allowed_library(which, tmp_path):
    lowest, upper = allowed_range()
    requirement = (
        f"standardwebhooks=={lowest}" if which == "oldest" else f"standardwebhooks<{upper}"
    )
    install(requirement, tmp_path)
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "leadops.settings",
        # Settings refuse console mail outside DEBUG; this script sends none.
        "DEBUG": "1",
        "SECRET_KEY": "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    }
    ran = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )

    assert ran.returncode == 0, ran.stderr
    answers = json.loads(ran.stdout.strip().splitlines()[-1])
    version = answers.pop("version")
    if which == "oldest":
        assert Version(version) == Version(lowest)
    assert answers == EXPECTED
