"""Every ```bash block of README.md runs as written, in order, the way a
newcomer runs them after the README's set-up.

The blocks run one after another in a fresh working folder (files a block
writes, such as the demo's `demo_out`, are there for the next), each in
`bash -e -o pipefail`, with HOME isolated, no KERAS_BACKEND but the
blocks' own, and the repository's `.venv` linked as `./.venv` and first on
the PATH. Sections repeat the demo's line for readers who start there; in
this reading order its folder exists already, so a `densenet-hub demo` line
that already ran (the same after dropping `KERAS_BACKEND=...` and
`.venv/bin/`) runs once: the demo is most of the test's time.

Install lines (`python3 -m venv .venv`, `pip install ...`) are not run:
the test would otherwise rebuild the environment it runs in. They are
checked instead: each names this folder (`-e .` or `-e ".[...]"`) and
extras that pyproject.toml defines. A block that cannot run here (the real
internet, a GPU, other machines, real data) is preceded by
`<!-- readme-test: skip REASON -->`, and the reason is required.
"""

import os
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\b(.*?)-->")
INSTALL = re.compile(r"^\s*(python3 -m venv \.venv|(\.venv/bin/)?pip install)")
EXTRAS = re.compile(r"-e\s+\"?\.(?:\[([\w,-]+)\])?\"?")
# The whole README, the demo included, on 2 loaded cores.
BLOCKS_TIMEOUT_S = 900


def readme_blocks(text):
    """`(line, commands, skip_reason)` for each ```bash block of `text`;
    `skip_reason` is None for a block to run, "" for a marker without one."""
    lines = text.splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        if lines[index].strip() == "```bash":
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
            previous = lines[index - 1].strip() if index else ""
            marker = SKIP.fullmatch(previous)
            reason = marker.group(1).strip() if marker else None
            blocks.append((index + 1, "\n".join(lines[index + 1 : end]), reason))
            index = end
        index += 1
    return blocks


def _commands(block):
    """The block's logical lines (continuations joined), comments kept."""
    return re.sub(r"\\\n\s*", " ", block).splitlines()


def test_every_skip_marker_gives_a_reason_and_precedes_a_block():
    text = README.read_text()
    blocks = readme_blocks(text)
    assert len(blocks) >= 5
    for line, _, reason in blocks:
        assert reason != "", f"README.md:{line}: `readme-test: skip` needs a REASON"
    markers = [number for number, line in enumerate(text.splitlines(), 1) if SKIP.search(line)]
    fenced = {line - 1 for line, _, reason in blocks if reason is not None}
    assert set(markers) <= fenced, "a readme-test marker not right before a ```bash fence"


def test_install_lines_name_this_folder_and_real_extras():
    defined = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ])
    installs = [
        (line, command)
        for line, block, reason in readme_blocks(README.read_text())
        if reason is None
        for command in _commands(block)
        if INSTALL.match(command)
    ]
    assert installs, "the set-up installs nothing"
    for line, command in installs:
        for part in command.split("&&"):
            if "pip install" not in part:
                continue
            named = EXTRAS.search(part)
            assert named, f"README.md:{line}: {part.strip()!r} does not install this folder"
            extras = set(filter(None, (named.group(1) or "").split(",")))
            assert extras <= defined, f"README.md:{line}: unknown extras {extras - defined}"


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "jax") != "jax",
    reason="the blocks name their own backend, so the run is the same under every "
    "backend; it runs once, under jax",
)
def test_readme_shell_blocks_run_as_written(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(REPO_ROOT / ".venv")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "PATH": os.pathsep.join([str(work / ".venv" / "bin"), "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmp_path),
        # The suite's loopback guard cannot reach a child process: no
        # client may look for a hub host.
        "HF_HUB_OFFLINE": "1",
        "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
        "no_proxy": "*",
    }
    ran = []
    demos = set()

    def runnable(command):
        if INSTALL.match(command):
            return f"# not run: {command}"
        plain = re.sub(r"^(KERAS_BACKEND=\w+\s+)?(\.venv/bin/)?", "", command.strip())
        if plain.startswith("densenet-hub demo"):
            if plain in demos:
                return f"# ran before: {command}"
            demos.add(plain)
        return command

    for line, block, reason in readme_blocks(README.read_text()):
        if reason is not None:
            continue
        script = "\n".join(runnable(command) for command in _commands(block))
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=work, env=env, capture_output=True, text=True, timeout=BLOCKS_TIMEOUT_S,
        )  # fmt: skip
        assert result.returncode == 0, (
            f"README.md:{line} failed (exit {result.returncode}):\n{script}\n"
            f"--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-3000:]}"
        )
        ran.append(line)
    assert ran, "no block ran"
    print(f"ran the blocks at README.md lines {ran} with {sys.executable}")
