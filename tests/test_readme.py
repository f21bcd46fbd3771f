"""The README's command-line section works as written on a fresh checkout: its block is run by
bash, line by line as a person would paste it, against a new database (the two commands that run
until stopped are left out)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cli_block() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Command line") :]
    return re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_command_line_section_runs_as_written_on_a_fresh_database(tmp_path):
    block = _cli_block()
    script = "\n".join(
        line for line in block.replace("\\\n", "").splitlines() if "runs until stopped" not in line
    )
    assert (
        script.count(".venv/bin/flask --app app") >= 12
    )  # every command as written, none left out by mistake
    # A fresh checkout as the shell sees it: its .venv and app.py, nothing else (instance/ stays
    # untouched).
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    (tmp_path / "app.py").symlink_to(REPO / "app.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env |= {
        "SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'switchboard.db'}",
        "SWITCHBOARD_SECRET_KEY": "readme-test",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "created ops ops@example.com" in out
    assert "+12025550101 (US) → +1 (US, CA, AG and 22 more) via acme at 0.0075 USD per part" in out
    assert "message 1: queued" in out
    assert re.search(r"^queued 3$", out, re.MULTILINE)
    assert "sender 1 Acme (alphanumeric), approved in GB, US" in out
    assert re.search(r"consent chain intact|intact", out)
