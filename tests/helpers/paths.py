"""Paths the tests read: the repository root and the golden fixtures."""

import pathlib

TESTS = pathlib.Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS.parent
README = REPO_ROOT / "README.md"
GOLDEN = TESTS / "fixtures" / "golden"
