"""The compiled player, training, reproducibility and the script as a user runs it."""
import subprocess
import sys

import keras
import numpy as np
import pytest

import catch_es as ce

SCRIPT = str(ce.Path(ce.__file__))


def eager_rewards(model, flat):
    """Play the 80 games one step at a time with the model's own weights: no compiled code."""
    ce.set_flat_weights(model, flat)
    return np.asarray(ce.play(ce.greedy(model), *ce.start_states()))


def test_weights_round_trip_through_one_vector():
    model = ce.build_policy(7)
    flat = ce.flatten_weights(model)
    assert flat.shape == (100 * 7 + 7 + 7 * 3 + 3,)
    ce.set_flat_weights(model, flat[::-1].copy())
    np.testing.assert_array_equal(ce.flatten_weights(model), flat[::-1])


def test_compiled_population_player_agrees_with_step_by_step_play():
    keras.utils.set_random_seed(0)
    model = ce.build_policy(16)
    population = ce.flatten_weights(model) + np.random.default_rng(0).normal(0, 0.5, (4, 100 * 16 + 16 + 16 * 3 + 3))
    rewards = ce.make_population_player(model)(population)
    assert rewards.shape == (4, 80)
    for candidate, flat in enumerate(population.astype("float32")):
        np.testing.assert_array_equal(rewards[candidate], eager_rewards(model, flat))


def test_any_small_keras_model_can_be_evolved():
    model = keras.Sequential([keras.Input((100,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    rewards = ce.make_population_player(model)(np.stack([ce.flatten_weights(model)] * 2))
    np.testing.assert_array_equal(rewards[0], eager_rewards(model, ce.flatten_weights(model)))


@pytest.fixture(scope="module")
def solved_run():
    return ce.train(ce.Config(seed=0, render=False), log=lambda line: None)


def test_training_solves_catch(solved_run):
    assert solved_run.solved
    assert solved_run.history[-1]["catch_rate"] == 1.0
    # Checked again without the compiled player: the trained model catches all 80 fruits.
    assert ce.count_catches(ce.play(ce.greedy(solved_run.model), *ce.start_states())) == 80
    assert [row["generation"] for row in solved_run.history] == list(range(len(solved_run.history)))
    assert solved_run.history[0]["catch_rate"] < 1.0


def test_same_seed_same_weights_other_seed_other_weights():
    def final_weights(seed):
        result = ce.train(ce.Config(seed=seed, generations=5, population_size=20, render=False), log=lambda line: None)
        return ce.flatten_weights(result.model)

    first = final_weights(3)
    np.testing.assert_array_equal(first, final_weights(3))
    assert not np.array_equal(first, final_weights(4))


def run_script(*args, cwd):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_script_runs_with_tiny_settings_and_saves_a_loadable_model(tmp_path):
    output = tmp_path / "tiny.keras"
    run = run_script("--generations", "3", "--population-size", "10", "--log-every", "1",
                     "--output", str(output), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    progress = [line for line in run.stdout.splitlines() if line.startswith("generation")]
    assert len(progress) == 3
    assert "catches" in progress[0] and "games/s" in progress[0]
    assert f"saved the trained network to {output}" in run.stdout
    assert "caught!" in run.stdout or "missed." in run.stdout  # the game it played at the end
    model = keras.models.load_model(output)
    assert model.input_shape == (None, 100) and model.output_shape == (None, 3)


def test_help_explains_every_setting(tmp_path):
    run = run_script("--help", cwd=tmp_path)
    assert run.returncode == 0
    for field in ce.dataclasses.fields(ce.Config):
        assert "--" + field.name.replace("_", "-") in run.stdout


@pytest.mark.parametrize(
    "args, option",
    [(["--sigma", "-1"], "--sigma"), (["--population-size", "7"], "--population-size"),
     (["--generations", "0"], "--generations"), (["--hidden-units", "0"], "--hidden-units"),
     (["--output", "model.h5"], "--output"), (["--sigma", "abc"], "--sigma"), (["--bogus"], "--bogus")],
)
def test_bad_values_are_refused_in_one_line(tmp_path, args, option):
    run = run_script(*args, cwd=tmp_path)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and "error" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written
