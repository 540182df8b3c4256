"""The ES-vs-RL study: the rules of both knobs, whether every fruit can be caught, REINFORCE, the comparison, the
measurement of the claims, and the study as a script and a notebook."""

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
    config, quiet = rl.StudyConfig(generations=40), lambda history, done: None
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


# Can every fruit be caught? ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fall_every, action_repeat, slack",
    [
        (1, 1, True),
        (2, 1, True),
        (4, 1, True),
        (8, 1, True),
        (1, 2, True),
        (1, 3, True),
        (3, 3, True),
        (4, 1, False),
        (8, 1, False),
    ],
)
def test_every_fruit_can_be_caught_and_the_policy_found_does_it(fall_every, action_repeat, slack):
    answer = rl.winnable(fall_every, action_repeat, slack)
    assert answer.verdict is True and answer.lost == []
    # The policy the search found is a table from boards to actions; under the rules it catches all 80.
    choose = lambda row, column, centre: answer.policy[column, row, centre]  # noqa: E731
    assert all(
        rules(choose, c, b, fall_every, action_repeat, slack)[0] == 1
        for c, b in zip(*ce.start_states())
    )


def test_without_slack_a_late_move_cannot_be_made_good():
    # With slack the basket gets M moves per row: from centre 1 it reaches column 8 in the last row's 4 steps.
    # Without, it has one move per row, and a policy that waits until the fruit is on row 6 is too late.
    wait = lambda row, column, centre: ce.STAY if row < 6 else ce.RIGHT  # noqa: E731
    assert rules(wait, 8, 1, 4, 1, slack=True)[0] == 1
    assert rules(wait, 8, 1, 4, 1, slack=False)[0] == -1
    assert rl.open_loop_catchable(8, 1, 4, 1, slack=False)  # moving at once still catches it


@pytest.mark.parametrize("fall_every", [1, 2])
def test_one_decision_per_game_cannot_catch_every_fruit(fall_every):
    answer = rl.winnable(fall_every, 9 * fall_every)
    assert answer.verdict is False
    # One action held for the whole game leaves the basket at 1, where it started, or 8.
    ends = lambda centre: {1, centre, 8}  # noqa: E731
    assert answer.lost == [
        (int(c), int(b))
        for c, b in zip(*ce.start_states())
        if all(abs(c - end) > 1 for end in ends(b))
    ]
    assert len(answer.lost) == 20
    assert "no policy catches every fruit" in rl.describe_winnable(fall_every, 9 * fall_every)
    assert "at most 60/80" in rl.describe_winnable(fall_every, 9 * fall_every)


def test_a_search_that_runs_out_of_boards_says_it_is_undecided():
    answer = rl.winnable(8, 1, node_limit=10)
    assert answer.verdict is None and answer.boards == 11 and answer.policy == {}
    assert (
        "undecided whether any policy catches every fruit (11 boards tried)"
        in rl.describe_winnable(8, 1, node_limit=10)
    )
    # exactly enough: no backtracking needed
    assert rl.winnable(1, 1, node_limit=720).verdict is True


# The comparison, from the command line -------------------------------------------------------------


def test_an_unwinnable_variant_says_so_before_training(tmp_path, capsys):
    rl.main(
        [
            "--action-repeat",
            "9",
            "--population-size",
            "10",
            "--compare-games",
            "3000",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (
        "--fall-every 1 --action-repeat 9: no policy catches every fruit: no sequence of actions "
        "catches 20 of the 80 start states, so at most 60/80"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fall-every", "0"], "--fall-every must be an integer >= 1, got 0"),
        (["--action-repeat", "-2"], "--action-repeat must be an integer >= 1, got -2"),
    ],
)
def test_knobs_below_one_are_refused(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        rl.main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and lines == [f"es_vs_rl.py: error: {message} (see --help)"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--es-starts", "81"], "--es-starts must be an integer from 1 to 80, got 81"),
        (["tune", "--first-seed", "1010"], "tuning must not use the claims' seeds"),
        (["--reinforce-games-per-start", "100000000"], "GB of memory; this machine has"),
        (["--play", "policy.keras"], "unrecognized arguments: --play"),
        (["claims", "--settings", "0x1"], "expected MxK pairs"),
    ],
)
def test_the_study_refuses_bad_input_in_one_line_and_writes_nothing(
    tmp_path, monkeypatch, capsys, args, message
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        rl.main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and len(lines) == 1 and message in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_reinforce_learns_a_long_game(tmp_path):
    config = rl.StudyConfig(fall_every=4, compare_games=64_000)
    measured = rl.Measurements(config.compare_games)
    result = rl.train_reinforce(config, measured, progress=lambda history, done: None)
    # from the ES's initial weights: 22/80
    assert result.status == "solved" and measured.solved_at <= 64_000
    assert result.history[0]["catch_rate"] < 0.5
    # the network returned is the one last measured
    assert (
        ce.count_catches(
            make_player(result.model, rl.game_of(config))(ce.flatten_weights(result.model)[None])[0]
        )
        == measured.last[1]
    )


# The claims, measured -------------------------------------------------------------------------------


def test_the_quick_claims_measure_every_learner_within_one_budget_of_games_and_never_touch_the_committed_results(
    tmp_path, capsys
):
    out = tmp_path / "claims"
    budget = 120_000  # --quick's 300,000 (checked below) but smaller: enough for ES to solve M=1, K=9 on both seeds
    command = [
        sys.executable,
        STUDY,
        "claims",
        "--quick",
        "--settings",
        "1x1,1x9",
        "--snr-repeats",
        "4",
        "--games",
        str(budget),
        "--out",
        str(out),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "--fall-every 1 --action-repeat 9: no policy catches every fruit" in completed.stdout
    runs = rl.read_csv(out / "claims.csv")
    games = [(1, 1, True), (1, 9, True)]
    assert [
        (run["fall_every"], run["action_repeat"], run["slack"], run["seed"], run["learner"])
        for run in runs
    ] == [
        (*game, seed, learner) for game in games for seed in (1000, 1001) for learner in rl.LEARNERS
    ]
    # every run ends solved (at the game's best) or at the budget of games: there is no clock
    for run in runs:
        assert run["why"] in ("solved", "games")
        assert run["played"] % rl.CADENCE == 0 or run["learner"] != "REINFORCE"
        if run["why"] == "games":
            assert budget <= run["played"] < budget + 2 * 1600 * 80 and run["games"] == float("inf")
            assert run["sustained"] == ""
        else:
            assert run["games"] <= budget and run["played"] >= run["games"] + rl.HOLD * rl.CADENCE
            assert run["sustained"] in (True, False)
        assert (run["learner"] == "REINFORCE") == (run["sampled_catch_rate"] != "")
        assert run["restarts"] == 0 or run["learner"] == "ES"
        if run["action_repeat"] == 9:
            assert run["target"] == 60 and run["final_catches"] <= 60
    snr = rl.read_csv(out / "snr.csv")
    assert {row["estimator"] for row in snr} == set(rl.ESTIMATORS)
    assert all(row["low"] <= row["snr"] <= row["high"] for row in snr)
    assert {row["where"] for row in snr} <= {"initial", "stall", "near miss"}
    for picture in ("claims_solved.png", "claims_snr.png"):
        with Image.open(out / picture) as image:
            assert image.format == "PNG"
    tables = (out / "tables.txt").read_text()
    assert "McNemar exact" in tables and "REINFORCE" in tables
    capsys.readouterr()
    # the same again (here, not in a second process): done before, so read, not run again
    rl.main(command[2:])
    assert capsys.readouterr().out.count("done before, with the same settings") == 2
    assert rl.read_csv(out / "claims.csv") == runs
    rl.main(["claims", "--plot-only", "--out", str(out), "--games", str(budget)])
    assert (out / "tables.txt").read_text() == tables
    assert (
        rl.parse_claims_args(["--quick"]).games == 300_000
        and rl.parse_claims_args([]).games == 3_000_000
    )


def test_a_quick_try_never_writes_over_the_committed_results():
    assert rl.parse_claims_args(["--quick"]).out == "runs/claims-quick"
    assert rl.parse_claims_args([]).out == "benchmarks/claims"  # where the committed full run lives
    assert rl.parse_tune_args(["--quick"]).out == "runs/tune-quick"


def test_a_budget_binds_in_games_for_every_learner_and_the_measuring_games_count_for_none():
    # steps too small for anyone to solve it
    config = rl.StudyConfig(
        fall_every=4,
        slack=False,
        compare_games=16_000,
        render=False,
        sigma=1e-9,
        es_starts=20,
        reinforce_learning_rate=1e-7,
    )
    runs = rl.race(config, show=False, no_restarts_too=True)
    assert list(runs) == list(rl.LEARNERS)
    for name, (result, measured) in runs.items():
        assert measured.why == "games" and measured.solved_at is None, name
        # the same for both
        assert [games for games, _ in measured.rows] == list(range(0, 16_001, rl.CADENCE))


def test_the_measuring_rule_counts_one_measurement_per_cadence_and_watches_80_80_hold():
    measured = rl.Measurements(budget=40_000, cadence=8_000, hold=2)
    # between two multiples: does not count
    assert measured.see(0, 10) and not measured.see(4_000, 80)
    assert measured.see(9_000, 79) and measured.solved_at is None and not measured.done
    assert measured.see(16_000, 80) and measured.solved_at == 16_000 and not measured.done
    assert measured.see(24_000, 80) and not measured.done
    assert (
        measured.see(32_000, 78)
        and measured.done
        and measured.why == "solved"
        and measured.sustained is False
    )
    late = rl.Measurements(budget=16_000, cadence=8_000, hold=1)
    for games in (0, 8_000, 16_000):
        late.see(games, 40)
    assert late.done and late.why == "games" and late.sustained == ""
    late.see(24_000, 80)  # past the budget: too late to count as solved
    assert late.solved_at is None
    best = rl.Measurements(budget=16_000, target=60, hold=0)
    best.see(0, 60)
    assert best.done and best.why == "solved"  # the best the game allows counts


def compiled_generations(play_generation):
    """How many times the generation compiled inside a catch_es.play_here has been traced (once per strategy)."""
    (compiled,) = [
        cell.cell_contents
        for cell in play_generation.__closure__
        if hasattr(cell.cell_contents, "experimental_get_tracing_count")
    ]
    return compiled.experimental_get_tracing_count()


def test_compiling_comes_before_the_seeds_so_that_no_run_times_it_even_across_restarts():
    config = rl.StudyConfig(
        population_size=10, max_population_size=40, patience=3, compare_games=32_000, render=False
    )
    game = rl.Game(config, snr=False)
    compiled = compiled_generations(game.play_generation)
    assert compiled == 1  # one program for the populations 10, 20 and 40 alike
    runs = game.race(seed=1)
    # it restarted into the larger populations ...
    assert runs["ES"].result.history[-1]["restarts"] >= 2
    # ... and compiled nothing while it learned
    assert compiled_generations(game.play_generation) == compiled


def test_the_expected_catch_rate_of_the_sampled_policy_is_exact():
    config = rl.StudyConfig(fall_every=2, action_repeat=3)
    model = random_model(7)
    sampled = rl.sampled_catch_rate(model, config)
    # Against 400 sampled games per start state, played by the rules REINFORCE plays by.
    gradient = rl.reinforce_gradient(model.layers, config, 100)
    weights = [variable.numpy()[None] for variable in model.trainable_variables]
    play = ce.tf.function(
        lambda key: gradient(weights, rl.uniforms(key, (18, 1, 8_000)))[1], jit_compile=True
    )
    rewards = np.concatenate(
        [np.asarray(play(np.array([seed, 0], "int32"))) for seed in range(4)]
    ).ravel()
    assert abs(np.mean(rewards > 0) - sampled) < 4 * np.sqrt(sampled * (1 - sampled) / rewards.size)
    # Scores a thousand times larger make the sampled policy the greedy one: then it is the exact catch rate.
    last = model.layers[-1]
    last.set_weights([1000 * weight for weight in last.get_weights()])
    greedy = (
        ce.count_catches(rl.play_variant(ce.greedy(model), *ce.start_states(), 2, 3))
        / ce.START_COUNT
    )
    assert rl.sampled_catch_rate(model, config) == pytest.approx(greedy, abs=1e-6)


def test_an_entropy_bonus_keeps_reinforce_s_actions_more_random():
    def entropy_after(bonus):
        config = rl.StudyConfig(reinforce_entropy=bonus, reinforce_learning_rate=0.03)
        # 1 update per block
        learner = rl.Reinforce(dataclasses.replace(config, reinforce_games_per_start=100))
        learner.start([3])
        for number in range(4):  # 16 updates
            learner.blocks([3], number)
        model = ce.build_policy()
        ce.set_flat_weights(model, np.asarray(learner.flat())[0])
        odds = np.asarray(keras.ops.softmax(model(ce.observe(ce.reset(*ce.start_states())))))
        return float(np.mean(-np.sum(odds * np.log(odds), axis=-1)))

    assert entropy_after(1.0) > entropy_after(0.0) + 0.05


def test_the_noise_is_measured_at_stalls_and_at_a_near_miss_from_a_run_that_stalled_when_one_did():
    stalls = rl.Stalls(target=80)
    stalls.watch("REINFORCE", 78, [1.0])
    stalls.watch("REINFORCE", 80, [2.0])  # solved: neither a stall nor a near miss
    stalls.keep("REINFORCE", seed=0, solved=True)
    stalls.watch("ES, no restarts", 72, [3.0])  # stuck at a column plateau: a stall
    stalls.keep("ES, no restarts", seed=0, solved=False)
    stalls.watch("REINFORCE", 79, [4.0])
    stalls.watch("REINFORCE", 70, [5.0])
    # a stalled run's near miss replaces a solved run's
    stalls.keep("REINFORCE", seed=1, solved=False)
    networks = {name: (where, list(weights)) for name, where, weights in stalls.networks()}
    assert networks == {
        "ES, no restarts stalled at 72/80, seed 0": ("stall", [3.0]),
        "REINFORCE stalled at 70/80, seed 1": ("stall", [5.0]),
        "REINFORCE at 79/80, seed 1 (did not solve)": ("near miss", [4.0]),
    }


def test_the_signal_to_noise_interval_holds_the_truth_of_a_known_estimate():
    rng = np.random.default_rng(1)
    for signal in (0.0, 0.3, 1.0):  # 50 coordinates of mean `signal` and variance 1: SNR = signal²
        snr, low, high = rl.snr_interval(signal + rng.standard_normal((200, 50)))
        assert low <= signal**2 <= high and low <= snr <= high


def test_paired_comparisons_count_the_seeds_one_learner_solved_and_the_other_did_not():
    def run(learner, seed, solved, games):
        return dict(
            learner=learner, seed=seed, solved=solved, games=games if solved else float("inf")
        )

    runs = [run("ES", seed, seed < 8, 1_000_000) for seed in range(10)] + [
        run("REINFORCE", seed, seed >= 2, 10_000) for seed in range(10)
    ]
    test = rl.paired(runs, "ES", "REINFORCE")
    assert test["solved"] == (8, 8) and test["only"] == (2, 2) and test["p"] == 1.0
    assert test["difference"][0] == 0 and test["difference"][1] < 0 < test["difference"][2]
    assert test["ratios"] == (0.01, 0.01, 0.01)  # on the six seeds both solved
    lopsided = [run("ES", seed, False, 0) for seed in range(10)] + [
        run("REINFORCE", seed, True, 5) for seed in range(10)
    ]
    # ten discordant seeds, one way
    assert rl.paired(lopsided, "ES", "REINFORCE")["p"] == pytest.approx(2 / 2**10)


def test_the_fraction_solved_is_drawn_against_games_with_every_run_and_the_budget(tmp_path):
    def run(learner, seed, solved, games):
        return dict(
            fall_every=1,
            action_repeat=1,
            slack=True,
            hidden_units=100,
            steps=9,
            seed=seed,
            learner=learner,
            solved=solved,
            target=80,
            games=games if solved else float("inf"),
        )

    runs = [
        run("ES", 0, True, 500_000),
        run("ES", 1, False, 0),
        run("REINFORCE", 0, True, 8_000),
        run("REINFORCE", 1, True, 16_000),
    ]
    figure = rl.plot_solved(runs, 3_000_000, tmp_path)
    axes = figure.axes[0]
    curves = {
        line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
        for line in axes.get_lines()
    }
    assert curves["ES"] == ([rl.CADENCE / 2, 500_000, 3_000_000], [0, 0.5, 0.5])
    assert curves["REINFORCE"] == ([rl.CADENCE / 2, 8_000, 16_000, 3_000_000], [0, 0.5, 1.0, 1.0])
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert (
        labels[:2] == ["ES", "REINFORCE"]
        and "3,000,000" in labels[2]
        and "fraction solved" in labels[2]
    )
    assert (tmp_path / "claims_solved.png").is_file()


def test_tune_sweeps_both_learners_with_the_same_effort_on_other_seeds_and_names_the_best(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(
        rl,
        "TUNING",
        {"ES": {"sigma": (1e-9, 0.1)}, "REINFORCE": {"reinforce_learning_rate": (1e-6, 0.01)}},
    )
    best = rl.tune(
        ["--seeds", "2", "--games", "48000", "--settings", "1x1", "--out", str(tmp_path)]
    )
    assert best == {"ES": {"sigma": 0.1}, "REINFORCE": {"reinforce_learning_rate": 0.01}}
    rows = rl.read_csv(tmp_path / "tune.csv")
    assert [(row["learner"], row["seed"]) for row in rows] == [
        (learner, seed)
        for learner in ("ES", "REINFORCE")
        for _ in range(2)
        for seed in (2000, 2001)
    ]
    assert not any(
        row["solved"]
        for row in rows
        if row["reinforce_learning_rate"] == 1e-6 or row["sigma"] == 1e-9
    )
    with pytest.raises(SystemExit) as exit:
        # would reach the claims' seeds
        rl.parse_tune_args(["--first-seed", "990", "--seeds", "20"])
    assert exit.value.code == 2


def test_reinforce_s_runs_share_a_compiled_call_and_nothing_else():
    config = rl.StudyConfig(reinforce_games_per_start=25)  # 4 updates per block
    together = rl.Reinforce(config, runs=3)
    together.start([5, 6, 7])
    alone = rl.Reinforce(config)
    alone.start([6])
    for number in range(2):
        together.blocks([5, 6, 7], number)
        alone.blocks([6], number)
    np.testing.assert_allclose(
        np.asarray(together.flat())[1], np.asarray(alone.flat())[0], atol=1e-5
    )
    assert not np.allclose(np.asarray(together.flat())[0], np.asarray(together.flat())[1])


@pytest.mark.parametrize("hidden_units", [100, 0])  # 0: a linear policy
def test_the_scores_reinforce_learns_from_are_the_network_s(hidden_units):
    keras.utils.set_random_seed(2)
    model = ce.build_policy(hidden_units)
    grid = np.meshgrid(
        range(ce.GRID_SIZE), range(ce.GRID_SIZE), range(1, ce.GRID_SIZE - 1), indexing="ij"
    )
    # every board: fruit row, column, basket
    every = ce.CatchState(*(a.ravel().astype("int32") for a in grid))
    # each its own row
    np.testing.assert_array_equal(np.sort(np.asarray(rl.board_of(every))), np.arange(rl.BOARDS))
    weights = [variable.numpy()[None] for variable in model.trainable_variables]
    table = np.asarray(rl.board_scores(model.layers, weights))[0]
    np.testing.assert_allclose(
        table[np.asarray(rl.board_of(every))], np.asarray(model(ce.observe(every))), atol=1e-5
    )


@pytest.mark.parametrize(
    "fall_every, action_repeat, slack, entropy", [(1, 1, True, 0.0), (2, 3, False, 0.5)]
)
def test_reinforce_s_gradient_is_r_times_grad_log_p_of_the_actions_taken(
    fall_every, action_repeat, slack, entropy
):
    """Against REINFORCE written out step by step: the network on each board, the action sampled from its
    softmax with the same uniform number, and a tape around the sum of (R - mean R) log p over the decisions."""
    config = rl.StudyConfig(
        fall_every=fall_every, action_repeat=action_repeat, slack=slack, reinforce_entropy=entropy
    )
    model = random_model(4)
    weights = [variable.numpy()[None] for variable in model.trainable_variables]
    steps = ce.GAME_LENGTH * fall_every
    uniform = np.random.default_rng(1).random((steps, 1, ce.START_COUNT)).astype("float32")
    gradients, reward = rl.reinforce_gradient(model.layers, config, 1)(weights, uniform)
    state, actions, boards, taken = (
        ce.reset(*ce.start_states()),
        np.ones(ce.START_COUNT, "int32"),
        [],
        [],
    )
    for t in range(steps):
        if t % action_repeat == 0:
            odds = np.cumsum(np.asarray(keras.ops.softmax(model(ce.observe(state)))), axis=-1)
            actions = np.sum(uniform[t, 0][:, None] >= odds[:, :2], axis=-1).astype("int32")
            boards.append(np.asarray(ce.observe(state)))
            taken.append(actions)
        state, rewards = rl.step_variant(state, actions, t, fall_every, slack)
    np.testing.assert_array_equal(np.asarray(reward)[0], np.asarray(rewards))
    returns = np.asarray(rewards) - np.mean(rewards)
    with ce.tf.GradientTape() as tape:
        log_p = [keras.ops.log_softmax(model(board)) for board in boards]
        loss = -sum(
            keras.ops.sum(keras.ops.one_hot(a, 3) * p, axis=-1) * returns
            for a, p in zip(taken, log_p)
        )
        loss = keras.ops.mean(loss) - entropy * keras.ops.mean(
            keras.ops.stack([-keras.ops.sum(keras.ops.exp(p) * p, axis=-1) for p in log_p])
        )
    expected = tape.gradient(loss, model.trainable_variables)
    for got, want in zip(gradients, expected):
        np.testing.assert_allclose(np.asarray(got)[0], np.asarray(want), atol=2e-5)
    # not a zero gradient that matches
    assert max(float(np.abs(np.asarray(g)).max()) for g in gradients) > 1e-3


def test_a_game_can_be_named_for_a_linear_policy_of_303_weights():
    assert rl.parse_games("1x1,4x3noslack,1x1linear") == [
        (1, 1, True, False),
        (4, 3, False, False),
        (1, 1, True, True),
    ]
    assert rl.game_key(1, 1, True, True) == "1x1linear" and "linear policy" in rl.game_name(
        1, 1, True, True
    )
    assert ce.flatten_weights(ce.build_policy(0)).size == 303
    assert ce.check(rl.StudyConfig(hidden_units=0), rl.ACCEPTS).hidden_units == 0


def test_es_candidates_can_play_fewer_start_states_the_same_for_both_of_a_pair():
    config = rl.StudyConfig(es_starts=20, population_size=10, generations=1)
    played = []
    player = rl.es_player(config)

    def play(strategy):
        catches, rewards, before = player(strategy)
        played.append(rewards)
        return catches, rewards, before

    ce.run_training(config, attempt=ce.played_by(play, config), progress=lambda history, done: None)
    rewards = played[0]
    # means of 20 games
    assert rewards.shape == (10,) and np.allclose(rewards * 20, np.round(rewards * 20))
    # all 80: catch_es's own player
    assert rl.es_player(rl.StudyConfig()).__qualname__.startswith("play_here")


# REINFORCE beside the ES ---------------------------------------------------------------------------


def random_policy_catch_rate(games_per_start=50):
    """The exact expected catch rate of uniformly random actions, estimated over many games."""
    columns, centres = (np.tile(states, games_per_start) for states in ce.start_states())
    rng = np.random.default_rng(0)
    rewards = ce.play_games(
        lambda state: rng.integers(0, 3, len(columns)).astype("int32"), columns, centres
    )
    return float(np.mean(np.asarray(rewards) > 0))


def test_compare_trains_both_learners_and_writes_table_and_plot(tmp_path, capsys):
    folder = tmp_path / "compare"
    rows = rl.main(
        [
            "--out",
            str(folder),
            "--population-size",
            "10",
            "--compare-games",
            "24000",
            "--log-every",
            "50",
        ]
    )
    out = capsys.readouterr().out
    assert {path.name for path in folder.iterdir()} == {
        "config.json",
        "comparison.csv",
        "es_history.csv",
        "reinforce_history.csv",
        "es_vs_reinforce.png",
        "run.lock",
    }
    table = list(csv.DictReader(open(folder / "comparison.csv")))
    assert (
        [row["learner"] for row in table] == ["ES", "REINFORCE"] == [row["learner"] for row in rows]
    )
    es, reinforce = table
    assert es["backprop_gradients"] == "0"
    # REINFORCE, from the same initial weights, lifts the greedy policy far above random play.
    assert int(reinforce["final_catches"]) / 80 >= random_policy_catch_rate() + 0.5
    history = list(csv.DictReader(open(folder / "reinforce_history.csv")))
    es_history = list(csv.DictReader(open(folder / "es_history.csv")))
    assert history[0]["catch_rate"] == es_history[0]["catch_rate"]  # the same initial network
    # one backpropagated gradient per update
    assert int(reinforce["backprop_gradients"]) == int(history[-1]["games"]) // 80
    # the budget, and the measurements watched after it
    assert int(history[-1]["games"]) <= 24000 + rl.HOLD * rl.CADENCE
    assert "games until solved" in out and "REINFORCE" in out
    with Image.open(folder / "es_vs_reinforce.png") as image:
        assert image.format == "PNG"


def test_the_study_is_a_notebook_that_runs_top_to_bottom(tmp_path, study_notebook):
    printed = study_notebook(
        STUDY,
        'rows = main(["--population-size", "10", "--compare-games", "3000", "--out", "nb"])'
        '\nprint(rows[1]["learner"])',
    )
    assert "REINFORCE" in printed
    assert (tmp_path / "nb" / "comparison.csv").is_file()


def test_the_study_runs_as_a_script(tmp_path):
    completed = subprocess.run(
        [sys.executable, STUDY, "--population-size", "10", "--compare-games", "3000"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert completed.returncode == 0 and completed.stderr == "", completed.stderr[-2000:]
    assert completed.stdout.startswith(
        "--fall-every 1 --action-repeat 1: a policy that catches all 80 fruits exists"
    )
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
        else ["--population-size", "10", "--compare-games", "2000"]
    )
    with pytest.raises(SystemExit) as exit:
        rl.main(args + out + tiny)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 74 and lines == [
        f"es_vs_rl.py: stopped: cannot write {tmp_path / 'out' / written}: No space left on device"
    ]
    assert not [path for path in (tmp_path / "out").iterdir() if ".tmp" in path.name]


def test_gradient_noise_without_any_noise_is_no_signal_or_an_infinite_ratio_never_nan():
    # every game ended alike: every estimate zero
    assert rl.snr_interval(np.zeros((20, 5))) == (0.0, 0.0, 0.0)
    assert rl.snr_interval(np.ones((20, 5))) == (np.inf, np.inf, np.inf)
    mostly = np.zeros((20, 5))
    mostly[0] = 1.0  # a half without this row has no noise at all
    snr, low, high = rl.snr_interval(mostly)
    assert np.isfinite(snr) and low <= snr <= high


def test_the_claims_use_each_learner_s_winner_of_the_committed_tuning():
    rows = rl.read_csv(ce.Path(rl.__file__).parent / "benchmarks" / "claims" / "tune.csv")
    for learner, grid in rl.TUNING.items():
        settings = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
        mine = [row for row in rows if row["learner"] == learner]
        assert len(mine) == len(settings) * 5 and {row["seed"] for row in mine} == set(
            range(2000, 2005)
        )
        assert rl.TUNED[learner] == max(
            settings, key=lambda setting: rl.tune_score(rows, learner, setting)
        )
    measured = set(range(rl.FIRST_SEED, rl.FIRST_SEED + 30))
    # nobody is tuned on the seeds the claims measure
    assert not measured & {row["seed"] for row in rows}


def test_the_committed_claims_are_every_game_s_30_seeds_by_every_learner_ended_by_games_or_solved_never_a_clock(
    tmp_path,
):
    folder = ce.Path(rl.__file__).parent / "benchmarks" / "claims"
    runs = rl.read_csv(folder / "claims.csv")
    games = [rl.game_of_row(run) for run in runs]
    assert sorted(set(games), key=rl.ORDER.index) == rl.ORDER
    for game in rl.ORDER:
        assert sorted(
            (run["seed"], run["learner"]) for run in runs if rl.game_of_row(run) == game
        ) == sorted(itertools.product(range(rl.FIRST_SEED, rl.FIRST_SEED + 30), rl.LEARNERS))
    assert {run["why"] for run in runs} <= {"solved", "games"}
    assert all(run["played"] >= 3_000_000 for run in runs if run["why"] == "games")
    # The study's own --plot-only writes the committed tables again from the committed CSV files, number for number.
    for name in ("claims.csv", "snr.csv"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    assert rl.claims(["--plot-only", "--out", str(tmp_path)]) is not None
    tables = (tmp_path / "tables.txt").read_text()
    assert tables == (folder / "tables.txt").read_text()
    # The README's table is the one tables.txt ends with, and every figure the study's verdict and the README quote
    # (fractions with intervals, intervals, p values, ratios' ranges, signal-to-noise ratios) is one of its lines'.
    readme = (folder.parent.parent / "docs" / "studies.md").read_text()
    assert "\n".join(rl.readme_table(runs)) in readme
    verdict = (
        ce.Path(rl.__file__).read_text().split("## What the measurements say")[1].split('"""')[0]
    )
    quoted = readme.split("**The committed run**")[1].split("## ")[0] + verdict
    figures = re.findall(
        r"\d+/\d+ \[[\d.]+, [\d.]+\]|\[[-+]?[\d.,]+(?:e-\d+)?, [-+]?[\d.,]+(?:e-\d+)?\]|p = \d+(?:\.\d+)?"
        r"|\d\.\d+e-\d+|\d[\d.]* to \d[\d.]*(?= times)",
        quoted,
    )
    assert len(figures) > 20
    assert [figure for figure in figures if figure not in tables] == []


def test_the_comparison_says_when_its_settings_are_not_the_tuned_ones_and_how_to_get_them():
    note = rl.tuned_note(rl.StudyConfig())
    assert note.startswith("(not the settings the claims tuned")
    options = note.split(f"python {rl.PROG} ")[1].rstrip(")").split()
    given, _, _ = ce.parse_args(options, rl.StudyConfig, rl.ACCEPTS, rl.PROG)
    tuned = rl.StudyConfig(**given)
    assert rl.tuned_note(tuned) == ""  # the options it names are the tuned settings
    assert tuned.sigma == rl.TUNED["ES"]["sigma"] and tuned.es_starts == rl.TUNED["ES"]["es_starts"]


def test_a_ratio_no_log_axis_holds_is_drawn_in_a_band_of_its_own():
    assert rl.snr_shown(0.02) == 0.02
    assert rl.snr_shown(float("inf")) == rl.SNR_BANDS["∞"]
    assert rl.snr_shown(0.0) == rl.SNR_BANDS["0"] != rl.snr_shown(-4e-3) == rl.SNR_BANDS["< 0"]
    assert all(
        rl.SNR_FLOOR > at or at > 10 for at in rl.SNR_BANDS.values()
    )  # below or above every real one
