"""The developer tools app is installed only when asked (DEBUG or LEADOPS_DEV_APPS)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "SECRET_KEY": "x" * 50,
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "leadops.settings",
        "EMAIL_HOST": "127.0.0.1",
    }
    environment.pop("LEADOPS_DEV_APPS", None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["fake_anthropic", "bench_engine"])
@pytest.mark.parametrize(("env", "is_available"), [({}, False), ({"LEADOPS_DEV_APPS": "1"}, True)])
def test_developer_commands_exist_only_with_the_dev_apps(command, env, is_available):
    answer = manage(command, "--help", **env)
    assert (answer.returncode == 0) is is_available, answer.stderr
    if not is_available:
        assert f"Unknown command: '{command}'" in answer.stderr


def test_the_benchmark_model_is_not_in_the_production_schema(tmp_path):
    database = f"sqlite:///{tmp_path / 'production.sqlite3'}"
    assert manage("migrate", "--noinput", DATABASE_URL=database).returncode == 0
    tables = manage(
        "shell",
        "-c",
        "from django.db import connection; print(sorted(connection.introspection.table_names()))",
        DATABASE_URL=database,
    )
    assert "pipeline_steprun" in tables.stdout, tables.stderr
    assert "stepexecution" not in tables.stdout
