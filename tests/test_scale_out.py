"""The scaling-out study: the same evolution strategy on Ray workers, identical results, retried shards, clear
refusals, and the study as a script and a notebook.

All tests share one local Ray instance with 2 CPUs, so its start-up is paid once.
"""

import gc
import os
import re
import signal
import sys

import numpy as np
import pytest
import ray

import catch_es as ce
import scale_out as so

# CONFIG's run as options (its generations given apart): small enough to restart within a few generations
SMALL_RUN = [
    "--seed",
    "3",
    "--population-size",
    "20",
    "--hidden-units",
    "16",
    "--patience",
    "2",
    "--no-render",
]

CONFIG = ce.Config(seed=3, population_size=20, hidden_units=16, generations=8, patience=2)
STUDY = str(ce.Path(so.__file__))


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # a local instance with 2 CPUs, started the way --workers 2 starts it
    so.connect_ray(2, "", [ce, so])
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
    result = ce.run_training(CONFIG, progress=quiet)
    assert any(row["event"] for row in result.history[:-1])
    return result


def train_on_workers(workers, wrap_ray=None, say=print):
    """Train on Ray workers; the result, what travelled, and the workers' process ids before and after."""
    players = so.RayPlayers(CONFIG, workers, say=say)
    try:
        before = [pid for pid, _ in players.where()]
        if wrap_ray is not None:
            players.ray = wrap_ray(players.ray, before)
        result = ce.run_training(CONFIG, attempt=ce.played_by(players, CONFIG), progress=quiet)
        return result, players, before, [pid for pid, _ in players.where()]
    finally:
        players.close()


class KillDuringGeneration:
    """Ray, except that in generation 2 the first `get` kills a worker: its shard is in flight, so it must be replayed."""

    def __init__(self, ray, victim, generation=2):
        self.ray, self.victim, self.generation, self.puts, self.killed = (
            ray,
            victim,
            generation,
            0,
            False,
        )

    def __getattr__(self, name):
        return getattr(self.ray, name)

    def put(self, value):  # once a generation
        self.puts += 1
        return self.ray.put(value)

    def get(self, refs):
        if self.puts == self.generation + 1 and not self.killed:
            os.kill(self.victim, signal.SIGKILL)
            self.killed = True
        return self.ray.get(refs)


def test_a_killed_worker_is_replaced_and_its_shard_replayed_with_the_same_result(here):
    said = []
    result, _, before, after = train_on_workers(
        2, lambda ray, pids: KillDuringGeneration(ray, pids[1]), said.append
    )
    assert said == ["generation 2: lost 1 of 2 workers, played their shares again; 2 workers now"]
    # a new process took the killed one's place
    assert before[0] in after and before[1] not in after and len(after) == 2
    with pytest.raises(ProcessLookupError):
        os.kill(before[1], 0)
    np.testing.assert_array_equal(weights(result), weights(here))
    assert without_seconds(result.history) == without_seconds(here.history)


def test_losing_every_worker_with_no_cpu_free_stops_in_one_line_and_the_checkpoint_resumes(
    here, tmp_path, capsys, monkeypatch
):
    original = so.play_shares

    def lose_everything_in_generation_3(players, shared, generation, left):
        if generation == 3:
            # as if the cluster had no CPU free
            monkeypatch.setattr(ray, "available_resources", lambda: {})
            for pid, _ in players.where():
                os.kill(pid, signal.SIGKILL)
        return original(players, shared, generation, left)

    monkeypatch.setattr(so, "play_shares", lose_everything_in_generation_3)
    options = SMALL_RUN
    folder = tmp_path / "run"
    gc.disable()  # the folder's lock must be let go when the stop returns, not when a collection happens to run
    try:
        code, err = run_main(
            capsys,
            "--workers",
            "1",
            "--generations",
            "8",
            "--checkpoint-every",
            "2",
            "--out",
            str(folder),
            *options,
        )
        assert code == 69 and err == (
            f"scale_out.py: stopped: lost every worker (1) in generation 3, and the cluster "
            f"has no free CPU; the checkpoint of generation 2 is whole: python scale_out.py "
            f"--resume {folder}\n"
        )
        monkeypatch.undo()
        resumed = ce.main(["--resume", str(folder)])
    finally:
        gc.enable()
    np.testing.assert_array_equal(weights(resumed), weights(here))
    assert without_seconds(resumed.history) == without_seconds(here.history)


def run_main(capsys, *argv):
    with pytest.raises(SystemExit) as exit:
        so.main(list(argv))
    return exit.value.code, capsys.readouterr().err


def test_an_unreachable_cluster_is_one_line_and_exit_2(capsys, tmp_path):
    code, err = run_main(
        capsys, "--workers", "2", "--ray-address", "127.0.0.1:9", "--out", str(tmp_path / "run")
    )
    assert code == 2 and err.count("\n") == 1
    assert "--ray-address 127.0.0.1:9: no Ray cluster answers there" in err
    assert not (tmp_path / "run").exists()  # nothing written


def test_auto_without_a_cluster_says_how_to_start_one(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh process
    monkeypatch.setattr(
        ray, "init", lambda **kwargs: (_ for _ in ()).throw(ConnectionError("no running instance"))
    )
    code, err = run_main(
        capsys, "--workers", "2", "--ray-address", "auto", "--out", str(tmp_path / "run")
    )
    assert code == 2 and err.count("\n") == 1
    assert "--ray-address auto: no Ray cluster runs here; start one with `ray start --head`" in err
    assert not (tmp_path / "run").exists()


def test_more_workers_than_the_cluster_has_cpus_is_refused(capsys, tmp_path):
    code, err = run_main(capsys, "--workers", "3", "--out", str(tmp_path / "run"))
    assert (
        code == 2 and "--workers 3: the Ray cluster has only 2 CPUs" in err and err.count("\n") == 1
    )


def test_bad_options_are_refused_in_one_line_naming_the_study(capsys, tmp_path):
    code, err = run_main(capsys, "--workers", "0")
    assert (
        code == 2
        and err == "scale_out.py: error: --workers must be an integer >= 1, got 0 (see --help)\n"
    )
    code, err = run_main(capsys, "--workers", "1", "--sigma", "0", "--out", str(tmp_path / "run"))
    assert (
        code == 2
        and err
        == "scale_out.py: error: --sigma must be a finite number > 0, got 0.0 (see --help)\n"
    )
    assert ce.PROG == "catch_es.py" and not (tmp_path / "run").exists()


def test_without_ray_installed_it_says_how_to_install_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code, err = run_main(capsys, "--workers", "2", "--out", str(tmp_path / "run"))
    assert code == 2 and "--workers needs Ray, which is not installed: pip install ray" in err
    assert err.count("\n") == 1


def test_the_study_trains_on_workers_from_its_command_line_and_resumes_with_either_script(
    here, tmp_path, capsys
):
    options = SMALL_RUN
    result = so.main(
        ["--workers", "2", "--generations", "5", "--out", str(tmp_path / "run"), *options]
    )
    out = capsys.readouterr().out
    assert "playing each generation on 2 workers of a local Ray instance" in out
    assert len(result.history) == 5
    # What travelled per generation: theta (4 bytes a weight) and a few integers out, one float per candidate back.
    # (1 worker gives the same weights too: tests/test_cluster.py, on a cluster begun by `ray start --head`.)
    sent, received = (
        int(n.replace(",", ""))
        for n in re.search(
            r"([\d,]+) bytes went to the workers and ([\d,]+) "
            r"came back",
            out,
        ).groups()
    )
    theta_bytes = weights(result).nbytes
    assert theta_bytes <= sent < theta_bytes + 200 * 2 and received < 20 * 4 + 200 * 2
    # in one process now
    resumed = ce.main(["--resume", str(tmp_path / "run"), "--generations", "8"])
    np.testing.assert_array_equal(weights(resumed), weights(here))
    assert without_seconds(resumed.history) == without_seconds(here.history)


def test_the_study_is_a_notebook_that_runs_top_to_bottom_and_its_model_adds_up(study_notebook):
    # (Training on workers from the study's main is the test above; here the model, which needs no Ray.)
    costs = dict(
        population=100,
        pair=2e-4,
        share=3e-3,
        tell=1e-3,
        trip0=4e-3,
        trip1=5e-4,
        theta_bytes=41_612,
        here=9e-3,
        measured_1=0.02,
        measured_2=0.018,
        bytes_out_2=41_706,
        bytes_back_2=704,
    )
    out = study_notebook(STUDY, f"when_it_pays({{'toy': {costs!r}}})")
    # 1 worker: 3 + 0.2 * 50 pairs + 1 + 4 + 0.5 ms, and theta once over 1 Gbit/s (0.33 ms): 18.8 ms, 9 / 18.8
    # 2 workers: 3 + 0.2 * 25 pairs + 1 + 4 + 0.5 * 2 ms, and theta twice (0.67 ms): 14.7 ms, 9 / 14.7
    # 1,000 workers: at most 50 have a pair: 3 + 0.2 + 1 + 4 + 500 + 332.9 ms; on this machine (no network) 18.5, 14.0
    assert (
        "| toy | 9.0 ms | 18.8 ms, x0.48 | 14.7 ms, x0.61 |" in out and "| 841.1 ms, x0.01 |" in out
    )
    assert "| 20.0 ms, x0.45 (model 18.5) | 18.0 ms, x0.50 (model 14.0) | 41,706 / 704 |" in out
