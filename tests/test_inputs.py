"""Every bad input is refused before any work: one line naming the option, exit status 2, nothing written."""

import subprocess
import sys

import pytest

import catch_es as ce

SCRIPT = str(ce.Path(ce.__file__))


def refused(capsys, argv, folder):
    """Run main on bad input from `folder`: it must exit 2 with one line and write nothing there."""
    before = sorted(path.relative_to(folder) for path in folder.rglob("*"))
    with pytest.raises(SystemExit) as exit:
        ce.main(argv)
    assert exit.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("catch_es.py: error:")
    # nothing written
    assert sorted(path.relative_to(folder) for path in folder.rglob("*")) == before
    return lines[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sigma", "inf"], "--sigma must be a finite number > 0, got inf"),
        (["--learning-rate", "1e400"], "--learning-rate must be a finite number > 0, got inf"),
        (["--weight-decay", "nan"], "--weight-decay must be a finite number >= 0, got nan"),
        (
            ["--seed", "4294967296"],
            "--seed must be an integer from 0 to 2147483647, got 4294967296",
        ),
        (
            ["--seed", "2147483648"],
            "--seed must be an integer from 0 to 2147483647",
        ),  # the study's int32 seeds
        (["--population-size", "7"], "--population-size must be an even integer >= 2, got 7"),
        (["--population-size", "1.5"], "argument --population-size: invalid int value: '1.5'"),
        (["--max-population-size", "9"], "--max-population-size must be an even integer >= 2"),
        (["--patience", "0"], "--patience must be an integer >= 1"),
    ],
)
def test_values_outside_what_every_library_accepts_are_refused(
    tmp_path, monkeypatch, capsys, args, message
):
    monkeypatch.chdir(tmp_path)
    assert message in refused(capsys, args, tmp_path)


@pytest.mark.parametrize(
    "values",
    [
        dict(population_size=10.0),
        dict(seed=True),
        dict(sigma="0.1"),
        dict(generations=2.5),
        dict(learning_rate=float("inf")),
    ],
)
def test_settings_of_the_wrong_type_are_refused_in_python_too(values):
    with pytest.raises(ValueError, match="--" + next(iter(values)).replace("_", "-")):
        ce.check(ce.Config(**values))


def test_the_largest_valid_seed_trains():
    result = ce.run_training(
        ce.Config(seed=2**31 - 1, generations=2, population_size=4, hidden_units=4),
        progress=lambda history, done: None,
    )
    assert len(result.history) == 2


@pytest.mark.parametrize(
    "args", [["--hidden-units", "10000000"], ["--population-size", "100000000"]]
)
def test_a_run_too_big_for_this_machines_memory_is_refused_before_it_starts(
    tmp_path, monkeypatch, capsys, args
):
    monkeypatch.chdir(tmp_path)
    line = refused(capsys, args, tmp_path)
    assert "GB of memory; this machine has" in line and "GB available" in line


def test_the_memory_estimate_grows_with_the_first_population_and_width_not_with_restarts():
    # the default run's peak was under 0.9 GB here, its restarts included
    ce.check_memory(ce.Config(), available=1e9)
    # restarts play batch by batch
    ce.check_memory(ce.Config(max_population_size=100_000), available=1e9)
    with pytest.raises(ValueError, match="GB of memory"):
        ce.check_memory(ce.Config(), available=0.5e9)
    with pytest.raises(
        ValueError, match="--population-size 8000 and --hidden-units 100 .10,403 weights"
    ):
        ce.check_memory(ce.Config(population_size=8000, max_population_size=8000), available=2e9)


def test_a_huge_run_is_one_line_from_a_fresh_process(tmp_path):
    run = subprocess.run(
        [sys.executable, SCRIPT, "--hidden-units", "100000000"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1 and "GB of memory" in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_paths_of_the_wrong_kind_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "a_folder").mkdir()
    assert "--out a_file: cannot make it a run folder: File exists (a_file)" in refused(
        capsys, ["--out", "a_file"], tmp_path
    )
    assert "--out a_file/run: cannot make it a run folder: Not a directory" in refused(
        capsys, ["--out", "a_file/run"], tmp_path
    )
    assert "--resume a_file: is a file, not a run folder" in refused(
        capsys, ["--resume", "a_file"], tmp_path
    )
    assert "--play a_folder: is a folder, not a saved network" in refused(
        capsys, ["--play", "a_folder"], tmp_path
    )
    (tmp_path / "runs").write_text("the default parent of run folders, but a file")
    line = refused(capsys, [], tmp_path)
    assert (
        line.startswith("catch_es.py: error: --out runs/seed0-")
        and ": Not a directory (runs/seed0-" in line
    )


def test_a_folder_that_cannot_be_written_into_is_refused(tmp_path, monkeypatch, capsys):
    # Root may write anywhere, so the refusal is shown with mkdir answering as it would for another user.
    monkeypatch.chdir(tmp_path)

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(ce.Path, "mkdir", denied)
    assert (
        "--out locked/run: cannot make it a run folder: Permission denied (locked/run)"
        in refused(capsys, ["--out", "locked/run"], tmp_path)
    )
