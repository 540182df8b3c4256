"""The compiled player, training and reproducibility."""

import csv

import keras
import numpy as np
import pytest

import catch_es as ce
from scale_out import make_player


def eager_rewards(model, flat):
    """Play the 80 games one step at a time with the model's own weights: no compiled code."""
    ce.set_flat_weights(model, flat)
    return np.asarray(ce.play_games(ce.greedy(model), *ce.start_states()))


def test_weights_round_trip_through_one_vector():
    model = ce.build_policy(7)
    flat = ce.flatten_weights(model)
    assert flat.shape == (100 * 7 + 7 + 7 * 3 + 3,)
    ce.set_flat_weights(model, flat[::-1].copy())
    np.testing.assert_array_equal(ce.flatten_weights(model), flat[::-1])


def test_compiled_population_player_agrees_with_step_by_step_play():
    keras.utils.set_random_seed(0)
    model = ce.build_policy(16)
    population = ce.flatten_weights(model) + np.random.default_rng(0).normal(
        0, 0.5, (4, 100 * 16 + 16 + 16 * 3 + 3)
    )
    rewards = make_player(model)(population.astype("float32"))
    assert rewards.shape == (4, 80)
    for candidate, flat in enumerate(population.astype("float32")):
        np.testing.assert_array_equal(rewards[candidate], eager_rewards(model, flat))


def test_any_small_keras_model_can_be_evolved():
    model = keras.Sequential(
        [
            keras.Input((100,)),
            keras.layers.Dense(8, activation="tanh"),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3),
        ]
    )
    rewards = make_player(model)(np.stack([ce.flatten_weights(model)] * 2))
    np.testing.assert_array_equal(rewards[0], eager_rewards(model, ce.flatten_weights(model)))


def functional_policy():
    inputs = keras.Input((100,))
    hidden = keras.layers.Dense(12, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3)(hidden))


@pytest.mark.parametrize(
    "build, fast",
    [
        (
            lambda: keras.Sequential(
                [
                    keras.Input((100,)),
                    keras.layers.Dense(8, use_bias=False, activation="tanh"),
                    keras.layers.Dense(3),
                ]
            ),
            True,
        ),  # the kernel's rows summed, with no bias
        (
            lambda: keras.Sequential([keras.Input((100,)), keras.layers.Dense(3)]),
            True,
        ),  # linear: a lone Dense
        (
            lambda: keras.Sequential(
                [
                    keras.Input((100,)),
                    keras.layers.Dense(8, activation="relu"),
                    keras.layers.BatchNormalization(),
                    keras.layers.Dense(3),
                ]
            ),
            True,
        ),  # non-trainables
        (
            functional_policy,
            False,
        ),  # not a Sequential: Part I's plain way, the whole model on each step's boards
    ],
)
def test_both_paths_of_the_player_agree_with_step_by_step_play(build, fast):
    keras.utils.set_random_seed(1)
    model = build()
    assert ce.fast_path_applies(model) == fast
    flat = ce.flatten_weights(model)
    population = (flat + np.random.default_rng(1).normal(0, 0.5, (3, flat.size))).astype("float32")
    rewards = make_player(model)(population)
    for candidate, weights in enumerate(population):
        np.testing.assert_array_equal(rewards[candidate], eager_rewards(model, weights))


observe = ce.observe


def quiet(history, done):
    pass


@pytest.fixture(scope="module")
def solved_run():
    return ce.run_training(ce.Config(seed=0), progress=quiet)


def test_training_solves_catch(solved_run):
    assert solved_run.status == "solved"
    assert solved_run.history[-1]["catch_rate"] == 1.0
    # Checked again without the compiled player: the trained model catches all 80 fruits.
    assert ce.count_catches(ce.play_games(ce.greedy(solved_run.model), *ce.start_states())) == 80
    assert [row["generation"] for row in solved_run.history] == list(range(len(solved_run.history)))
    assert solved_run.history[0]["catch_rate"] < 1.0


def test_same_seed_same_weights_other_seed_other_weights():
    def final_weights(seed):
        result = ce.run_training(
            ce.Config(seed=seed, generations=5, population_size=20), progress=quiet
        )
        return ce.flatten_weights(result.model)

    first = final_weights(3)
    np.testing.assert_array_equal(first, final_weights(3))
    assert not np.array_equal(first, final_weights(4))


def test_a_sigma_too_small_to_change_any_action_is_reported_stuck(tmp_path, capsys):
    ce.main(["--sigma", "1e-8", "--out", str(tmp_path / "run"), "--no-render"])
    out = capsys.readouterr().out
    assert (
        "stuck: for 10 generations every candidate scored the same, so every estimate was exactly zero"
        in out
    )
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert len(rows) == ce.STUCK_AFTER  # it stopped instead of running 1,000 generations of nothing
    assert all(row["min_reward"] == row["max_reward"] for row in rows)
