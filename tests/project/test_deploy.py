"""deploy/ stays runnable: its files name commands, modules and paths that exist."""

import json
import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def commands_in(text: str) -> list[list[str]]:
    """Every `manage.py …` and `gunicorn …` invocation in a Procfile or systemd unit."""
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for part in re.split(r"&&|=", line):
            words = shlex.split(part)
            for index, word in enumerate(words):
                if word.endswith(("manage.py", "gunicorn")):
                    found.append(words[index:])
    return found


def check_command(words: list[str]) -> None:
    if words[0].endswith("manage.py"):
        assert words[1] in get_commands(), f"no management command {words[1]!r}"
    else:
        config = words[words.index("-c") + 1]
        assert (ROOT / config).is_file(), config
        assert words[-1] == "leadops.wsgi"


def test_the_procfile_runs_existing_commands():
    processes = dict(
        line.split(":", 1)
        for line in (DEPLOY / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(processes) == {"release", "web", "worker"}
    commands = commands_in((DEPLOY / "Procfile").read_text())
    assert {words[1] for words in commands if words[0] == "manage.py"} == {
        "migrate",
        "createcachetable",
        "collectstatic",
        "qcluster",
    }
    for words in commands:
        check_command(words)


def test_the_systemd_units_run_existing_commands_with_the_shared_environment():
    for unit in ("leadops-web.service", "leadops-worker.service"):
        text = (DEPLOY / unit).read_text()
        assert "EnvironmentFile=/etc/leadops/leadops.env" in text
        commands = commands_in(text)
        assert commands, unit
        for words in commands:
            check_command(words)


def test_the_environment_example_sets_what_production_requires():
    names = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "leadops.env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "EMAIL_HOST", "REDIS_URL"} <= names
    readme = (ROOT / "README.md").read_text()
    assert [name for name in sorted(names) if name not in readme] == []


def test_the_worker_unit_stops_the_way_the_readme_says_and_the_tests_do():
    unit = (DEPLOY / "leadops-worker.service").read_text()
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#"
    )
    assert settings["KillSignal"] == "SIGTERM"
    assert settings["KillMode"] == "mixed"  # TERM to the main process, KILL to all at the end
    grace = int(settings["TimeoutStopSec"])
    assert 0 < grace <= 30
    readme = (ROOT / "README.md").read_text()
    stopping = " ".join(readme.split("### Stopping workers", 1)[1].split("\n#", 1)[0].split())
    assert f"`KillMode=mixed`, `TimeoutStopSec={grace}`" in stopping
    assert f"({grace} s with `deploy/leadops-worker.service`)" in stopping


def probe_production_process(probe: str) -> dict:
    """Run `probe` (Python that prints one JSON line) in a fresh process with production
    settings (DEBUG off); the JSON it printed."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DEBUG")}
    env.update(
        DJANGO_SETTINGS_MODULE="leadops.settings",
        SECRET_KEY="a-long-random-production-secret-key-0123456789-abcdefghijklmnopq",
        EMAIL_HOST="127.0.0.1",
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_gunicorn_loads_the_app_once_before_it_forks():
    """preload_app: the master imports leadops.wsgi, which also imports what a first request
    would (the URLconf and its views), so no web process pays seconds of imports while requests
    wait; and it opens no connection or thread that the forked processes would share."""
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert config["preload_app"] is True

    probe = (
        "import json, sys, threading, leadops.wsgi\n"
        "from django.conf import settings\n"
        "from django.db import connections\n"
        "print(json.dumps({'modules': [m for m in (settings.ROOT_URLCONF, 'pipeline.intake_views',"
        " 'review.views') if m in sys.modules], 'connections': sum(c.connection is not None"
        " for c in connections.all()), 'threads': threading.active_count()}))"
    )
    loaded = probe_production_process(probe)
    assert loaded == {
        "modules": ["leadops.urls", "pipeline.intake_views", "review.views"],
        "connections": 0,
        "threads": 1,
    }


def test_what_the_masters_loaded_is_frozen_before_they_fork():
    """gunicorn's pre_fork hook and the worker cluster's preload put everything loaded so far in
    the collector's permanent generation: a forked process's full collections skip it (a 150 ms
    pause per collection with the app's objects in it) and its pages stay shared."""
    probe = (
        "import gc, json, runpy, leadops.wsgi\n"
        f"config = runpy.run_path({str(DEPLOY / 'gunicorn.conf.py')!r})\n"
        "before = gc.get_freeze_count()\n"
        "config['pre_fork'](None, None)\n"
        "web = gc.get_freeze_count()\n"
        "gc.unfreeze()\n"
        "from pipeline.apps import _preload\n"
        "_preload()\n"
        "print(json.dumps({'before': before, 'web': web, 'cluster': gc.get_freeze_count(),"
        " 'tracked': len(gc.get_objects())}))"
    )
    frozen = probe_production_process(probe)
    # The app's objects (over 100,000), not a handful (some Python builds freeze a few hundred
    # of their own at start); and little is left for a collection.
    assert frozen["web"] > frozen["before"] + 100_000
    assert frozen["cluster"] > frozen["web"]
    assert frozen["tracked"] < frozen["cluster"] / 10
