"""The README is followed as a new user would: its Python examples run, the commands it shows exist, and
its links (and those of docs/) lead somewhere.

A ```python block runs in a fresh interpreter from a scratch folder holding `examples/`, so the paths the
README uses (`examples/digits/...`, `runs/...`) resolve as they do in a checkout. A block whose first line
is `# not run in tests` (training for minutes, say) only illustrates and is skipped.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP = "# not run in tests"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(path: Path) -> list[tuple[str, str, int]]:
    """Every fenced block of `path`: (info string, text, line number of its opening fence)."""
    text = path.read_text(encoding="utf-8")
    return [(m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


def python_blocks() -> list[tuple[str, int]]:
    """The README's runnable Python examples: blocks fenced exactly ```python, not marked as illustrations."""
    return [(code, line) for info, code, line in blocks(README)
            if info == "python" and not code.lstrip().startswith(SKIP)]


def gruve_commands() -> list[list[str]]:
    """Each distinct `gruve ...` command line of the README's shell blocks, as its words after `gruve`."""
    seen, commands = set(), []
    for info, code, _ in blocks(README):
        if info not in ("", "sh", "bash", "shell", "console"):
            continue
        for line in code.splitlines():
            line = line.strip().removeprefix("$ ").split("#", 1)[0].strip()
            words = line.split()
            if not words or not (words[0] == "gruve" or words[0].endswith("/bin/gruve")):
                continue
            args = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " "))[1:]
            key = tuple(args)
            if key not in seen:
                seen.add(key)
                commands.append(args)
    return commands


def test_readme_has_examples():
    assert len(python_blocks()) >= 4, "the README should show the Python API of every capability"
    assert len(gruve_commands()) >= 10


@pytest.mark.parametrize("code,line", python_blocks(), ids=[f"line-{line}" for _, line in python_blocks()])
def test_readme_python_block_runs(code, line, tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (f"README.md line {line}: this block failed\n\n{code}\n"
                                  f"--- stdout ---\n{done.stdout[-3000:]}\n--- stderr ---\n{done.stderr[-6000:]}")


def command_path(args: list[str]) -> list[str]:
    """The sub-commands `args` name (`compose pianoroll sample`), found in the real typer app."""
    import typer

    from gruve.cli import app

    command, path = typer.main.get_command(app), []
    for arg in args:
        if arg not in getattr(command, "commands", {}):  # a group has sub-commands (typer's own click, or click's)
            break
        command = command.commands[arg]
        path.append(arg)
    assert path and not hasattr(command, "commands"), f"`gruve {' '.join(args)}` names no command"
    return path


def test_readme_commands_exist():
    paths = []
    for args in gruve_commands():
        path = command_path(args)
        if path not in paths:
            paths.append(path)
    run = "import sys; from gruve.cli import main; sys.argv = ['gruve', *sys.argv[1:]]; main()"
    for path in paths:
        done = subprocess.run([sys.executable, "-c", run, *path, "--help"], check=False,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"`gruve {' '.join(path)} --help` failed:\n{done.stdout}\n{done.stderr}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    found, counts = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE):
        base = slug(heading)
        n = counts.get(base, 0)
        counts[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


LINKED = [README, ROOT / "CHANGELOG.md", ROOT / "examples" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    assert page.is_file(), f"{page.relative_to(ROOT)} is missing"
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        where = (page.parent / file).resolve() if file else page
        if not where.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(f"{target} (no heading #{anchor} in {where.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)} links to: " + ", ".join(broken)
