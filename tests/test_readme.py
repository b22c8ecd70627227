"""The README stays true: every setting read from the environment and every command is in it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
    commands = {
        path.stem
        for path in (ROOT / "pipeline" / "management" / "commands").glob("*.py")
        if path.stem != "__init__"
    }
    assert {"setup_demo", "serve", "bench_engine"} <= commands
    missing = sorted(command for command in commands if command not in README)
    assert missing == []


def test_the_two_commands_come_first():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
