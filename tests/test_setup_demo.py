"""`make run`'s setup step (manage.py setup_demo) on a fresh database, twice."""

import os
import re
import sqlite3
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def setup_demo(tmp_path) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "Q_BROKER", "SECRET_KEY"}
    }
    env.update(
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DEMO_CREDENTIALS_FILE=str(tmp_path / "demo-admin.json"),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "setup_demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def count(tmp_path, table: str) -> int:
    with sqlite3.connect(tmp_path / "demo.sqlite3") as database:
        return database.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_setup_creates_the_admin_once_and_demo_data_once(tmp_path):
    first = setup_demo(tmp_path)
    password = re.search(r"login admin, password (\S+) \(created\)", first).group(1)
    assert "Demo leads:" in first
    assert re.search(r"secret whsec_[A-Za-z0-9+/=]+", first)

    second = setup_demo(tmp_path)
    assert f"login admin, password {password}" in second
    assert "(created)" not in second and "Demo leads:" not in second

    assert count(tmp_path, "auth_user") == 1
    assert count(tmp_path, "pipeline_companyprofile") == 1
    assert count(tmp_path, "pipeline_scoringconfig") == 1
    assert count(tmp_path, "pipeline_webhooksource") == 1
    assert count(tmp_path, "pipeline_lead") == 6
    assert count(tmp_path, "pipeline_pipelinerun") == 6
    assert count(tmp_path, "django_q_schedule") == 1
