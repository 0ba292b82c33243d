"""Every ```python example in the package's docstrings and the README's
runnable examples really run, so the documentation stays true to the code."""

import importlib
import inspect
import pathlib
import pkgutil

import pytest
from stub_servers.loopback_guard import loopback_only

import densenet_hub

README = pathlib.Path(__file__).parents[1] / "README.md"
# README sections whose examples run offline; the others need a network or
# files the reader brings (a checkpoint, a photo folder).
RUNNABLE_README_SECTIONS = (
    "### Build, run, save",
    "### Export",
    "### Fast inference on a CPU",
    "### Fine-tuning and Grad-CAM in Python",
    "### Multi-label chest X-ray work",
    "### Batch inference to Parquet",
)


def _code_blocks(text):
    return [part.split("```")[0] for part in text.split("```python")[1:]]


def _docstring_examples():
    examples = {}
    for module_info in pkgutil.walk_packages(
        densenet_hub.__path__, prefix="densenet_hub."
    ):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        owners = [module] + [
            obj
            for _, obj in inspect.getmembers(module)
            if (inspect.isclass(obj) or inspect.isfunction(obj))
            and obj.__module__ == module.__name__
        ]
        for owner in list(owners):
            if inspect.isclass(owner):
                owners += [
                    member
                    for name, member in vars(owner).items()
                    if inspect.isfunction(member) and not name.startswith("_")
                ]
        for owner in owners:
            name = getattr(owner, "__qualname__", owner.__name__)
            for index, block in enumerate(
                _code_blocks(inspect.cleandoc(owner.__doc__ or ""))
            ):
                examples[f"{module.__name__}:{name}:{index}"] = block
    return examples


def _readme_examples():
    text = README.read_text()
    examples = {}
    for section in RUNNABLE_README_SECTIONS:
        body = text.split(section, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
        for index, block in enumerate(_code_blocks(body)):
            examples[f"README {section.strip('# ')}:{index}"] = block
    return examples


DOCSTRING_EXAMPLES = _docstring_examples()


def test_the_package_documents_examples():
    # Guards the collector itself: a broken walk would pass vacuously.
    assert len(DOCSTRING_EXAMPLES) >= 10


def _run_offline(code, name):
    # An example must never reach beyond this machine.
    with loopback_only() as network:
        exec(compile(code, name, "exec"), {})
    assert network.refused == [], f"{name} used the network: {network.refused}"


@pytest.mark.parametrize("name", sorted(DOCSTRING_EXAMPLES))
def test_docstring_example_runs(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run_offline(DOCSTRING_EXAMPLES[name], name)


@pytest.mark.parametrize("name", sorted(_readme_examples()))
def test_readme_example_runs(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run_offline(_readme_examples()[name], name)
