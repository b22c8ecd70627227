"""The README stays true: every setting read from the environment and every command is in it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_environment_variable_in_settings_is_documented():
    settings_source = (ROOT / "leadops" / "settings.py").read_text()
    names = set(
        re.findall(r'env(?:str|bool|int|float|list|choice)\(\s*"([A-Z0-9_]+)"', settings_source)
    )
    names |= {f"AGENT_STRATEGY_{agent}" for agent in ("CLASSIFY", "ENRICH", "SCORE", "DRAFT")}
    assert len(names) > 40
    missing = sorted(name for name in names if name not in README)
    assert missing == []


def test_every_management_command_is_documented():
    # Every app's commands, the developer tools app's too.
    commands = {
        path.stem
        for app in ("pipeline", "review", "leadops")
        for path in (ROOT / app).glob("**/management/commands/*.py")
        if path.stem != "__init__"
    }
    assert {"setup_demo", "serve", "bench_engine", "fake_anthropic", "bench_dashboard"} <= commands
    missing = sorted(command for command in commands if command not in README)
    assert missing == []


def test_the_two_commands_come_first():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_every_declared_dependency_says_why_it_is_there():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    names = {re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower() for line in declared}
    table = README.split("## Dependencies and why", 1)[1].split("\n#", 1)[0]
    explained = set()
    for row in table.splitlines()[2:]:
        if row.startswith("|"):
            package = row.split("|")[1]
            explained |= {name.lower() for name in re.findall(r"[A-Za-z0-9][\w.-]*", package)}
    assert sorted(names - explained) == []
