"""Never lose a run: checkpoints, bit-identical resume, Ctrl-C, bad --resume input, non-finite theta."""

import csv
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

import catch_es as ce

SCRIPT = str(ce.Path(ce.__file__))
TINY = ["--population-size", "10", "--no-render", "--log-every", "5"]


def run_main(*argv):
    """Run the script's main in this process; return its exit status."""
    try:
        ce.main(list(argv))
    except SystemExit as exit:
        return exit.code
    return 0


def final_weights(folder):
    return ce.flatten_weights(keras.models.load_model(folder / "policy.keras"))


def history_without_time(folder):
    rows = list(csv.DictReader(open(folder / "history.csv")))
    assert rows and all(float(row.pop("seconds")) > 0 for row in rows)
    return rows


def snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A run stopped by its generation limit of 6, with a checkpoint every 4 generations."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    assert (
        run_main("--out", str(folder), "--generations", "6", "--checkpoint-every", "4", *TINY) == 0
    )
    return folder


def test_a_checkpoint_holds_everything_a_run_depends_on(finished_run):
    config, state, history = ce.load_checkpoint(finished_run)
    assert config.generations == 6 and config.population_size == 10
    assert (
        isinstance(state, ce.State) and state.theta.shape == (10403,) and int(state.generation) == 5
    )
    iterations, learning_rate, momentum, velocity = state.adam
    # 5 Adam steps taken
    assert int(iterations) == 5 and float(learning_rate) == pytest.approx(0.05)
    assert [len(value) for value in (momentum, velocity)] == [10403, 10403]  # Adam's two moments
    assert [row["generation"] for row in history] == [0, 1, 2, 3, 4]
    assert not any(path.name.count(".tmp") for path in finished_run.iterdir())


def test_resuming_with_a_higher_limit_is_bit_identical_to_one_long_run(finished_run, tmp_path):
    resumed = tmp_path / "resumed"
    shutil.copytree(finished_run, resumed)
    assert run_main("--resume", str(resumed), "--generations", "11", "--log-every", "3") == 0
    assert run_main("--out", str(tmp_path / "straight"), "--generations", "11", *TINY) == 0
    np.testing.assert_array_equal(final_weights(resumed), final_weights(tmp_path / "straight"))
    assert history_without_time(resumed) == history_without_time(tmp_path / "straight")
    assert len(history_without_time(resumed)) == 11
    assert ce.json.loads((resumed / "config.json").read_text())["generations"] == 11


def test_resuming_across_restarts_is_bit_identical_to_one_long_run(tmp_path):
    # a tiny network that plateaus often
    restarting = ["--patience", "2", "--hidden-units", "8", *TINY]
    assert run_main("--out", str(tmp_path / "straight"), "--generations", "16", *restarting) == 0
    restarts = [
        int(row["generation"])
        for row in history_without_time(tmp_path / "straight")
        if row["event"]
    ]
    assert restarts and restarts[0] < 13  # it restarts, with room to go on after
    first = str(restarts[0] + 2)  # a run that stops just after its first restart ...
    assert run_main("--out", str(tmp_path / "run"), "--generations", first, *restarting) == 0
    # ... resumed to the end
    assert run_main("--resume", str(tmp_path / "run"), "--generations", "16") == 0
    np.testing.assert_array_equal(
        final_weights(tmp_path / "run"), final_weights(tmp_path / "straight")
    )
    assert history_without_time(tmp_path / "run") == history_without_time(tmp_path / "straight")


def interrupted_run(
    folder, signals=1, at="generation   20", sent=signal.SIGINT, checkpoint_every=1000
):
    """Start the script, and send it `sent` once it has printed the line starting with `at`."""
    process = subprocess.Popen(
        [
            sys.executable,
            SCRIPT,
            "--out",
            str(folder),
            "--generations",
            "100000",
            "--checkpoint-every",
            str(checkpoint_every),
            *TINY,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if line.startswith(at):
            for _ in range(signals):
                process.send_signal(sent)
            break
    out, _ = process.communicate(timeout=120)
    return process.returncode, out


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_that_resumes_bit_identically(tmp_path, sent):
    status, out = interrupted_run(tmp_path / "run", sent=sent)
    assert status == 128 + sent
    assert f"resume with: python catch_es.py --resume {tmp_path / 'run'}" in out
    _, _, history = ce.load_checkpoint(tmp_path / "run")
    stopped = len(history)
    assert stopped >= 21  # it finished generation 20 and at most a few more
    assert {"policy.keras", "history.csv", "config.json", "checkpoint.npz"} <= {
        p.name for p in (tmp_path / "run").iterdir()
    }
    assert len(history_without_time(tmp_path / "run")) == stopped

    limit = str(stopped + 4)
    assert run_main("--resume", str(tmp_path / "run"), "--generations", limit) == 0
    assert run_main("--out", str(tmp_path / "straight"), "--generations", limit, *TINY) == 0
    np.testing.assert_array_equal(
        final_weights(tmp_path / "run"), final_weights(tmp_path / "straight")
    )
    assert history_without_time(tmp_path / "run") == history_without_time(tmp_path / "straight")


def test_after_sigkill_the_last_checkpoint_resumes_bit_identically(tmp_path):
    status, _ = interrupted_run(
        tmp_path / "run", at="generation   15", sent=signal.SIGKILL, checkpoint_every=5
    )
    # no handler ran: what is on disk is what the last checkpoint wrote
    assert status == -signal.SIGKILL
    _, _, history = ce.load_checkpoint(tmp_path / "run")
    # The checkpoint of generation 15, or a later one if the run played on before the kill landed (a busy machine
    # may leave the reader of its output unscheduled for longer than 10 tiny generations take).
    assert len(history) >= 15 and len(history) % 5 == 0
    limit = str(len(history) + 6)
    assert run_main("--resume", str(tmp_path / "run"), "--generations", limit) == 0
    assert run_main("--out", str(tmp_path / "straight"), "--generations", limit, *TINY) == 0
    np.testing.assert_array_equal(
        final_weights(tmp_path / "run"), final_weights(tmp_path / "straight")
    )
    assert history_without_time(tmp_path / "run") == history_without_time(tmp_path / "straight")


def test_a_stop_landing_while_it_is_checked_never_stops_a_run_without_its_checkpoint(tmp_path):
    class Landing:  # a Ctrl-C whose handler runs just after the stop request is first read
        reads = 0

        @property
        def requested(self):
            self.reads += 1
            return self.reads > 1

    config = ce.RunConfig(population_size=4, hidden_units=2, checkpoint_every=1000)
    _, strategy, _ = ce.fast_attempt(config, 0, generation=5)  # no checkpoint due at generation 5
    going = ce.keep_going(tmp_path, config, Landing())(strategy, [{}] * 5)
    # carries on, or stops with its checkpoint
    assert going == (not (tmp_path / "checkpoint.npz").exists())


def test_a_second_ctrl_c_exits_at_once_and_leaves_whole_files(tmp_path):
    status, _ = interrupted_run(tmp_path / "run", signals=2, at="generation    5")
    assert status == 130
    if (tmp_path / "run" / "checkpoint.npz").exists():  # the first checkpoint, at generation 0
        ce.load_checkpoint(tmp_path / "run")


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("the old history")

    def dies_halfway(temporary):
        temporary.write_text("half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ce.write_atomically(path, dies_halfway)
    assert path.read_text() == "the old history"


def refused_resume(capsys, folder, *options):
    """--resume must fail with one line, exit status 2, and leave the folder as it was."""
    before = snapshot(folder) if folder.is_dir() else None
    assert run_main("--resume", str(folder), *options) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("catch_es.py: error:")
    if before is not None:
        assert snapshot(folder) == before
    return lines[0]


def damaged_copy(finished_run, tmp_path, damage):
    folder = tmp_path / "damaged"
    shutil.copytree(finished_run, folder)
    path = folder / "checkpoint.npz"
    data = bytearray(path.read_bytes())
    path.write_bytes(damage(data))
    return folder


def test_resume_refuses_a_missing_folder_or_checkpoint(tmp_path, capsys):
    assert "no such folder" in refused_resume(capsys, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert "no checkpoint.npz" in refused_resume(capsys, tmp_path / "empty")


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated, as by a full disk
        lambda data: (
            data[:40000] + bytes(255 - b for b in data[40000:40100]) + data[40100:]
        ),  # bits flipped in the weights
        lambda data: b"",
    ],
)
def test_resume_refuses_a_damaged_checkpoint(finished_run, tmp_path, capsys, damage):
    assert "checkpoint.npz is damaged" in refused_resume(
        capsys, damaged_copy(finished_run, tmp_path, damage)
    )


def test_resume_refuses_a_checkpoint_of_another_network_shape(finished_run, tmp_path, capsys):
    folder = tmp_path / "other"
    shutil.copytree(finished_run, folder)
    with np.load(folder / "checkpoint.npz") as saved:
        arrays = dict(saved)
    arrays["theta"] = arrays["theta"][:5000]  # theta of a smaller network
    np.savez(folder / "checkpoint.npz", **arrays)
    assert (
        "holds 5000 weights, and the network build_policy makes with 100 hidden units has 10403"
        in (refused_resume(capsys, folder))
    )


def test_resume_keeps_the_run_settings(finished_run, capsys):
    assert "--hidden-units 50 differs from the run's 100" in refused_resume(
        capsys, finished_run, "--hidden-units", "50"
    )
    assert "--sigma 0.2 differs" in refused_resume(capsys, finished_run, "--sigma", "0.2")
    assert "more than the 5 the run has played" in refused_resume(
        capsys, finished_run, "--generations", "5"
    )
    assert "--checkpoint-every" in refused_resume(capsys, finished_run, "--checkpoint-every", "0")
    assert "not allowed with argument" in refused_resume(capsys, finished_run, "--play", "x.keras")


def test_a_run_whose_theta_stops_being_finite_stops_with_a_clear_message(tmp_path, capsys):
    assert run_main("--out", str(tmp_path / "run"), "--learning-rate", "1e39", *TINY) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"catch_es.py: stopped: theta is no longer finite after generation 0; try a smaller "
        f"--learning-rate; the checkpoint of generation 0 is whole: python catch_es.py --resume "
        f"{tmp_path / 'run'}"
    ]
    # the one from before the step that overflowed
    _, state, _ = ce.load_checkpoint(tmp_path / "run")
    assert np.all(np.isfinite(state.theta))
