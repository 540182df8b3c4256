"""The scaling-out study: the same evolution strategy on Ray workers, identical results, retried shards, clear
refusals, and the study as a script and a notebook.

All tests share one local Ray instance with 2 CPUs, so its start-up is paid once.
"""
import os
import signal
import sys

import numpy as np
import pytest
import ray


import catch_es as ce
import scale_out as so

CONFIG = ce.Config(seed=3, population_size=20, hidden_units=16, generations=8, patience=2, render=False)
STUDY = str(ce.Path(so.__file__))


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    so.connect_ray(2, "", [ce, so])  # a local instance with 2 CPUs, started the way --workers 2 starts it
    yield
    ray.shutdown()


def quiet(history, done):
    pass


def weights(result):
    return ce.flatten_weights(result.model)


def without_seconds(history):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in history]


@pytest.fixture(scope="module")
def here():
    """The run in this process that every distributed run must equal; it restarts with a bigger population."""
    result = ce.train(CONFIG, progress=quiet)
    assert any(row["event"] for row in result.history[:-1])
    return result


def train_on_workers(workers, wrap_ray=None):
    """Train on Ray workers; the result, what travelled, and the workers' process ids before and after."""
    players = so.RayPlayers(CONFIG, workers)
    try:
        before = players.pids()
        if wrap_ray is not None:
            players.ray = wrap_ray(players.ray, before)
        result = ce.train(CONFIG, progress=quiet, play_generation=players)
        return result, players, before, players.pids()
    finally:
        players.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_any_number_of_workers_gives_bit_identical_weights_and_history(here, workers):
    result, players, _, _ = train_on_workers(workers)
    np.testing.assert_array_equal(weights(result), weights(here))
    assert without_seconds(result.history) == without_seconds(here.history)
    # What travelled per generation: theta (4 bytes a weight) and a few integers out, one float per candidate back.
    played, theta_bytes = len(result.history), weights(result).nbytes
    assert theta_bytes <= players.sent / played < theta_bytes + 200 * workers
    assert players.received < sum(row["population_size"] * 8 + 200 * workers for row in result.history)


class KillDuringGeneration:
    """Ray, except that in generation 2 `get` first kills a worker: its shard is in flight, so Ray must replay it."""

    def __init__(self, ray, victim, generation=2):
        self.ray, self.victim, self.generation, self.calls = ray, victim, generation, 0

    def __getattr__(self, name):
        return getattr(self.ray, name)

    def get(self, refs):
        if self.calls == self.generation:
            os.kill(self.victim, signal.SIGKILL)
        self.calls += 1
        return self.ray.get(refs)


def test_a_killed_worker_is_restarted_and_its_shard_replayed_with_the_same_result(here):
    result, _, before, after = train_on_workers(2, lambda ray, pids: KillDuringGeneration(ray, pids[1]))
    assert after[0] == before[0] and after[1] != before[1]  # a new process took the killed one's place
    with pytest.raises(ProcessLookupError):
        os.kill(before[1], 0)
    np.testing.assert_array_equal(weights(result), weights(here))
    assert without_seconds(result.history) == without_seconds(here.history)


def run_main(capsys, *argv):
    with pytest.raises(SystemExit) as exit:
        so.main(list(argv))
    return exit.value.code, capsys.readouterr().err


def test_an_unreachable_cluster_is_one_line_and_exit_2(capsys, tmp_path):
    code, err = run_main(capsys, "--workers", "2", "--ray-address", "127.0.0.1:9", "--out", str(tmp_path / "run"))
    assert code == 2 and err.count("\n") == 1
    assert "--ray-address 127.0.0.1:9: no Ray cluster answers there" in err
    assert not (tmp_path / "run").exists()  # nothing written


def test_auto_without_a_cluster_says_how_to_start_one(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh process
    monkeypatch.setattr(ray, "init", lambda **kwargs: (_ for _ in ()).throw(ConnectionError("no running instance")))
    code, err = run_main(capsys, "--workers", "2", "--ray-address", "auto", "--out", str(tmp_path / "run"))
    assert code == 2 and err.count("\n") == 1
    assert "--ray-address auto: no Ray cluster runs here; start one with `ray start --head`" in err
    assert not (tmp_path / "run").exists()


def test_more_workers_than_the_cluster_has_cpus_is_refused(capsys, tmp_path):
    code, err = run_main(capsys, "--workers", "3", "--out", str(tmp_path / "run"))
    assert code == 2 and "--workers 3: the Ray cluster has only 2 CPUs" in err and err.count("\n") == 1


def test_bad_options_are_refused_in_one_line_naming_the_study(capsys, tmp_path):
    code, err = run_main(capsys, "--workers", "0")
    assert code == 2 and err == "scale_out.py: error: --workers must be an integer >= 1, got 0 (see --help)\n"
    code, err = run_main(capsys, "--workers", "1", "--sigma", "0", "--out", str(tmp_path / "run"))
    assert code == 2 and err == "scale_out.py: error: --sigma must be a finite number > 0, got 0.0 (see --help)\n"
    assert ce.PROG == "catch_es.py" and not (tmp_path / "run").exists()


def test_without_ray_installed_it_says_how_to_install_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code, err = run_main(capsys, "--workers", "2", "--out", str(tmp_path / "run"))
    assert code == 2 and "--workers needs Ray, which is not installed: pip install ray" in err
    assert err.count("\n") == 1


def test_the_study_trains_on_workers_from_its_command_line_and_resumes_with_either_script(here, tmp_path, capsys):
    options = ["--seed", "3", "--population-size", "20", "--hidden-units", "16", "--patience", "2", "--no-render"]
    result = so.main(["--workers", "2", "--generations", "5", "--out", str(tmp_path / "run"), *options])
    out = capsys.readouterr().out
    assert "playing each generation on 2 workers of a local Ray instance" in out and "bytes went to the workers" in out
    assert len(result.history) == 5
    resumed = ce.main(["--resume", str(tmp_path / "run"), "--generations", "8"])  # in one process now
    np.testing.assert_array_equal(weights(resumed), weights(here))
    assert without_seconds(resumed.history) == without_seconds(here.history)


def test_the_study_is_a_notebook_that_runs_top_to_bottom(tmp_path, study_notebook):
    assert "limit" in study_notebook(STUDY, 'result = main(["--workers", "1", "--generations", "2", "--population-size", '
                                            '"4", "--no-render", "--out", "nb"])\nprint(result.status)')
    assert (tmp_path / "nb" / "policy.keras").is_file()
