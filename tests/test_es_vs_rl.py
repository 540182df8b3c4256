"""The ES-vs-RL study: the rules of the knobs, the target, REINFORCE (plain and fast), the race, the measurement of
the claims and its statistics, the committed results, and the study as a script and a notebook."""

import dataclasses
import functools
import itertools
import re
import csv
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import catch_es as ce
from scale_out import make_player
import es_vs_rl as rl
import study_stats as st

STUDY = str(ce.Path(rl.__file__))

VARIANTS = [
    (1, 1, True),
    (2, 1, True),
    (3, 1, True),
    (8, 1, True),
    (1, 2, True),
    (1, 3, True),
    (2, 3, True),
    (3, 2, True),
    (1, 9, True),
    (4, 5, True),
    (3, 1, False),
    (2, 3, False),
]


def rules(choose, column, centre, fall_every, action_repeat, slack=True):
    """The issue's rules for one game, in plain Python: (reward, [(fruit row, basket centre) after each step])."""
    row, action, seen = 0, None, [(0, centre)]
    for t in range(9 * fall_every):
        if t % action_repeat == 0:
            action = choose(row, column, centre)
        # without slack the basket moves only when the fruit falls
        if slack or (t + 1) % fall_every == 0:
            centre = min(max(centre + action - 1, 1), 8)
        if (t + 1) % fall_every == 0:
            row += 1
        seen.append((row, centre))
    assert row == 9  # after the last step the fruit is on the bottom row
    return (1.0 if abs(column - centre) <= 1 else -1.0), seen


def board(row, column, centre):
    cells = np.zeros(100, "float32")
    cells[[row * 10 + column, 90 + centre - 1, 90 + centre, 90 + centre + 1]] = 1
    return cells


def random_model(seed):
    keras.utils.set_random_seed(seed)
    return ce.build_policy(16)


def chooser(model):
    """The greedy policy of `model`, one board at a time, for `rules`; each board asked once, the same call (a game
    of M = 8 meets a board up to 8 times, and the 80 games 800 boards at most: the 12 variants took 21 s, now 6)."""
    return functools.cache(
        lambda row, column, centre: int(np.argmax(model(board(row, column, centre)[None])[0]))
    )


@pytest.mark.parametrize("fall_every, action_repeat, slack", VARIANTS)
def test_the_knobs_follow_the_rules_for_every_start_state(fall_every, action_repeat, slack):
    model = random_model(fall_every * 10 + action_repeat)
    columns, centres = ce.start_states()
    choose = chooser(model)  # one for all 80 games: the boards they share are asked once
    expected = [
        rules(choose, c, b, fall_every, action_repeat, slack) for c, b in zip(columns, centres)
    ]
    rewards = rl.play_variant(
        ce.greedy(model),
        columns,
        centres,
        fall_every=fall_every,
        action_repeat=action_repeat,
        slack=slack,
    )
    np.testing.assert_array_equal(np.asarray(rewards), [reward for reward, _ in expected])
    # Step by step, the fruit's row and the basket's centre after each step follow the rules too.
    state, policy, actions = ce.reset(columns[:12], centres[:12]), ce.greedy(model), None
    seen = [[(0, int(centre))] for centre in centres[:12]]
    for t in range(9 * fall_every):
        actions = policy(state) if t % action_repeat == 0 else actions
        state, _ = rl.step_variant(state, actions, t, fall_every, slack)
        for game, rows in enumerate(seen):
            rows.append(
                (int(np.asarray(state.fruit_row)[game]), int(np.asarray(state.basket_centre)[game]))
            )
    assert seen == [game_seen for _, game_seen in expected[:12]]


def test_the_fruit_falls_on_every_m_th_step_and_scores_only_at_the_end():
    state, rows, rewards = ce.reset(np.array([5], "int32"), np.array([5], "int32")), [], []
    for t in range(9 * 3):
        state, reward = rl.step_variant(state, np.array([ce.STAY], "int32"), t, 3)
        rows.append(int(np.asarray(state.fruit_row)[0]))
        rewards.append(float(np.asarray(reward)[0]))
    assert rows == [0, 0, 1, 1, 1, 2, 2, 2, 3] + [
        3,
        3,
        4,
        4,
        4,
        5,
        5,
        5,
        6,
        6,
        6,
        7,
        7,
        7,
        8,
        8,
        8,
        9,
    ]
    # not when the fruit sits on row 8 for three steps, only at the end
    assert rewards == [0.0] * 26 + [1.0]


def test_an_action_is_held_for_k_steps():
    # RIGHT while the basket covers column 1, LEFT otherwise: chosen at t = 0, 3 and 6, each held for 3 steps.
    def policy(state):
        return np.where(np.asarray(ce.observe(state))[:, 91] > 0, ce.RIGHT, ce.LEFT).astype("int32")  # noqa

    state, moves, actions = ce.reset(np.array([0], "int32"), np.array([2], "int32")), [], None
    for t in range(9):
        if t % 3 == 0:
            actions = policy(state)
        state, _ = rl.step_variant(state, actions, t, 1)
        moves.append(int(np.asarray(state.basket_centre)[0]))
    assert moves == [3, 4, 5, 4, 3, 2, 3, 4, 5]
    # play_variant holds them the same way: the basket ends at 5, under a fruit in column 4, not one in column 0.
    rewards = rl.play_variant(
        policy, np.array([4, 0], "int32"), np.array([2, 2], "int32"), action_repeat=3
    )
    np.testing.assert_array_equal(np.asarray(rewards), [1.0, -1.0])


def test_with_both_knobs_at_one_the_game_is_catch_es_step_for_step():
    columns, centres = ce.start_states()
    for seed in range(3):
        model = random_model(seed)
        np.testing.assert_array_equal(
            np.asarray(rl.play_variant(ce.greedy(model), columns, centres)),
            np.asarray(ce.play_games(ce.greedy(model), columns, centres)),
        )


def test_with_both_knobs_at_one_the_es_learns_exactly_as_in_catch_es():
    # catch_es's own settings (the study's defaults are the tuned ones), all 80 start states
    config = rl.StudyConfig(generations=40, sigma=0.1, learning_rate=0.05, es_starts=80)
    quiet = lambda history, done: None  # noqa: E731
    # play_variant's loop
    looped = ce.run_training(
        config, attempt=ce.played_by(rl.es_player(config), config), progress=quiet
    )
    plain = ce.run_training(ce.Config(generations=40), progress=quiet)  # catch_es's play
    np.testing.assert_array_equal(ce.flatten_weights(looped.model), ce.flatten_weights(plain.model))
    assert [row["mean_reward"] for row in looped.history] == [
        row["mean_reward"] for row in plain.history
    ]


def functional_policy(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((100,))
    return keras.Model(
        inputs, keras.layers.Dense(3)(keras.layers.Dense(16, activation="relu")(inputs))
    )


def test_both_roads_of_the_player_play_the_variant_they_are_given():
    model = random_model(4)
    theta = ce.flatten_weights(model)
    population = theta + 0.5 * np.random.default_rng(0).standard_normal((6, theta.size)).astype(
        "float32"
    )
    config = rl.StudyConfig(fall_every=3, action_repeat=2)
    lookup = make_player(model, rl.game_of(config))(population)
    general = functional_policy(4)  # the same weights in a model the player runs whole
    general.set_weights(model.get_weights())
    np.testing.assert_array_equal(lookup, make_player(general, rl.game_of(config))(population))
    ce.set_flat_weights(model, population[2])
    expected = rl.play_variant(ce.greedy(model), *ce.start_states(), fall_every=3, action_repeat=2)
    np.testing.assert_array_equal(lookup[2], np.asarray(expected))


# The target: what some sequence of actions can win ------------------------------------------------------------


@pytest.mark.parametrize(
    "fall_every, action_repeat, slack", [(1, 1, True), (4, 1, True), (1, 3, True), (8, 1, False)]
)
def test_every_fruit_can_be_caught_where_the_knobs_leave_enough_moves(
    fall_every, action_repeat, slack
):
    assert rl.most_caught(fall_every, action_repeat, slack) == 80


def test_without_slack_a_late_move_cannot_be_made_good():
    # With slack the basket gets M moves per row: from centre 1 it reaches column 8 in the last row's 4 steps.
    # Without, it has one move per row, and a policy that waits until the fruit is on row 6 is too late.
    wait = lambda row, column, centre: ce.STAY if row < 6 else ce.RIGHT  # noqa: E731
    assert rules(wait, 8, 1, 4, 1, slack=True)[0] == 1
    assert rules(wait, 8, 1, 4, 1, slack=False)[0] == -1


@pytest.mark.parametrize("fall_every", [1, 2])
def test_one_decision_per_game_cannot_catch_every_fruit(fall_every):
    # One action held for the whole game leaves the basket at 1, where it started, or 8: by the rules, for every
    # action, which start states end caught?
    caught = [
        any(rules(lambda *_: a, c, b, fall_every, 9 * fall_every)[0] == 1 for a in ce.ACTIONS)
        for c, b in zip(*ce.start_states())
    ]
    assert rl.most_caught(fall_every, 9 * fall_every) == sum(caught) == 60


def test_an_unwinnable_variant_says_so_and_is_judged_by_its_best(tmp_path, capsys):
    rows = rl.main(["--action-repeat", "9", "--population-size", "10", "--compare-games", "3000",
                    "--out", str(tmp_path / "run"), "--no-render"])  # fmt: skip
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "some sequence of actions wins 60 of the 80 start states: the target"
    assert {row["target"] for row in rows} == {60}


# Bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fall-every", "0"], "--fall-every must be an integer >= 1, got 0"),
        (["--action-repeat", "-2"], "--action-repeat must be an integer >= 1, got -2"),
        (["--es-starts", "81"], "--es-starts must be an integer from 1 to 80, got 81"),
        (["tune", "--first-seed", "1010"], "tuning must not use the claims' seeds"),
        (["--reinforce-games-per-start", "100000000"], "GB of memory; this machine has"),
        (["--play", "policy.keras"], "unrecognized arguments: --play"),
        (["claims", "--settings", "0x1"], "expected MxK games"),
        (["claims", "--snr-repeats", "1"], "--snr-repeats >= 2"),
    ],
)
def test_the_study_refuses_bad_input_in_one_line_and_writes_nothing(
    tmp_path, monkeypatch, capsys, args, message
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        rl.main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and len(lines) == 1 and message in lines[0], lines
    assert list(tmp_path.iterdir()) == []


# REINFORCE -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "game, entropy", [("1x1", 0.0), ("2x3noslack", 0.5), ("4x1", 0.01), ("1x2linear", 0.0)]
)
def test_the_fast_reinforce_gradient_is_the_plain_one(game, entropy):
    """The plain gradient plays under a tape, the network on each board; the fast one looks the boards up and takes
    one backward pass over 720 of them. With the same uniform numbers: the same games and the same gradient."""
    config = rl.config_for(game, reinforce_entropy=entropy)
    keras.utils.set_random_seed(4)
    model = ce.build_policy(config.hidden_units)
    uniform = rl.uniforms(np.array([7, 1], "int32"), (9 * config.fall_every, ce.START_COUNT))
    plain, plain_rewards = rl.reinforce_gradient_plain(model, config, uniform)
    fast, rewards = rl.reinforce_gradient(model, config)(ce.flatten_weights(model), uniform)
    np.testing.assert_array_equal(np.asarray(rewards), np.asarray(plain_rewards))
    plain = np.concatenate([np.ravel(g) for g in plain])
    np.testing.assert_allclose(np.asarray(fast), plain, atol=2e-6)
    assert np.abs(plain).max() > 1e-2  # not a zero gradient that matches


def test_reinforce_s_gradient_is_r_times_grad_log_p_of_the_actions_taken():
    """The plain gradient against the formula by hand, on a linear policy: for a game whose decisions saw boards b_t
    and took actions a_t, d log p(a_t) / d kernel = b_t (one_hot(a_t) - p(b_t))."""
    config = rl.config_for("1x1linear")
    keras.utils.set_random_seed(5)
    model = ce.build_policy(0)
    uniform = np.random.default_rng(2).random((9, 80)).astype("float32")
    (kernel, bias), rewards = rl.reinforce_gradient_plain(model, config, uniform)
    state, returns = ce.reset(*ce.start_states()), np.asarray(rewards) - np.mean(rewards)
    expected = np.zeros((100, 3))
    for t in range(9):
        boards = np.asarray(ce.observe(state))
        odds = np.asarray(keras.ops.softmax(model(boards)))
        actions = np.sum(uniform[t][:, None] >= np.cumsum(odds, axis=-1)[:, :2], axis=-1)
        expected -= boards.T @ ((np.eye(3)[actions] - odds) * returns[:, None]) / 80
        state, _ = rl.step_variant(state, actions.astype("int32"), t, 1)
    np.testing.assert_allclose(np.asarray(kernel), expected, atol=1e-5)


def test_reinforce_learns_a_long_game():
    config = rl.StudyConfig(fall_every=4, compare_games=64_000)
    measured = rl.Measurements(config.compare_games)
    result = rl.train_reinforce(config, measured, progress=lambda history, done: None)
    assert result.status == "solved" and measured.solved_at <= 64_000
    assert result.history[0]["catch_rate"] < 0.5  # from the ES's initial weights
    # the network returned is the one last measured
    caught = make_player(result.model, rl.game_of(config))(ce.flatten_weights(result.model)[None])[
        0
    ]
    assert ce.count_catches(caught) == measured.last[1]


def test_an_entropy_bonus_keeps_reinforce_s_actions_more_random():
    def entropy_after(bonus):
        config = rl.StudyConfig(reinforce_entropy=bonus, reinforce_learning_rate=0.03)
        learner = rl.Reinforce(dataclasses.replace(config, reinforce_games_per_start=100))
        learner.start(3)
        for number in range(4):  # 16 updates, one a block
            learner.blocks(3, number)
        model = ce.build_policy()
        ce.set_flat_weights(model, learner.theta.numpy())
        odds = np.asarray(keras.ops.softmax(model(ce.observe(ce.reset(*ce.start_states())))))
        return float(np.mean(-np.sum(odds * np.log(odds), axis=-1)))

    assert entropy_after(1.0) > entropy_after(0.0) + 0.05


def test_a_seed_s_reinforce_run_is_the_same_alone_or_after_another():
    config = rl.StudyConfig(compare_games=8_000)
    learner = rl.Reinforce(config)
    first = rl.train_reinforce(dataclasses.replace(config, seed=6), progress=lambda h, d: None)
    rl.train_reinforce(dataclasses.replace(config, seed=5), None, lambda h, d: None, learner)
    again = rl.train_reinforce(
        dataclasses.replace(config, seed=6), None, lambda h, d: None, learner
    )
    np.testing.assert_array_equal(ce.flatten_weights(first.model), ce.flatten_weights(again.model))


# The rule of measurement and the race ----------------------------------------------------------------------


def test_the_measuring_rule_counts_one_measurement_per_cadence_and_the_budget_binds():
    measured = rl.Measurements(budget=40_000, cadence=8_000)
    assert measured.see(0, 10) and not measured.see(
        4_000, 80
    )  # between two multiples: does not count
    assert measured.see(9_000, 79) and measured.solved_at is None and not measured.done
    assert measured.see(16_000, 80) and measured.solved_at == 16_000 and measured.done
    late = rl.Measurements(budget=16_000, cadence=8_000)
    for games in (0, 8_000, 16_000):
        late.see(games, 40)
    assert late.done and late.games == float("inf")
    late.see(24_000, 80)  # past the budget: too late to count as solved
    assert late.solved_at is None
    best = rl.Measurements(budget=16_000, target=60)
    best.see(0, 60)
    assert best.done and best.games == 0  # the best the game allows counts


def test_a_run_has_stalled_if_its_second_half_did_no_better_than_its_first():
    def run(catches):
        measured = rl.Measurements(budget=10 * 2_000)
        for number, caught in enumerate(catches):
            measured.see(number * 2_000, caught)
        return measured

    assert run([10, 50, 70, 72, 72, 60, 71, 72, 72, 70, 72]).stalled()
    assert not run(
        [10, 50, 70, 72, 72, 60, 71, 72, 73, 70, 72]
    ).stalled()  # 73 late: still climbing
    assert not run([10, 50, 70, 80]).stalled()  # solved


def test_a_budget_binds_in_games_for_every_learner_and_the_measuring_games_count_for_none():
    # steps too small for anyone to solve it
    config = rl.StudyConfig(fall_every=4, slack=False, compare_games=16_000, render=False,
                            sigma=1e-9, reinforce_learning_rate=1e-7)  # fmt: skip
    runs = rl.race(config, show=False)
    assert list(runs) == list(rl.LEARNERS)
    for name, (result, measured) in runs.items():
        assert measured.solved_at is None and measured.done, name
        assert [games for games, _ in measured.rows] == list(
            range(0, 16_001, rl.CADENCE)
        )  # the same for all


def compiled_generations(play_generation):
    """How many times a compiled generation has been traced (once per strategy)."""
    (compiled,) = [
        cell.cell_contents
        for cell in play_generation.__closure__
        if hasattr(cell.cell_contents, "experimental_get_tracing_count")
    ]
    return compiled.experimental_get_tracing_count()


def test_compiling_comes_before_the_seeds_so_that_no_run_times_it_even_across_restarts():
    config = rl.StudyConfig(population_size=10, max_population_size=40, patience=3, compare_games=32_000,
                            render=False)  # fmt: skip
    game = rl.Game(config)
    compiled = compiled_generations(game.play_generation)
    assert compiled == 1  # one program for the populations 10, 20 and 40 alike
    runs = rl.race(dataclasses.replace(config, seed=1), game.play_generation, game.learner, False)
    assert (
        runs["ES"][0].history[-1]["restarts"] >= 2
    )  # it restarted into the larger populations ...
    assert compiled_generations(game.play_generation) == compiled  # ... and compiled nothing


def test_es_candidates_can_play_fewer_start_states_the_same_for_both_of_a_pair():
    config = rl.StudyConfig(es_starts=20, population_size=10, generations=1)
    played, player = [], rl.es_player(config)

    def play(strategy):
        catches, rewards, before = player(strategy)
        played.append((rewards, rl.pair_starts(strategy, 20)))
        return catches, rewards, before

    ce.run_training(config, attempt=ce.played_by(play, config), progress=lambda history, done: None)
    rewards, (columns, centres) = played[0]
    assert rewards.shape == (10,) and np.allclose(
        rewards * 20, np.round(rewards * 20)
    )  # means of 20 games
    assert (columns[0::2] == columns[1::2]).all() and (centres[0::2] == centres[1::2]).all()
    assert len({tuple(row) for row in columns[0::2]}) > 1  # pairs differ
    assert rl.es_player(rl.StudyConfig(es_starts=80)).__qualname__.startswith("play_here")


# The noise of the gradients, and the statistics -----------------------------------------------------------------


def test_the_signal_to_noise_ratio_of_a_known_estimate():
    rng = np.random.default_rng(1)
    for signal in (0.3, 1.0):  # 50 coordinates of mean `signal` and variance 1: SNR = signal²
        assert st.snr_of(signal + rng.standard_normal((2_000, 50))) == pytest.approx(
            signal**2, rel=0.1
        )
    assert abs(st.snr_of(rng.standard_normal((2_000, 50)))) < 0.01
    # without any noise: no signal (every estimate zero: each mirrored pair tied) or an infinite ratio, never NaN
    assert st.snr_of(np.zeros((20, 5))) == 0.0 and st.snr_of(np.ones((20, 5))) == float("inf")


def test_the_estimators_measure_each_learner_s_own_update():
    config = rl.StudyConfig(population_size=10)
    game = rl.Game(config)
    keras.utils.set_random_seed(0)
    theta = ce.flatten_weights(ce.build_policy())
    found = game.estimates(theta, 0, 3)
    assert [np.shape(e) for e in found["ES"]] == [theta.shape] * 3
    assert not np.array_equal(
        found["REINFORCE"][0], found["REINFORCE"][1]
    )  # fresh numbers each time
    gradient = rl.reinforce_gradient(ce.build_policy(), config)
    # (inside XLA, as the estimator draws them: its stateless numbers are not eager TensorFlow's)
    compiled = ce.tf.function(
        lambda t, k: gradient(t, rl.uniforms(k, (9, 80)))[0], jit_compile=True
    )
    expected = compiled(theta, np.array([0, 1], "int32"))
    np.testing.assert_allclose(found["REINFORCE"][1], np.asarray(expected), atol=1e-6)


def test_paired_comparisons_count_the_seeds_one_learner_solved_and_the_other_did_not():
    def run(learner, seed, solved, games):
        return dict(
            learner=learner, seed=seed, solved=solved, games=games if solved else float("inf")
        )

    runs = [run("ES", seed, seed < 8, 1_000_000) for seed in range(10)]
    runs += [run("REINFORCE", seed, seed >= 2, 10_000) for seed in range(10)]
    test = st.paired(runs, "REINFORCE", "ES")
    assert test["solved"] == (8, 8) and test["only"] == (2, 2) and test["p"] == 1.0
    assert test["difference"][0] == 0 and test["difference"][1] < 0 < test["difference"][2]
    # games: REINFORCE fewer on the 8 seeds it solved, the ES on the 2 only it solved (REINFORCE: never)
    assert test["fewer"] == (8, 2) and test["p_games"] == pytest.approx(2 * 56 / 1024)
    assert test["ratio"][0] == 100.0  # the ES's games / REINFORCE's, median over the 10 seeds
    lopsided = [run("ES", seed, False, 0) for seed in range(10)]
    lopsided += [run("REINFORCE", seed, True, 5) for seed in range(10)]
    assert st.paired(lopsided, "ES", "REINFORCE")["p"] == pytest.approx(
        2 / 2**10
    )  # ten discordant, one way


def test_newcombe_s_interval_holds_the_difference_and_turns_with_the_pair():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.random(30) < rng.random(), rng.random(30) < rng.random()
        difference, low, high = st.newcombe(a, b)
        assert -1 <= low <= difference <= high <= 1 and difference == a.mean() - b.mean()
        assert st.newcombe(b, a) == pytest.approx((-difference, -high, -low))
    same = (
        np.arange(30) < 20
    )  # every pair agrees: the difference is 0, and the interval narrow about it
    assert st.newcombe(same, same)[0] == 0 and st.newcombe(same, same)[2] < 0.15
    assert st.wilson(0, 10) == pytest.approx((0.0, 3.8416 / 13.8416))  # z² / (n + z²)


def test_a_learning_curve_holds_the_last_measurement_at_each_point():
    measured = rl.Measurements(budget=20_000)
    for games, caught in ((0, 10), (2_000, 30), (4_000, 50), (6_000, 80)):
        measured.see(games, caught)
    points = rl.curve(measured, 20_000)
    assert list(points) == ["g2000", "g2828", "g4000", "g5657", "g8000", "g11314", "g16000"]
    assert list(points.values()) == [30, 30, 50, 50, 80, 80, 80]  # solved stays solved


# Tuning, the claims, and what the committed files say ----------------------------------------------------------


def test_tune_sweeps_both_learners_with_the_same_effort_on_other_seeds_and_names_the_best(
    tmp_path, monkeypatch
):
    grids = {"ES": {"sigma": (1e-9, 0.1)}, "REINFORCE": {"reinforce_learning_rate": (1e-6, 0.01)}}
    monkeypatch.setattr(rl, "TUNING", grids)
    best = rl.tune(["--seeds", "2", "--games", "48000", "--out", str(tmp_path)])
    assert best == {"ES": {"sigma": 0.1}, "REINFORCE": {"reinforce_learning_rate": 0.01}}
    rows = rl.read_csv(tmp_path / "tune.csv")
    assert [(row["learner"], row["seed"]) for row in rows] == [
        (learner, seed)
        for learner in ("ES", "REINFORCE")
        for _ in range(2)
        for seed in (2000, 2001)
    ]
    hopeless = [
        row for row in rows if row["reinforce_learning_rate"] == 1e-6 or row["sigma"] == 1e-9
    ]
    assert len(hopeless) == 4 and not any(row["solved"] for row in hopeless)
    with pytest.raises(SystemExit) as exit:
        rl.parse_tune_args(
            ["--first-seed", "990", "--seeds", "20"]
        )  # would reach the claims' seeds
    assert exit.value.code == 2


def test_the_quick_claims_measure_every_learner_within_one_budget_and_never_touch_the_committed_results(
    tmp_path, capsys
):
    out, budget = tmp_path / "claims", 60_000
    command = [sys.executable, STUDY, "claims", "--quick", "--settings", "1x1,8x1noslack", "--snr-repeats", "4",
               "--games", str(budget), "--out", str(out)]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0 and completed.stderr == "", completed.stderr[-2000:]
    runs = rl.read_csv(out / "claims.csv")
    assert [(run["game"], run["seed"], run["learner"]) for run in runs] == [
        (game, seed, learner)
        for game in ("1x1", "8x1noslack")
        for seed in (1000, 1001)
        for learner in rl.LEARNERS
    ]  # ES_CHECKED = 3 seeds of the ES at M = 8 without slack: both of these
    for run in runs:  # every run ends solved or at the budget of games: there is no clock
        assert run["solved"] == (run["games"] <= budget) and run["played"] >= min(
            run["games"], budget
        )
        assert run["restarts"] == 0 or run["learner"] == "ES"
        assert run["stalled"] == "" if run["learner"] == "ES" else run["stalled"] in (True, False)
    es = {
        (r["seed"], r["learner"]): (r["games"], r["final_catches"])
        for r in runs
        if r["learner"] != "REINFORCE"
    }
    assert all(es[r["seed"], r["learner"]] == (r["games"], r["final_catches"]) for r in runs
               if r["game"] == "1x1" and r["learner"] != "REINFORCE")  # fmt: skip
    assert len(es) == 4  # the long game's ES runs are catch_es's game's, seed for seed
    snr = rl.read_csv(out / "snr.csv")
    assert {row["estimator"] for row in snr} == {"ES", "REINFORCE"} and {"initial"} <= {
        r["where"] for r in snr
    }
    with Image.open(out / "claims_curves.png") as image:
        assert image.format == "PNG"
    tables = (out / "tables.txt").read_text()
    assert "T = 9's, seed for seed" in tables and "McNemar" in tables
    capsys.readouterr()
    rl.main(command[2:])  # the same again, here: done before, so read, not run again
    assert (
        "some sequence" not in capsys.readouterr().out and rl.read_csv(out / "claims.csv") == runs
    )
    rl.main(["claims", "--plot-only", "--out", str(out)])
    assert (out / "tables.txt").read_text() == tables
    assert rl.parse_claims_args(["--quick"]).out == "runs/claims-quick"
    assert (
        rl.parse_claims_args([]).out == "benchmarks/claims"
        and rl.parse_claims_args([]).games == 3_000_000
    )
    assert rl.parse_tune_args(["--quick"]).out.name == "tune-quick"


def test_the_defaults_are_each_learner_s_winner_of_the_committed_tuning():
    rows = rl.read_csv(ce.Path(rl.__file__).parent / "benchmarks" / "claims" / "tune.csv")
    for learner, grid in rl.TUNING.items():
        settings = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
        mine = [row for row in rows if row["learner"] == learner]
        assert len(mine) == len(settings) * 5 and {row["seed"] for row in mine} == set(
            range(2000, 2005)
        )
        best = max(settings, key=lambda setting: rl.tune_score(rows, learner, setting))
        assert best == {name: getattr(rl.StudyConfig(), name) for name in grid}
    assert not set(range(rl.FIRST_SEED, rl.FIRST_SEED + 30)) & {row["seed"] for row in rows}


def test_the_committed_claims_are_every_game_s_30_seeds_and_what_the_report_quotes_is_in_tables_txt(
    tmp_path,
):
    folder = ce.Path(rl.__file__).parent / "benchmarks" / "claims"
    runs = rl.read_csv(folder / "claims.csv")
    assert sorted({run["game"] for run in runs}, key=rl.order_key) == rl.ORDER.split(",")
    seeds = range(rl.FIRST_SEED, rl.FIRST_SEED + 30)
    for game in rl.ORDER.split(","):
        ran = sorted((run["seed"], run["learner"]) for run in runs if run["game"] == game)
        long = "noslack" in game and rl.knobs(game)[0] >= 8
        es_seeds = seeds[: rl.ES_CHECKED] if long else seeds
        assert ran == sorted(
            [(s, "REINFORCE") for s in seeds] + [(s, n) for s in es_seeds for n in rl.LEARNERS[:2]]
        )
    assert all(
        run["played"] >= 3_000_000 for run in runs if not run["solved"]
    )  # no clock stopped a run
    for name in (
        "claims.csv",
        "snr.csv",
    ):  # --plot-only writes the committed tables again, number for number
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    rl.claims(["--plot-only", "--out", str(tmp_path)])
    tables = (tmp_path / "tables.txt").read_text()
    assert tables == (folder / "tables.txt").read_text()
    report = (folder / "README.md").read_text().split("## What the measurements say")[1]
    figures = re.findall(
        r"\d+/\d+ \[[\d.]+, [\d.]+\]|\[[-+]?[\d.,]+(?:e-\d+)?, [-+]?[\d.,]+(?:e-\d+)?\]|p = \d+(?:\.\d+)?(?:e-\d+)?"
        r"|\d\.\d+e-\d+",
        report,
    )
    assert len(figures) > 20 and [figure for figure in figures if figure not in tables] == []


# The study as a program ----------------------------------------------------------------------------------------


def random_policy_catch_rate(games_per_start=50):
    """The expected catch rate of uniformly random actions, estimated over many games."""
    columns, centres = (np.tile(states, games_per_start) for states in ce.start_states())
    rng = np.random.default_rng(0)
    rewards = ce.play_games(
        lambda state: rng.integers(0, 3, len(columns)).astype("int32"), columns, centres
    )
    return float(np.mean(np.asarray(rewards) > 0))


def test_compare_trains_the_learners_and_writes_table_histories_and_figure(tmp_path, capsys):
    folder = tmp_path / "compare"
    rows = rl.main(
        ["--out", str(folder), "--population-size", "10", "--compare-games", "24000", "--no-render"]
    )
    out = capsys.readouterr().out
    assert {path.name for path in folder.iterdir()} == {
        "config.json", "comparison.csv", "es_history.csv", "es_no_restarts_history.csv",
        "reinforce_history.csv", "es_vs_reinforce.png", "run.lock",
    }  # fmt: skip
    assert [row["learner"] for row in rows] == list(rl.LEARNERS)
    reinforce = rows[-1]
    # REINFORCE, from the same initial weights, lifts the greedy policy far above random play.
    assert reinforce["final_catches"] / 80 >= random_policy_catch_rate() + 0.5
    history = list(csv.DictReader(open(folder / "reinforce_history.csv")))
    es_history = list(csv.DictReader(open(folder / "es_history.csv")))
    assert history[0]["catch_rate"] == es_history[0]["catch_rate"]  # the same initial network
    assert int(history[-1]["games"]) <= 24_000
    assert "REINFORCE against ES" in out and "solved" in out
    with Image.open(folder / "es_vs_reinforce.png") as image:
        assert image.format == "PNG"


def test_the_study_is_a_notebook_that_runs_top_to_bottom(tmp_path, study_notebook):
    printed = study_notebook(
        STUDY,
        'rows = main(["--population-size", "10", "--compare-games", "3000", "--out", "nb", "--no-render"])'
        '\nprint(rows[-1]["learner"])',
    )
    assert "REINFORCE" in printed
    assert (tmp_path / "nb" / "comparison.csv").is_file()


def test_the_study_runs_as_a_script(tmp_path):
    completed = subprocess.run(
        [sys.executable, STUDY, "--population-size", "10", "--compare-games", "3000"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0 and completed.stderr == "", completed.stderr[-2000:]
    assert completed.stdout.startswith("some sequence of actions wins 80 of the 80 start states")
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("compare-seed0-") and (folder / "es_vs_reinforce.png").is_file()


@pytest.mark.parametrize(
    "args, written", [([], "comparison.csv"), (["claims", "--settings", "1x9"], "claims.csv")]
)
def test_a_failed_write_of_the_study_is_one_line_and_leaves_no_half_file(
    tmp_path, monkeypatch, capsys, args, written
):
    original = ce.write_atomically

    def half_then_full(temporary):
        temporary.write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    def full_disk(path, write):
        return original(path, half_then_full if path.name == written else write)

    monkeypatch.setattr(ce, "write_atomically", full_disk)
    out = ["--out", str(tmp_path / "out")]
    tiny = (
        ["--seeds", "1", "--games", "8000", "--snr-repeats", "2", "--snr-networks", "1"]
        if args
        else ["--population-size", "10", "--compare-games", "2000", "--no-render"]
    )
    with pytest.raises(SystemExit) as exit:
        rl.main(args + out + tiny)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 74 and lines == [
        f"es_vs_rl.py: stopped: cannot write {tmp_path / 'out' / written}: No space left on device"
    ]
    assert not [path for path in (tmp_path / "out").iterdir() if ".tmp" in path.name]
