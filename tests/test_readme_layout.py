"""The README's "How the code is laid out" section names every module of
the package, and nothing that is not there, so a reader can trust it as a
map."""

import pathlib
import re

import densenet_hub

README = pathlib.Path(__file__).parents[1] / "README.md"
PACKAGE = pathlib.Path(densenet_hub.__file__).parent
SECTION = "## How the code is laid out"
# A module as the section names it: a path under densenet_hub/ in backticks.
MODULE = re.compile(r"`((?!tests/)[a-z_/]+\.py)`")


def _section(text):
    start = text.index(SECTION) + len(SECTION)
    end = text.find("\n## ", start)
    return text[start : None if end < 0 else end]


def listed_modules(text):
    return set(MODULE.findall(_section(text)))


def package_modules():
    # An `__init__.py` is its folder's namespace; the section names folders.
    return {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py"
    }


def test_the_layout_section_lists_every_module_and_only_those():
    listed = listed_modules(README.read_text(encoding="utf-8"))
    actual = package_modules()
    assert sorted(actual - listed) == [], "modules the README's layout section leaves out"
    assert sorted(listed - actual) == [], "modules the README's layout section names but the package lacks"


def test_the_check_sees_a_missing_and_an_extra_module():
    text = f"{SECTION}\n\n`base/backend.py`, `gone.py`, `tests/x.py`\n\n## Next\n`not/counted.py`"
    assert listed_modules(text) == {"base/backend.py", "gone.py"}
