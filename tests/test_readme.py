"""The README and the documentation stay true: every command in the README runs, the docs build.

Each fenced block of README.md is run: Python blocks executed, ``mcgradbench``
lines through the command line (into a temporary directory), ``make`` lines
dry-run (``make -n``: the target exists and its recipe expands). The docs are
built with ``mkdocs build --strict``, so any warning (a broken link, a docstring
mkdocstrings cannot read) fails the test.
"""
from __future__ import annotations

import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.S | re.M)


def shell_lines(language: str) -> list[str]:
    return [line.split("  #")[0].strip() for _, body in BLOCKS if _ == language
            for line in body.splitlines() if line.strip() and not line.startswith("#")]


COMMANDS = shell_lines("")


def test_the_readme_is_short():
    assert len(README.splitlines()) < 200


def test_the_readme_has_commands_to_check():
    # the parametrised tests below would pass vacuously on a README without blocks
    assert any(c.startswith("make ") for c in COMMANDS)
    assert any(c.startswith("mcgradbench ") for c in COMMANDS)
    assert any(language == "python" for language, _ in BLOCKS)


@pytest.mark.parametrize("code", [body for language, body in BLOCKS if language == "python"])
def test_python_block_runs(code):
    exec(compile(code, "README.md", "exec"), {})


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("make ")])
def test_make_target_exists(command):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", *shlex.split(command)[1:]], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("mcgradbench ")])
def test_mcgradbench_command_runs(command, tmp_path):
    from suites.cli import main

    args = shlex.split(command)[1:]
    if args[0] == "run":
        args += ["--out", str(tmp_path / "run")]
    result = CliRunner().invoke(main, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output


def test_the_docs_build_without_warnings(tmp_path):
    pytest.importorskip("mkdocstrings", reason="the docs extra (pip install -e '.[docs]')")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    # the API reference holds the public API, generated from the docstrings
    reference = (tmp_path / "site" / "reference" / "measurement.html").read_text()
    assert 'id="suites.measurement.measure.measure"' in reference
