"""When the machine fails under a run: a full disk, a folder gone, no permission, a read-only disk, two runs in one
folder. One line, exit status 74 (or 2 for a folder another run holds), nothing half-written, the last checkpoint whole
and resumable bit for bit."""

import errno
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import catch_es as ce
from test_checkpoints import final_weights, run_main

SCRIPT = str(ce.Path(ce.__file__))
TINY = ["--population-size", "10", "--no-render", "--log-every", "5", "--seed", "4"]
WRITES = [
    "config.json",
    "checkpoint.npz",
    "history.csv",
    "policy.keras",
    "learning_curve.png",
    "es_on_a_hill.png",
]
FAULTS = [
    (errno.ENOSPC, "No space left on device"),
    (errno.ENOENT, "No such file or directory"),
    (errno.EACCES, "Permission denied"),
    (errno.EROFS, "Read-only file system"),
]
# Every file a run writes, on a full disk; every fault, on the checkpoint and on the network. (The path through
# the code is the same for every errno: each file with every fault would be 28 runs for the same assertions.)
CASES = [(name, *FAULTS[0]) for name in WRITES] + [
    (name, *fault) for name in ("checkpoint.npz", "policy.keras") for fault in FAULTS[1:]
]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The run that never failed: 9 generations, a checkpoint every 4."""
    folder = tmp_path_factory.mktemp("straight") / "run"
    assert (
        run_main("--out", str(folder), "--generations", "9", "--checkpoint-every", "4", *TINY) == 0
    )
    return folder


def failing_write(name, number, fault, after=0):
    """write_atomically, except that the write of `name` fails with `fault` (its `after`-th write on), half done."""
    original, count = ce.write_atomically, [0]

    def write_atomically(path, write):
        if path.name == name:
            count[0] += 1
            if count[0] > after:

                def half_then_fail(temporary):
                    temporary.write_bytes(b"half of a file")
                    raise OSError(number, fault)

                return original(path, half_then_fail)
        return original(path, write)

    return write_atomically


@pytest.mark.parametrize("name, number, fault", CASES)
def test_a_failed_write_is_one_line_exit_74_no_leftover_and_the_last_checkpoint_resumes(
    straight, tmp_path, monkeypatch, capsys, name, number, fault
):
    folder = tmp_path / "run"
    # the second checkpoint fails: the first one must stay whole
    after = 1 if name == "checkpoint.npz" else 0
    monkeypatch.setattr(ce, "write_atomically", failing_write(name, number, fault, after))
    assert (
        run_main("--out", str(folder), "--generations", "9", "--checkpoint-every", "4", *TINY) == 74
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"catch_es.py: stopped: cannot write {folder / name}: {fault}; "
    )
    # nothing half-written is left
    assert not [path.name for path in folder.iterdir() if ".tmp" in path.name]
    monkeypatch.undo()
    if name == "config.json":  # the first write of all: nothing to resume from
        assert lines[0].endswith("no checkpoint is kept")
        return
    _, _, history = ce.load_checkpoint(folder)  # whole, and the one the message names
    assert lines[0].endswith(
        f"the checkpoint of generation {len(history)} is whole: "
        f"python catch_es.py --resume {folder}"
    )
    assert run_main("--resume", str(folder)) == 0
    np.testing.assert_array_equal(final_weights(folder), final_weights(straight))


@pytest.fixture
def small_disk(tmp_path):
    """A real filesystem of 200 KB, where this machine lets us mount one; unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_for_real_keeps_the_last_checkpoint_whole_and_resumable(
    straight, small_disk, tmp_path
):
    folder = small_disk / "run"
    run = subprocess.run(
        [
            sys.executable,
            SCRIPT,
            "--out",
            str(folder),
            "--generations",
            "9",
            "--checkpoint-every",
            "4",
            *TINY,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 74
    lines = run.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and ": No space left on device; the checkpoint of generation " in lines[0]
    )
    assert not [path.name for path in folder.iterdir() if ".tmp" in path.name]
    shutil.copytree(folder, tmp_path / "room")  # the space back: the same folder on a bigger disk
    assert run_main("--resume", str(tmp_path / "room")) == 0
    np.testing.assert_array_equal(final_weights(tmp_path / "room"), final_weights(straight))


def started(folder, *options):
    """The script training into `folder`, once it has played its first generation."""
    process = subprocess.Popen(
        [
            sys.executable,
            SCRIPT,
            "--out",
            str(folder),
            "--log-every",
            "1",
            "--population-size",
            "10",
            "--no-render",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().startswith("generation    0")
    return process


def test_a_disk_made_read_only_under_a_run_stops_it_in_one_line(small_disk):
    process = started(
        small_disk / "run",
        "--generations",
        "100000",
        "--checkpoint-every",
        "1",
        "--hidden-units",
        "4",
    )
    for _ in range(50):  # refused while a checkpoint is being written: try again a moment later
        if (
            subprocess.run(
                ["mount", "-o", "remount,ro", str(small_disk)], capture_output=True
            ).returncode
            == 0
        ):
            break
        time.sleep(0.05)
    _, err = process.communicate(timeout=120)
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert process.returncode == 74
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Read-only file system; the checkpoint of generation " in lines[0]
    ce.load_checkpoint(small_disk / "run")  # whole


def test_a_folder_removed_under_a_run_stops_it_in_one_line(tmp_path):
    process = started(
        tmp_path / "run",
        "--generations",
        "100000",
        "--checkpoint-every",
        "1",
        "--hidden-units",
        "4",
    )
    # the run writes a checkpoint every generation: one may land between listing and removing
    for _ in range(100):
        try:
            shutil.rmtree(tmp_path / "run")
            break
        except OSError:
            pass
    assert not (tmp_path / "run").exists()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 74
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "No such file or directory; no checkpoint is kept" in lines[0]


def test_a_folder_another_run_holds_is_refused_and_a_killed_runs_folder_is_not(tmp_path, capsys):
    process = started(tmp_path / "run", "--generations", "100000", "--checkpoint-every", "1")
    for argv in (["--out", str(tmp_path / "run")], ["--resume", str(tmp_path / "run")]):
        assert run_main(*argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1
    assert lines[0].startswith(
        f"catch_es.py: error: --resume {tmp_path / 'run'}: process {process.pid} runs in it"
    )
    assert process.poll() is None  # the first run goes on unharmed
    # no handler runs: the lock file stays, but the lock dies with the process
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert (tmp_path / "run" / "run.lock").read_text().strip() == str(process.pid)
    _, _, history = ce.load_checkpoint(tmp_path / "run")
    assert run_main("--resume", str(tmp_path / "run"), "--generations", str(len(history) + 2)) == 0


def test_one_claim_at_a_time_even_in_one_process(tmp_path):
    held = ce.claim("--out", tmp_path / "run")
    with pytest.raises(ValueError, match=f"process {os.getpid()} runs in it"):
        ce.claim("--resume", tmp_path / "run")
    held.close()  # as at the end of a run
    ce.claim("--resume", tmp_path / "run").close()


def test_two_runs_started_together_on_one_folder_never_both_run(tmp_path):
    # (twenty, in the closing note of the change that made this; one here, for time)
    for attempt in range(1):
        folder = tmp_path / f"run{attempt}"
        command = [sys.executable, SCRIPT, "--out", str(folder), "--generations", "3", *TINY]
        runs = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in "ab"
        ]
        results = [run.communicate(timeout=300) + (run.returncode,) for run in runs]
        assert sorted(code for _, _, code in results) == [0, 2]
        ((_, loser_err, _),) = [result for result in results if result[2] == 2]
        assert len(loser_err.strip().splitlines()) == 1
        assert "already holds files" in loser_err or "runs in it" in loser_err
        winner = np.array(final_weights(folder))
        assert (
            run_main("--out", str(tmp_path / f"alone{attempt}"), "--generations", "3", *TINY) == 0
        )
        np.testing.assert_array_equal(winner, final_weights(tmp_path / f"alone{attempt}"))
        time.sleep(0.1)
