"""TensorFlow's compile cache: a second run loads what the first compiled, and no cache file, however damaged,
foreign or unwritable, ever fails a run or changes what it learns."""
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import catch_es as ce

SCRIPT = str(ce.Path(ce.__file__))
TINY = ["--population-size", "10", "--hidden-units", "8", "--generations", "4", "--no-render", "--seed", "3"]


def run(tmp_path, name, cache_home, **environment):
    """A tiny run of the script with its cache under `cache_home`: (its exit status, its history as text)."""
    env = {key: value for key, value in os.environ.items() if key not in ("TF_XLA_FLAGS", "CATCH_ES_CACHE")}
    env.update(XDG_CACHE_HOME=str(cache_home), MPLCONFIGDIR=str(tmp_path / "matplotlib"), **environment)
    completed = subprocess.run([sys.executable, SCRIPT, *TINY, "--out", str(tmp_path / name)], env=env,
                               capture_output=True, text=True, timeout=300)
    history = (tmp_path / name / "history.csv").read_text() if (tmp_path / name / "history.csv").is_file() else ""
    return completed.returncode, completed.stderr, without_seconds(history)


def without_seconds(history):  # the history but for the clock
    return [row.split(",")[:6] for row in history.splitlines()]


def programs(cache_home):
    return sorted((cache_home / "catch_es").glob("*/xla_compile_cache*.pb"))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """A first run into an empty cache, once for the tests that start from one: (the cache it left, its history)."""
    folder = tmp_path_factory.mktemp("compiled")
    status, _, history = run(folder, "first", folder / "cache")
    assert status == 0 and programs(folder / "cache"), "the first run compiled and kept its program"
    return folder / "cache", history


def a_copy(compiled, tmp_path):  # the first run's cache, in a folder of this test's own
    return shutil.copytree(compiled[0], tmp_path / "cache"), compiled[1]


def test_the_cache_folder_is_named_for_this_machine_and_a_users_own_flag_or_the_off_switch_wins(tmp_path):
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    folder = ce.use_compile_cache(environ)
    assert folder.parent == tmp_path / "catch_es" and len(folder.name) == 16  # a fingerprint of CPU and versions
    assert environ["TF_XLA_FLAGS"] == f"--tf_xla_persistent_cache_directory={folder}"
    assert ce.use_compile_cache(environ) == folder and environ["TF_XLA_FLAGS"].count(str(folder)) == 1  # inherited
    assert ce.use_compile_cache({"XDG_CACHE_HOME": str(tmp_path), "CATCH_ES_CACHE": "off"}) is None
    own = {"XDG_CACHE_HOME": str(tmp_path), "TF_XLA_FLAGS": "--tf_xla_persistent_cache_directory=/mine"}
    assert ce.use_compile_cache(own) is None and own["TF_XLA_FLAGS"] == "--tf_xla_persistent_cache_directory=/mine"
    (tmp_path / "a file").write_text("")
    assert ce.use_compile_cache({"XDG_CACHE_HOME": str(tmp_path / "a file")}) is None  # no folder there: no cache


def test_a_second_run_loads_what_the_first_compiled_and_learns_the_same(compiled, tmp_path):
    cache, first = a_copy(compiled, tmp_path)
    files = programs(cache)
    inodes = {path: path.stat().st_ino for path in files}
    status, stderr, second = run(tmp_path, "second", cache)
    assert status == 0 and second == first and stderr == ""  # no TensorFlow warning about loading, either
    assert {path: path.stat().st_ino for path in programs(cache)} == inodes  # loaded, not compiled and written again
    status, _, off = run(tmp_path, "off", tmp_path / "unused", CATCH_ES_CACHE="off")
    assert status == 0 and off == first and not (tmp_path / "unused" / "catch_es").exists()


def test_a_damaged_truncated_or_foreign_cache_file_is_compiled_again_and_changes_nothing(compiled, tmp_path):
    cache, first = a_copy(compiled, tmp_path)
    program, = programs(cache)
    whole = program.read_bytes()
    damaged = bytearray(whole)
    damaged[len(whole) // 2 : len(whole) // 2 + 64] = bytes(64)
    for name, content in [("truncated", whole[:1000]), ("damaged", bytes(damaged)), ("empty", b""),
                          ("foreign", b"\x0a\x05other" + whole[7:])]:
        program.write_bytes(content)
        status, stderr, history = run(tmp_path, name, cache)
        assert status == 0 and history == first, (name, stderr)
        recorded = ce.json.loads((program.parent / "digests.json").read_text())  # compiled again, kept whole:
        assert recorded == {program.name: ce.hashlib.sha256(program.read_bytes()).hexdigest()}, name
    (cache / "catch_es" / program.parent.name / "digests.json").write_text("{not json")
    assert run(tmp_path, "digests damaged", cache)[0::2] == (0, first)


def test_an_unwritable_cache_never_fails_a_run(tmp_path):
    (tmp_path / "a file").write_text("")
    status, stderr, history = run(tmp_path, "run", tmp_path / "a file")
    assert status == 0 and len(history) == 5 and stderr == ""


def test_two_runs_sharing_an_empty_cache_at_once_are_both_fine(compiled, tmp_path):
    cache, results = tmp_path / "cache", {}
    threads = [threading.Thread(target=lambda name=name: results.update({name: run(tmp_path, name, cache)}))
               for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["one"][0] == results["two"][0] == 0 and results["one"][2] == results["two"][2] == compiled[1]
    assert run(tmp_path, "after", cache)[0::2] == (0, results["one"][2])  # what they left loads
    shutil.rmtree(cache)


def test_a_restart_compiles_nothing_and_a_rerun_in_the_same_process_neither():
    config = ce.Config(seed=1, hidden_units=8, population_size=6, patience=2, generations=14)
    first = ce.train(config, ce.Hooks(progress=lambda history, done: None))
    assert first.history[-1]["restarts"] >= 2  # populations 6, 12, 24: batches of 6
    strategy = ce.new_strategy(config)[1]
    generation, = [cell.cell_contents for cell in ce.PLAYERS[strategy].__closure__
                   if hasattr(cell.cell_contents, "experimental_get_tracing_count")]
    assert generation.experimental_get_tracing_count() == 1  # traced once, whatever the population
    again = ce.train(ce.dataclasses.replace(config, seed=2), ce.Hooks(progress=lambda history, done: None))
    assert generation.experimental_get_tracing_count() == 1 and again.history != first.history
    replayed = ce.train(config, ce.Hooks(progress=lambda history, done: None))
    np.testing.assert_array_equal(replayed.state.theta, first.state.theta)  # the same seed, the same weights
