"""`make run`'s setup step (manage.py setup_demo) on a fresh database, twice."""

import os
import re
import sqlite3
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def manage(tmp_path, *arguments: str) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "Q_BROKER", "SECRET_KEY"}
    }
    env.update(
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DEMO_CREDENTIALS_FILE=str(tmp_path / "demo-admin.json"),
        PORT="8123",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def setup_demo(tmp_path) -> str:
    return manage(tmp_path, "setup_demo")


def rows(tmp_path, query: str) -> list[tuple]:
    with sqlite3.connect(tmp_path / "demo.sqlite3") as database:
        return database.execute(query).fetchall()


def count(tmp_path, table: str) -> int:
    with sqlite3.connect(tmp_path / "demo.sqlite3") as database:
        return database.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_setup_creates_the_admin_once_and_demo_data_once(tmp_path):
    first = setup_demo(tmp_path)
    password = re.search(r"login admin, password (\S+) \(created\)", first).group(1)
    reviewer = re.search(r"login reviewer, password (\S+) \(created; the sales view\)", first)
    assert reviewer and first.index("Demo admin:") < first.index("Demo reviewer:")
    assert "Demo leads:" in first
    failed_run = re.search(r"Failed run:     http://127\.0\.0\.1:8123/runs/(\d+)/", first)
    assert failed_run
    assert re.search(r"secret whsec_[A-Za-z0-9+/=]+", first)
    # make run on another PORT prints URLs that work on that port.
    assert "Webhook source: http://127.0.0.1:8123/webhooks/" in first
    assert "Hosted form:    http://127.0.0.1:8123/f/" in first

    second = setup_demo(tmp_path)
    assert f"login admin, password {password}" in second
    assert f"login reviewer, password {reviewer.group(1)} (the sales view)" in second
    assert "(created)" not in second and "Demo leads:" not in second
    assert "Failed run:" not in second

    assert count(tmp_path, "auth_user") == 2
    assert count(tmp_path, "pipeline_companyprofile") == 1
    assert count(tmp_path, "pipeline_scoringconfig") == 1
    assert count(tmp_path, "pipeline_webhooksource") == 1
    assert count(tmp_path, "pipeline_lead") == 7
    assert count(tmp_path, "pipeline_pipelinerun") == 7
    # Each periodic task is scheduled once, however often setup runs.
    names = [name for (name,) in rows(tmp_path, "SELECT name FROM django_q_schedule")]
    assert sorted(names) == ["leadops-dashboard-figures", "pipeline.sweep"]
    # The reviewer is a plain member of Reviewers: the sales view, no admin.
    assert rows(
        tmp_path,
        "SELECT u.is_superuser, u.is_staff, g.name FROM auth_user u "
        "JOIN auth_user_groups ug ON ug.user_id = u.id JOIN auth_group g ON g.id = ug.group_id "
        "WHERE u.username = 'reviewer'",
    ) == [(0, 0, "Reviewers")]
    # One run really failed (at its CRM step), and Retry finishes that step.
    run_id = int(failed_run.group(1))
    assert rows(tmp_path, f"SELECT status FROM pipeline_pipelinerun WHERE id = {run_id}") == [
        ("failed",)
    ]
    assert rows(
        tmp_path,
        f"SELECT name FROM pipeline_steprun WHERE run_id = {run_id} AND status = 'failed'",
    ) == [("crm_write",)]
    retry = (
        "from pipeline import engine; from pipeline.engine.inline import continue_inline; "
        "from pipeline.models import PipelineRun; "
        f"run = PipelineRun.objects.get(pk={run_id}); "
        "print(continue_inline(lambda dispatch: engine.retry(run, dispatch=dispatch)).changed)"
    )
    assert manage(tmp_path, "shell", "-c", retry).strip().endswith("True")
    assert rows(
        tmp_path,
        f"SELECT status FROM pipeline_steprun WHERE run_id = {run_id} AND name = 'crm_write'",
    ) == [("succeeded",)]
