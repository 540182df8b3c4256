"""Going faster, held to Part I: the fast path plays exactly the plain path's moves, the command takes
the fast path where it applies and Part I's plain path where it does not, and a learner's own network
or grid trains, checkpoints, resumes and plays."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import catch_es as ce

SCRIPT = str(Path(ce.__file__))


def plain_moves(model, flat):
    """Part I's plain way: the whole network, with these weights, on every board the game can show."""
    policy = ce.population_policy(model, ce.ops.convert_to_tensor(flat[None]))
    state = ce.every_board()
    batched = ce.CatchState(*(np.asarray(part)[None] for part in state))
    return np.asarray(policy(batched))[0]


def fast_moves(model, flat):
    return np.asarray(ce.tf.function(ce.moves_of(model), jit_compile=True)(flat))


def random_candidates(model, count, scale, seed):
    flat = ce.flatten_weights(model)
    noise = np.random.default_rng(seed).normal(0, scale, (count, flat.size))
    return (flat + noise).astype("float32")


@pytest.mark.parametrize("hidden_units", [100, 0, 7])
def test_the_table_and_the_summed_rows_play_the_plain_paths_move_on_every_board(hidden_units):
    keras.utils.set_random_seed(hidden_units)
    model = ce.build_policy(hidden_units)
    assert ce.fast_path_applies(model)
    for flat in random_candidates(model, 5, 0.3, hidden_units):
        np.testing.assert_array_equal(fast_moves(model, flat), plain_moves(model, flat))


def test_the_fast_generation_plays_the_plain_generations_games_for_random_candidates():
    keras.utils.set_random_seed(3)
    model = ce.build_policy()
    population = random_candidates(model, 12, 0.2, 3)
    plain = np.asarray(
        ce.tf.function(ce.play_population, jit_compile=True, autograph=False)(model, population)
    )
    fast_games = ce.tf.function(ce.population_games(model), jit_compile=True, autograph=False)
    fast = np.asarray(fast_games(population, *ce.starts_for(len(population))))
    np.testing.assert_array_equal(fast, plain)


@pytest.fixture(scope="module")
def trained():
    return ce.run_training(ce.Config(seed=0), progress=lambda history, done: None)


def test_a_trained_network_plays_the_same_moves_and_catches_the_same_on_both_paths(trained):
    assert trained.status == "solved"
    flat = ce.flatten_weights(trained.model)
    np.testing.assert_array_equal(fast_moves(trained.model, flat), plain_moves(trained.model, flat))
    rewards = np.asarray(ce.play_population(trained.model, flat[None]))[0]
    assert ce.count_catches(rewards) == ce.START_COUNT


def test_one_batch_of_the_fast_strategy_is_part_ones_strategy_to_the_bit():
    config = ce.Config(seed=4, hidden_units=16, population_size=20)
    _, plain, plain_generation = ce.new_attempt(config, 0)
    _, fast, fast_generation = ce.fast_attempt(config, 0)
    np.testing.assert_array_equal(plain.theta, fast.theta)  # the same fresh weights
    for _ in range(3):
        (plain_catches, plain_rewards, _), (fast_catches, fast_rewards, _) = (
            plain_generation(plain),
            fast_generation(fast),
        )
        assert plain_catches == fast_catches
        np.testing.assert_array_equal(plain_rewards, fast_rewards)
        np.testing.assert_allclose(
            plain.theta, fast.theta, atol=1e-6
        )  # (compiled apart: rounding may differ)


def conv_policy(hidden_units=100):
    inputs = keras.Input((ce.GRID_SIZE**2,))
    grid = keras.layers.Reshape((ce.GRID_SIZE, ce.GRID_SIZE, 1))(inputs)
    features = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(grid))
    return keras.Model(inputs, keras.layers.Dense(3)(features))


def test_the_command_takes_the_fast_path_for_the_lessons_network_and_part_ones_otherwise(
    monkeypatch,
):
    assert ce.attempt_for(ce.Config()) is ce.fast_attempt
    assert (
        ce.attempt_for(ce.Config(hidden_units=0)) is ce.fast_attempt
    )  # a lone Dense: rows summed too
    monkeypatch.setattr(
        ce, "build_policy", conv_policy
    )  # a learner's network that does not start with a Dense
    assert ce.attempt_for(ce.Config()) is ce.new_attempt
    monkeypatch.undo()
    observe = ce.observe  # a learner's changed game: the fruit drawn as 2, not 1
    monkeypatch.setattr(
        ce,
        "observe",
        lambda state: (
            observe(state)
            * ce.ops.where(
                ce.ops.arange(ce.GRID_SIZE**2) < (ce.GRID_SIZE - 1) * ce.GRID_SIZE, 2.0, 1.0
            )
        ),
    )
    assert (
        ce.attempt_for(ce.Config()) is ce.new_attempt
    )  # the summed rows would no longer be the board's product


def test_a_network_part_two_cannot_speed_up_trains_on_part_ones_plain_path(monkeypatch):
    monkeypatch.setattr(ce, "build_policy", conv_policy)
    config = ce.Config(seed=1, population_size=10, generations=6, patience=2)
    result = ce.run_training(config, progress=lambda history, done: None)
    assert len(result.history) == 6 and result.model.layers[1].__class__.__name__ == "Reshape"
    np.testing.assert_array_equal(
        ce.flatten_weights(result.model),
        ce.run_training(
            config, progress=lambda history, done: None, attempt=ce.new_attempt
        ).state.theta,
    )


# A learner's changes, made to a copy of the file as a learner would make them, run as the command.
CHANGES = {
    "second hidden layer": (
        '    hidden = [keras.layers.Dense(hidden_units, activation="relu")] if hidden_units else []\n',
        '    hidden = [keras.layers.Dense(hidden_units, activation="relu"), keras.layers.Dense(32, activation="relu")]\n',
    ),
    "a convolution": (
        '    hidden = [keras.layers.Dense(hidden_units, activation="relu")] if hidden_units else []\n',
        "    hidden = [keras.layers.Reshape((GRID_SIZE, GRID_SIZE, 1)), keras.layers.Conv2D(4, 3, activation='relu'),"
        " keras.layers.Flatten()]\n",
    ),
    "a 12-wide grid": ("GRID_SIZE = 10\n", "GRID_SIZE = 12\n"),
}


def changed_copy(tmp_path, change):
    old, new = CHANGES[change]
    source = Path(SCRIPT).read_text()
    assert source.count(old) == 1, (
        f"the line a learner changes for {change} is not in catch_es.py as expected"
    )
    copy = tmp_path / "catch_es.py"
    copy.write_text(source.replace(old, new))
    return copy


def command(copy, *args):
    return subprocess.run([sys.executable, str(copy), *args], capture_output=True, text=True, cwd=copy.parent,
                          timeout=600)  # fmt: skip


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_learners_own_network_or_grid_trains_checkpoints_resumes_and_plays(tmp_path, change):
    copy = changed_copy(tmp_path, change)
    tiny = ["--population-size", "10", "--no-render", "--patience", "3"]
    half = command(copy, "--out", "run", "--generations", "4", *tiny)
    assert half.returncode == 0 and half.stderr == "", half.stderr
    resumed = command(copy, "--resume", "run", "--generations", "8")
    assert resumed.returncode == 0 and resumed.stderr == "", resumed.stderr
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert len(rows) == 8 and any(row["event"] for row in rows)  # a restart on the way (patience 3)
    if (
        change == "second hidden layer"
    ):  # resumed: bit-identical to one run (the other two: the same code)
        assert command(copy, "--out", "straight", "--generations", "8", *tiny).returncode == 0
        with (
            np.load(tmp_path / "run" / "checkpoint.npz") as a,
            np.load(tmp_path / "straight" / "checkpoint.npz") as b,
        ):
            np.testing.assert_array_equal(a["theta"], b["theta"])
    played = command(copy, "--play", "run/policy.keras", "--no-render")
    assert played.returncode == 0 and played.stderr == ""
    starts = int(re.search(r"catches \d+/(\d+) fruits", played.stdout).group(1))
    assert starts == (
        12 * 10 if change == "a 12-wide grid" else 80
    )  # the learner's own game's start states


MEMORY_PROBE = """
import hashlib, resource, sys
sys.path.insert(0, {root!r})
import catch_es as ce
config = ce.Config(seed=2, generations=12)
model, strategy, play_generation = ce.fast_attempt(config, 0)
faults = []
for _ in range(config.generations):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    play_generation(strategy)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sorted(faults[2:])[len(faults[2:]) // 2], hashlib.sha256(strategy.theta.numpy().tobytes()).hexdigest())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="page faults as Linux counts them")
def test_the_memory_a_generation_needs_is_kept_for_the_next_and_changes_no_weight():
    """Part II's allocator: with malloc's (TensorFlow's default) a generation's scratch is handed back to the system
    and faulted in again every call, thousands of pages; with BFC, the command's, it is kept. Same weights."""
    code = MEMORY_PROBE.format(root=str(Path(SCRIPT).parent))
    found = {}
    for choice in ("true", "false"):
        env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": choice}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        faults, digest = done.stdout.split()
        found[choice] = int(faults), digest
    assert found["true"][0] < 500 < 4000 < found["false"][0], found
    assert found["true"][1] == found["false"][1]  # the same theta after 12 generations
    # and the command's own choice is BFC, unless a user chose: catch_es set it when imported
    assert ce.os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "true"
