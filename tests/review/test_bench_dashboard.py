"""`manage.py bench_dashboard` fills a throwaway database and prints the dashboard's render times."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_dashboard_prints_a_render_time_per_period(tmp_path):
    database = tmp_path / "bench.sqlite3"
    result = subprocess.run(
        [sys.executable, "manage.py", "bench_dashboard", "--leads", "300", "--repeat", "1"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": f"sqlite:///{database}",
            "SECRET_KEY": "x" * 50,
            "DEBUG": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "generated 300 leads" in result.stdout
    for period in ("today", "7d", "30d"):
        assert re.search(rf"{period}: median \d+ ms, max \d+ ms .*, \d+ queries", result.stdout)
    if database.exists():  # Django may open it, but the bench wrote its rows elsewhere
        import sqlite3

        tables = sqlite3.connect(database).execute("SELECT name FROM sqlite_master").fetchall()
        assert ("pipeline_lead",) not in tables
