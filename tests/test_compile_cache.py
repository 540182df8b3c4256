"""TensorFlow's compile cache: a second run loads what the first compiled; no cache file, however damaged,
foreign or unwritable, and no disk under the cache, however full or read-only, ever fails a run or changes what
it learns; a program in a folder that others may write to is never loaded; stderr holds only the program's own
words."""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

import catch_es as ce

SCRIPT = str(Path(ce.__file__))
TINY = ["--population-size", "10", "--hidden-units", "8", "--no-render", "--seed", "3"]


def run(tmp_path, name, cache_home, generations=4, wait=None, **environment):
    """A tiny run of the script with its cache under `cache_home`: (exit status, stderr, history, final theta).
    `wait(process)`, if given, is called once the run has printed its first generation."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TF_XLA_FLAGS", "CATCH_ES_CACHE")
    }
    env.update(
        XDG_CACHE_HOME=str(cache_home), MPLCONFIGDIR=str(tmp_path / "matplotlib"), **environment
    )
    args = [
        sys.executable,
        SCRIPT,
        *TINY,
        "--generations",
        str(generations),
        "--out",
        str(tmp_path / name),
    ]
    process = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if wait:
        for line in process.stdout:
            if line.startswith("generation"):
                wait(process)
                break
    _, stderr = process.communicate(timeout=300)
    folder = tmp_path / name
    history = (folder / "history.csv").read_text() if (folder / "history.csv").is_file() else ""
    theta = (
        np.load(folder / "checkpoint.npz")["theta"]
        if (folder / "checkpoint.npz").is_file()
        else None
    )
    return process.returncode, stderr, without_seconds(history), theta


def without_seconds(history):  # the history but for the clock
    return [row.split(",")[:6] for row in history.splitlines()]


def programs(cache_home):
    return sorted((cache_home / "catch_es").glob("*/xla_compile_cache*.pb"))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """A first run into an empty cache, and one with the cache off: (the cache, the run's history and theta)."""
    folder = tmp_path_factory.mktemp("compiled")
    status, stderr, history, theta = run(folder, "first", folder / "cache")
    assert status == 0 and stderr == "" and programs(folder / "cache"), (
        "the first run kept its programs"
    )
    off = run(folder, "off", folder / "unused", CATCH_ES_CACHE="off")
    assert off[0] == 0 and off[2] == history and not (folder / "unused" / "catch_es").exists()
    np.testing.assert_array_equal(off[3], theta)  # the cache changes nothing the run learns
    return folder / "cache", history, theta


def a_copy(compiled, tmp_path):  # the first run's cache, in a folder of this test's own
    return shutil.copytree(compiled[0], tmp_path / "cache"), compiled[1]


def same_as_without_a_cache(result, compiled, lines=0):
    status, stderr, history, theta = result
    assert status == 0 and history == compiled[1], stderr
    np.testing.assert_array_equal(theta, compiled[2])
    assert len(stderr.splitlines()) <= lines, stderr


def test_the_cache_folder_is_named_for_this_machine_and_a_users_own_flag_or_the_off_switch_wins(
    tmp_path,
):
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    cache = ce.use_compile_cache(environ)
    try:
        # a fingerprint of CPU and versions, made private; TensorFlow works in a private folder of its own
        assert cache.folder.parent == tmp_path / "catch_es" and len(cache.folder.name) == 16
        assert (
            cache.folder.stat().st_mode & 0o777,
            cache.folder.parent.stat().st_mode & 0o777,
        ) == (0o700, 0o700)
        assert environ["TF_XLA_FLAGS"] == f"--tf_xla_persistent_cache_directory={cache.work}"
        assert cache.work.stat().st_mode & 0o777 == 0o700 and not cache.work.is_relative_to(
            tmp_path
        )
        # a process started by ours: the flag is its parent's, its own cache
        assert ce.use_compile_cache(environ) is None
    finally:
        cache.keep()
    assert not cache.work.exists()  # gone at the end
    assert ce.use_compile_cache({"XDG_CACHE_HOME": str(tmp_path), "CATCH_ES_CACHE": "off"}) is None
    own = {
        "XDG_CACHE_HOME": str(tmp_path),
        "TF_XLA_FLAGS": "--tf_xla_persistent_cache_directory=/mine",
    }
    assert (
        ce.use_compile_cache(own) is None
        and own["TF_XLA_FLAGS"] == "--tf_xla_persistent_cache_directory=/mine"
    )
    (tmp_path / "a file").write_text("")
    assert (
        ce.use_compile_cache({"XDG_CACHE_HOME": str(tmp_path / "a file")}) is None
    )  # no folder: no cache


def test_a_second_run_loads_what_the_first_compiled_and_learns_the_same(compiled, tmp_path):
    cache, _ = a_copy(compiled, tmp_path)
    inodes = {path: path.stat().st_ino for path in programs(cache)}
    same_as_without_a_cache(
        run(tmp_path, "second", cache), compiled
    )  # (no warning about loading, either)
    assert {
        path: path.stat().st_ino for path in programs(cache)
    } == inodes  # loaded, not written again


def test_a_damaged_truncated_or_foreign_cache_file_is_compiled_again_and_changes_nothing(
    compiled, tmp_path
):
    cache, _ = a_copy(compiled, tmp_path)
    program = programs(cache)[0]
    whole = program.read_bytes()
    damaged = bytearray(whole)
    damaged[len(whole) // 2 : len(whole) // 2 + 64] = bytes(64)
    for name, content in [("truncated", whole[:1000]), ("damaged", bytes(damaged)), ("empty", b""),
                          ("foreign", b"\x0a\x05other" + whole[7:])]:  # fmt: skip
        program.write_bytes(content)
        same_as_without_a_cache(run(tmp_path, name, cache), compiled)
        # compiled again, kept whole, and known whole for the next run
        assert (
            ce.known_digests(program.parent)[program.name]
            == ce.digests(program.parent)[program.name]
        )
    (cache / "catch_es" / program.parent.name / "digests.json").write_text("{not json")
    same_as_without_a_cache(run(tmp_path, "garbage digests", cache), compiled)


def test_a_planted_program_in_a_folder_others_may_write_to_is_never_loaded(compiled, tmp_path):
    cache, _ = a_copy(compiled, tmp_path)
    program = programs(cache)[0]
    folder = program.parent
    planted = (
        b"\x0a\x05other" + program.read_bytes()[7:]
    )  # would fail the run if TensorFlow loaded it
    program.write_bytes(planted)
    digests = ce.digests(folder)  # ... its digest written in by whoever could write there
    (folder / "digests.json").write_text(ce.json.dumps(digests))
    for opened in (folder, folder.parent):  # the fingerprint's folder, or the cache's root above it
        opened.chmod(0o777)
        result = run(tmp_path, f"open {opened.name}", cache)
        same_as_without_a_cache(result, compiled, lines=1)
        assert "others may write to it" in result[1]
        assert (
            program.read_bytes() == planted
        )  # neither loaded nor written: the folder is not ours alone
        opened.chmod(0o700)
    os.chown(program, 65534, 65534)  # a private folder, but a file of another user's in it
    same_as_without_a_cache(run(tmp_path, "foreign owner", cache), compiled)


def test_an_unwritable_cache_never_fails_a_run(compiled, tmp_path):
    (tmp_path / "a file").write_text("")
    same_as_without_a_cache(run(tmp_path, "run", tmp_path / "a file"), compiled)


def mounted(tmp_path, size):
    """A tmpfs of `size` at tmp_path/disk, or a skip where this machine cannot mount one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    return disk


@pytest.fixture
def small_disk(tmp_path):
    disk = mounted(tmp_path, "150k")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_under_the_cache_costs_the_run_nothing(compiled, small_disk, tmp_path):
    (small_disk / "filler").write_bytes(b"x" * 140_000)  # all but a few kilobytes
    same_as_without_a_cache(run(tmp_path, "full", small_disk), compiled)
    leftovers = [
        path.name for path in small_disk.rglob("*") if path.is_file() and path.name != "filler"
    ]
    assert not [name for name in leftovers if name.endswith(".pb") or ".tmp" in name], (
        leftovers
    )  # nothing half-written


def test_a_cache_disk_remounted_read_only_mid_run_costs_the_run_nothing(
    compiled, small_disk, tmp_path
):
    big = small_disk.parent / "big"
    big.mkdir()
    subprocess.run(["umount", "-l", str(small_disk)], check=True)
    disk = mounted(big, "64m")
    try:

        def read_only(process):  # once the run has compiled and played its first generation
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)

        result = run(tmp_path, "remounted", disk, generations=40, wait=read_only)
        assert result[0] == 0 and len(result[1].splitlines()) <= 1, result[1]
        straight = run(
            tmp_path, "straight", tmp_path / "unused", generations=40, CATCH_ES_CACHE="off"
        )
        assert result[2] == straight[2]
        np.testing.assert_array_equal(result[3], straight[3])
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_successful_run_says_nothing_on_stderr_at_any_quiet_log_level(compiled, tmp_path):
    cache, _ = a_copy(compiled, tmp_path)
    for level in (
        "2",
        "3",
    ):  # 2: a setting many TensorFlow users keep; 0 or 1 ask for TensorFlow's own words
        same_as_without_a_cache(
            run(tmp_path, f"level {level}", cache, TF_CPP_MIN_LOG_LEVEL=level), compiled
        )


def test_two_runs_sharing_an_empty_cache_at_once_are_both_fine(compiled, tmp_path):
    cache, results = tmp_path / "cache", {}
    threads = [threading.Thread(target=lambda name=name: results.update({name: run(tmp_path, name, cache)}))
               for name in ("one", "two")]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in ("one", "two"):
        same_as_without_a_cache(results[name], compiled)
    same_as_without_a_cache(run(tmp_path, "after", cache), compiled)  # what they left loads


def test_a_killed_runs_private_folder_is_swept_by_the_next_run(compiled, tmp_path):
    cache, _ = a_copy(compiled, tmp_path)
    killed = []

    def kill(process):
        killed.append(process.pid)
        process.kill()

    run(tmp_path, "killed", cache, generations=10_000, wait=kill)
    memory = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path(tempfile.gettempdir())
    assert list(memory.glob(f"catch_es-compiled-{killed[0]}-*"))  # left behind by the kill
    after = ce.use_compile_cache({"XDG_CACHE_HOME": str(cache)})
    try:
        assert not list(memory.glob(f"catch_es-compiled-{killed[0]}-*"))
    finally:
        after.keep()


def test_a_restart_compiles_nothing_and_a_rerun_in_the_same_process_neither():
    config = ce.Config(seed=1, hidden_units=8, population_size=6, patience=2, generations=14)
    first = ce.run_training(config, progress=lambda history, done: None)
    assert first.history[-1]["restarts"] >= 2  # populations 6, 12, 24: batches of 6
    _, strategy, play_generation = ce.fast_attempt(config, 0)
    (generation,) = [cell.cell_contents for cell in play_generation.__closure__
                     if hasattr(cell.cell_contents, "experimental_get_tracing_count")]  # fmt: skip
    assert generation.experimental_get_tracing_count() == 1  # traced once, whatever the population
    again = ce.run_training(
        ce.dataclasses.replace(config, seed=2), progress=lambda history, done: None
    )
    assert generation.experimental_get_tracing_count() == 1 and again.history != first.history
    replayed = ce.run_training(config, progress=lambda history, done: None)
    np.testing.assert_array_equal(
        replayed.state.theta, first.state.theta
    )  # the same seed, the same weights
