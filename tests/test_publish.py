"""The atomic publisher, `densenet_hub.base.publish`: concurrent writers to one
target, in threads and in processes, and what crashed writers leave behind."""

import os
import subprocess
import sys
import textwrap
import threading

import pytest
from helpers.paths import REPO_ROOT

from densenet_hub.base.publish import published

FILES = ("config.json", "model.weights.h5", "metadata.json")


def publish_folder(target, writer, overwrite=True):
    with published(target, overwrite=overwrite) as staging:
        staging.mkdir()
        for name in FILES:
            (staging / name).write_text(writer)


def assert_one_complete_folder(target, writers):
    contents = {(target / name).read_text() for name in FILES}
    assert sorted(os.listdir(target)) == sorted(FILES)
    assert len(contents) == 1 and contents.pop() in writers
    hidden = [name for name in os.listdir(target.parent) if name.startswith(".")]
    assert hidden == []


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_threads_overwriting_one_target_all_succeed(tmp_path):
    target = tmp_path / "preset"
    writers = [f"writer {i}" for i in range(8)]
    for _ in range(5):
        start, failures = threading.Barrier(len(writers)), []

        def write(writer):
            start.wait()
            try:
                for _ in range(5):
                    publish_folder(target, writer)
            except Exception as error:  # noqa: BLE001 - every failure is reported
                failures.append(repr(error))

        threads = [threading.Thread(target=write, args=(w,)) for w in writers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert failures == []
        assert_one_complete_folder(target, writers)


def test_processes_overwriting_one_target_all_succeed(tmp_path):
    target = tmp_path / "preset"
    script = textwrap.dedent(
        f"""
        import pathlib, sys, time
        from densenet_hub.base.publish import published

        target = pathlib.Path({str(target)!r})
        # Start together: wait for the go file.
        while not (target.parent / "go").exists():
            time.sleep(0.01)
        for _ in range(100):
            with published(target, overwrite=True) as staging:
                staging.mkdir()
                for name in {FILES!r}:
                    (staging / name).write_text(sys.argv[1])
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "numpy"}
    writers = [f"process {i}" for i in range(4)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, writer],
            cwd=REPO_ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for writer in writers
    ]
    (tmp_path / "go").touch()
    errors = [child.communicate(timeout=300)[1] for child in children]
    (tmp_path / "go").unlink()

    assert [child.returncode for child in children] == [0] * 4, errors
    assert_one_complete_folder(target, writers)


def test_concurrent_writers_without_overwrite_get_one_clear_error(tmp_path):
    target = tmp_path / "preset"
    writers = [f"writer {i}" for i in range(6)]
    start, failures = threading.Barrier(len(writers)), []

    def write(writer):
        start.wait()
        try:
            publish_folder(target, writer, overwrite=False)
        except Exception as error:  # noqa: BLE001 - every failure is reported
            failures.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(failures) == len(writers) - 1
    for error in failures:
        assert isinstance(error, FileExistsError), repr(error)
        assert f"Cannot write {target}" in str(error) and "overwrite=True" in str(error)
    assert_one_complete_folder(target, writers)


def test_staging_folders_of_dead_processes_are_removed_by_the_next_save(tmp_path):
    target = tmp_path / "preset"
    stale = tmp_path / f".preset.staging-{dead_pid()}-x1y2z3"
    (stale / "preset").mkdir(parents=True)
    (stale / "preset" / "config.json").write_text("half written")
    live = tmp_path / f".preset.staging-{os.getpid()}-a1b2c3"
    live.mkdir()
    other_target = tmp_path / f".other.staging-{dead_pid()}-q1w2e3"
    other_target.mkdir()

    publish_folder(target, "new")

    assert not stale.exists()
    assert live.exists(), "the staging folder of a live process must stay"
    assert other_target.exists(), "only the target's own staging folders go"
    assert (target / "config.json").read_text() == "new"


def test_an_old_target_a_crashed_writer_moved_aside_is_put_back(tmp_path):
    """A writer that died between its two renames left the old target in
    its staging folder and no target: the next publish restores it."""
    target = tmp_path / "preset"
    stale = tmp_path / f".preset.staging-{dead_pid()}-x1y2z3"
    (stale / ".replaced-preset").mkdir(parents=True)
    for name in FILES:
        (stale / ".replaced-preset" / name).write_text("old")

    with pytest.raises(FileExistsError, match=f"Cannot write {target}: another writer"):
        publish_folder(target, "new", overwrite=False)

    assert_one_complete_folder(target, ["old"])
    publish_folder(target, "new", overwrite=True)
    assert_one_complete_folder(target, ["new"])
