"""The ES-vs-RL study: the rules of both knobs, whether every fruit can be caught, REINFORCE, the comparison, the
measurement of the claims, and the study as a script and a notebook."""
import argparse
import csv
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import catch_es as ce
import es_vs_rl as rl

STUDY = str(ce.Path(rl.__file__))

VARIANTS = [(1, 1, True), (2, 1, True), (3, 1, True), (8, 1, True), (1, 2, True), (1, 3, True), (2, 3, True),
            (3, 2, True), (1, 9, True), (4, 5, True), (3, 1, False), (2, 3, False)]


def rules(choose, column, centre, fall_every, action_repeat, slack=True):
    """The issue's rules for one game, in plain Python: (reward, [(fruit row, basket centre) after each step])."""
    row, action, seen = 0, None, [(0, centre)]
    for t in range(9 * fall_every):
        if t % action_repeat == 0:
            action = choose(row, column, centre)
        if slack or (t + 1) % fall_every == 0:  # without slack the basket moves only when the fruit falls
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
    """The greedy policy of `model`, one board at a time, for `rules`."""
    return lambda row, column, centre: int(np.argmax(model(board(row, column, centre)[None])[0]))


@pytest.mark.parametrize("fall_every, action_repeat, slack", VARIANTS)
def test_the_knobs_follow_the_rules_for_every_start_state(fall_every, action_repeat, slack):
    model = random_model(fall_every * 10 + action_repeat)
    columns, centres = ce.start_states()
    expected = [rules(chooser(model), c, b, fall_every, action_repeat, slack) for c, b in zip(columns, centres)]
    rewards = rl.play_variant(ce.greedy(model), columns, centres, fall_every=fall_every, action_repeat=action_repeat,
                              slack=slack)
    np.testing.assert_array_equal(np.asarray(rewards), [reward for reward, _ in expected])
    # Step by step, the fruit's row and the basket's centre after each step follow the rules too.
    state, policy, actions = ce.reset(columns[:12], centres[:12]), ce.greedy(model), None
    seen = [[(0, int(centre))] for centre in centres[:12]]
    for t in range(9 * fall_every):
        actions = policy(state) if t % action_repeat == 0 else actions
        state, _ = rl.step_variant(state, actions, t, fall_every, slack)
        for game, rows in enumerate(seen):
            rows.append((int(np.asarray(state.fruit_row)[game]), int(np.asarray(state.basket_centre)[game])))
    assert seen == [game_seen for _, game_seen in expected[:12]]


def test_the_fruit_falls_on_every_m_th_step_and_scores_only_at_the_end():
    state, rows, rewards = ce.reset(np.array([5], "int32"), np.array([5], "int32")), [], []
    for t in range(9 * 3):
        state, reward = rl.step_variant(state, np.array([ce.STAY], "int32"), t, 3)
        rows.append(int(np.asarray(state.fruit_row)[0]))
        rewards.append(float(np.asarray(reward)[0]))
    assert rows == [0, 0, 1, 1, 1, 2, 2, 2, 3] + [3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9]
    assert rewards == [0.0] * 26 + [1.0]  # not when the fruit sits on row 8 for three steps, only at the end


def test_an_action_is_held_for_k_steps():
    # RIGHT while the basket covers column 1, LEFT otherwise: chosen at t = 0, 3 and 6, each held for 3 steps.
    policy = lambda state: np.where(np.asarray(ce.observe(state))[:, 91] > 0, ce.RIGHT, ce.LEFT).astype("int32")  # noqa
    state, moves, actions = ce.reset(np.array([0], "int32"), np.array([2], "int32")), [], None
    for t in range(9):
        if t % 3 == 0:
            actions = policy(state)
        state, _ = rl.step_variant(state, actions, t, 1)
        moves.append(int(np.asarray(state.basket_centre)[0]))
    assert moves == [3, 4, 5, 4, 3, 2, 3, 4, 5]
    # play_variant holds them the same way: the basket ends at 5, under a fruit in column 4, not one in column 0.
    rewards = rl.play_variant(policy, np.array([4, 0], "int32"), np.array([2, 2], "int32"), action_repeat=3)
    np.testing.assert_array_equal(np.asarray(rewards), [1.0, -1.0])


def test_with_both_knobs_at_one_the_game_is_catch_es_step_for_step():
    columns, centres = ce.start_states()
    for seed in range(3):
        model = random_model(seed)
        np.testing.assert_array_equal(np.asarray(rl.play_variant(ce.greedy(model), columns, centres)),
                                      np.asarray(ce.play(ce.greedy(model), columns, centres)))


def test_with_both_knobs_at_one_the_es_learns_exactly_as_in_catch_es():
    config, quiet = rl.StudyConfig(generations=40), lambda history, done: None
    looped = ce.train(config, ce.Hooks(quiet, play=rl.es_player(config)))  # play_variant's loop
    plain = ce.train(ce.Config(generations=40), ce.Hooks(quiet))  # catch_es's play
    np.testing.assert_array_equal(ce.flatten_weights(looped.model), ce.flatten_weights(plain.model))
    assert [row["mean_reward"] for row in looped.history] == [row["mean_reward"] for row in plain.history]


def functional_policy(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((100,))
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(16, activation="relu")(inputs)))


def test_both_roads_of_the_player_play_the_variant_they_are_given():
    model = random_model(4)
    theta = ce.flatten_weights(model)
    population = theta + 0.5 * np.random.default_rng(0).standard_normal((6, theta.size)).astype("float32")
    config = rl.StudyConfig(fall_every=3, action_repeat=2)
    lookup = ce.make_player(model, rl.game_of(config))(population)
    general = functional_policy(4)  # the same weights in a model the player runs whole
    general.set_weights(model.get_weights())
    np.testing.assert_array_equal(lookup, ce.make_player(general, rl.game_of(config))(population))
    ce.set_flat_weights(model, population[2])
    expected = rl.play_variant(ce.greedy(model), *ce.start_states(), fall_every=3, action_repeat=2)
    np.testing.assert_array_equal(lookup[2], np.asarray(expected))


# Can every fruit be caught? ---------------------------------------------------------------------------

@pytest.mark.parametrize("fall_every, action_repeat, slack", [(1, 1, True), (2, 1, True), (4, 1, True), (8, 1, True),
                                                              (1, 2, True), (1, 3, True), (3, 3, True), (4, 1, False),
                                                              (8, 1, False)])
def test_every_fruit_can_be_caught_and_the_policy_found_does_it(fall_every, action_repeat, slack):
    answer = rl.winnable(fall_every, action_repeat, slack)
    assert answer.verdict is True and answer.lost == []
    # The policy the search found is a table from boards to actions; under the rules it catches all 80.
    choose = lambda row, column, centre: answer.policy[column, row, centre]  # noqa: E731
    assert all(rules(choose, c, b, fall_every, action_repeat, slack)[0] == 1 for c, b in zip(*ce.start_states()))


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
    assert answer.lost == [(int(c), int(b)) for c, b in zip(*ce.start_states())
                           if all(abs(c - end) > 1 for end in ends(b))]
    assert len(answer.lost) == 20
    assert "no policy catches every fruit" in rl.describe_winnable(fall_every, 9 * fall_every)
    assert "at most 60/80" in rl.describe_winnable(fall_every, 9 * fall_every)


def test_a_search_that_runs_out_of_boards_says_it_is_undecided():
    answer = rl.winnable(8, 1, node_limit=10)
    assert answer.verdict is None and answer.boards == 11 and answer.policy == {}
    assert "undecided whether any policy catches every fruit (11 boards tried)" in rl.describe_winnable(
        8, 1, node_limit=10)
    assert rl.winnable(1, 1, node_limit=720).verdict is True  # exactly enough: no backtracking needed


# The comparison, from the command line -------------------------------------------------------------

def test_an_unwinnable_variant_says_so_before_training(tmp_path, capsys):
    rl.main(["--action-repeat", "9", "--population-size", "10", "--compare-games", "3000", "--out",
             str(tmp_path / "run")])
    first = capsys.readouterr().out.splitlines()[0]
    assert first == ("--fall-every 1 --action-repeat 9: no policy catches every fruit: no sequence of actions "
                     "catches 20 of the 80 start states, so at most 60/80")


@pytest.mark.parametrize("args, message", [(["--fall-every", "0"], "--fall-every must be an integer >= 1, got 0"),
                                           (["--action-repeat", "-2"], "--action-repeat must be an integer >= 1, got -2")])
def test_knobs_below_one_are_refused(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        rl.main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and lines == [f"es_vs_rl.py: error: {message} (see --help)"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--compare-seconds", "inf"], "--compare-seconds must be a finite number > 0, got inf"),
    (["--reinforce-games-per-start", "100000000"], "GB of memory; this machine has"),
    (["--play", "policy.keras"], "unrecognized arguments: --play"),
    (["claims", "--settings", "0x1"], "expected MxK pairs"),
])
def test_the_study_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        rl.main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and len(lines) == 1 and message in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_reinforce_learns_a_long_game(tmp_path):
    config = rl.StudyConfig(fall_every=4, compare_games=60_000, compare_seconds=60)
    result = rl.train_reinforce(config, progress=lambda history, done: None)
    assert result.status == "solved"  # from the ES's initial weights: 22/80 for this seed
    assert result.history[0]["catch_rate"] < 0.5


# The claims, measured -------------------------------------------------------------------------------

def test_the_quick_claims_measure_every_learner_within_one_budget_of_games_and_never_touch_the_committed_results(
        tmp_path):
    out = tmp_path / "claims"
    # The quick mode as it is, on two of its three games (the third, --no-slack, has tests of its own above).
    completed = subprocess.run([sys.executable, STUDY, "claims", "--quick", "--settings", "1x1,1x9", "--out", str(out)],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    text = completed.stdout
    assert "--fall-every 1 --action-repeat 9: no policy catches every fruit" in text
    runs = rl.read_csv(out / "claims.csv")
    games = [(1, 1, True), (1, 9, True)]
    assert [(run["fall_every"], run["action_repeat"], run["slack"], run["learner"]) for run in runs] == [
        (*game, learner) for game in games for seed in range(2) for learner in rl.LEARNERS]
    for run in runs:  # every run ends solved, at the best possible, or at the games budget: never the clock
        assert run["why"] in ("solved", "best possible", "games")
        if run["why"] == "games":
            assert 300_000 <= run["played"] < 300_000 + 1601 * 80 and run["games"] == float("inf")
        else:
            assert run["played"] == run["games"] < 300_000 + 1601 * 80
        assert (run["learner"] == "REINFORCE") == (run["sampled_catch_rate"] != "")
        assert run["restarts"] == 0 or run["learner"] == "ES"
        if run["action_repeat"] == 9:
            assert run["target"] == 60 and run["final_catches"] <= 60
    snr = rl.read_csv(out / "snr.csv")
    assert {row["estimator"] for row in snr} == set(rl.ESTIMATORS)
    assert all(row["noise"] > 0 for row in snr) and {row["where"] for row in snr} <= {"initial", "plateau"}
    for picture in ("claims_games.png", "claims_snr.png"):
        with Image.open(out / picture) as image:
            assert image.format == "PNG"


def test_a_quick_try_never_writes_over_the_committed_results():
    assert rl.parse_claims_args(["--quick"]).out == "runs/claims-quick"
    assert rl.parse_claims_args([]).out == "benchmarks/claims"  # where the committed full run lives
    assert rl.parse_tune_args(["--quick"]).out == "runs/tune-quick"


def test_a_budget_binds_in_games_for_every_learner_and_the_measuring_games_count_for_none():
    config = rl.StudyConfig(fall_every=4, slack=False, compare_games=3_000, compare_seconds=300, render=False)
    runs = rl.race(config, show=False, no_restarts_too=True)
    assert list(runs) == list(rl.LEARNERS)
    for name, (result, why) in runs.items():
        per_row = result.history[-1]["games"] / len(result.history) - ce.FRUITS  # games to learn per row
        assert why == "games" and result.status != "solved", name  # nobody solves this game in 3,000 games
        assert rl.training_games(result.history) == result.history[-1]["games"] - ce.FRUITS * len(result.history)
        assert 3_000 <= rl.training_games(result.history) < 3_000 + per_row


def test_a_deadline_says_what_stopped_a_run():
    history = [dict(games=(ce.FRUITS + 100) * n, catch_rate=0.5) for n in range(1, 4)]
    deadline = rl.Deadline(games=300, seconds=60)
    deadline(history[:2], False)
    assert deadline.why == "" and not deadline.requested  # 200 games to learn: the 160 that measured not counted
    deadline(history, False)
    assert deadline.why == "games" and deadline.requested
    assert rl.Deadline(games=10**9, seconds=0).why == "clock"
    best = rl.Deadline(games=10**9, seconds=60, target=40)
    best(history, False)
    assert best.why == "best possible"


def compiled_generations(play_generation):
    """How many times the generation compiled inside a catch_es.play_here has been traced (once per strategy)."""
    compiled, = [cell.cell_contents for cell in play_generation.__closure__
                 if hasattr(cell.cell_contents, "experimental_get_tracing_count")]
    return compiled.experimental_get_tracing_count()


def test_compiling_comes_before_the_seeds_so_that_no_run_times_it_even_across_restarts():
    config = rl.StudyConfig(population_size=10, max_population_size=40, patience=3, compare_games=30_000,
                            compare_seconds=300, render=False)
    game = rl.Game(config, snr_games=320)
    compiled = compiled_generations(game.play_generation)
    assert compiled == 3 and len(game.strategies) == 3  # the populations 10, 20 and 40 a restart can reach
    runs = game.race(seed=1)
    assert runs["ES"].result.history[-1]["restarts"] >= 2  # it restarted into the larger populations ...
    assert compiled_generations(game.play_generation) == compiled  # ... and compiled nothing while the clock ran


def test_the_expected_catch_rate_of_the_sampled_policy_is_exact():
    config = rl.StudyConfig(fall_every=2, action_repeat=3)
    model = random_model(7)
    sampled = rl.sampled_catch_rate(model, config)
    # Against 400 sampled games per start state, played by the rules REINFORCE plays by.
    gradient = ce.tf.function(rl.reinforce_gradient(model, config, 100), jit_compile=True)
    rewards = np.concatenate([np.asarray(gradient(np.array([[seed, t] for t in range(18)], "int32"))[1])
                              for seed in range(4)])
    assert abs(np.mean(rewards > 0) - sampled) < 4 * np.sqrt(sampled * (1 - sampled) / rewards.size)
    # Scores a thousand times larger make the sampled policy the greedy one: then it is the exact catch rate.
    last = model.layers[-1]
    last.set_weights([1000 * weight for weight in last.get_weights()])
    greedy = ce.count_catches(rl.play_variant(ce.greedy(model), *ce.start_states(), 2, 3)) / ce.FRUITS
    assert rl.sampled_catch_rate(model, config) == pytest.approx(greedy, abs=1e-6)


def test_an_entropy_bonus_keeps_reinforce_s_actions_more_random():
    def entropy_after(bonus):
        config = rl.StudyConfig(reinforce_entropy=bonus, reinforce_learning_rate=0.03)
        learner = rl.Reinforce(config)
        learner.start(3)
        for update in range(15):
            learner.update(np.array([[3, update * 9 + t] for t in range(9)], "int32"))
        boards = ce.observe(ce.reset(*ce.start_states()))
        odds = np.asarray(keras.ops.softmax(learner.model(boards)))
        return float(np.mean(-np.sum(odds * np.log(odds), axis=-1)))
    assert entropy_after(1.0) > entropy_after(0.0) + 0.05


def test_the_plateau_kept_is_from_a_run_that_stalled_when_one_did():
    plateaus = rl.Plateaus(target=80)
    plateaus.watch("REINFORCE", 78, [1.0])
    plateaus.watch("REINFORCE", 80, [2.0])  # solved: not a plateau
    plateaus.keep("REINFORCE", seed=0, solved=True)
    plateaus.watch("REINFORCE", 77, [3.0])  # too far from 80
    plateaus.keep("REINFORCE", seed=1, solved=False)
    assert plateaus.found["REINFORCE"][:3] == (0, True, 78)
    plateaus.watch("REINFORCE", 79, [4.0])
    plateaus.keep("REINFORCE", seed=2, solved=False)  # a stalled run's plateau replaces a solved run's
    seed, solved, catches, weights = plateaus.found["REINFORCE"]
    assert (seed, solved, catches, list(weights)) == (2, False, 79, [4.0])
    plateaus.watch("REINFORCE", 79, [5.0])
    plateaus.keep("REINFORCE", seed=3, solved=False)  # the first stalled one stays
    assert plateaus.found["REINFORCE"][0] == 2


def test_unsolved_runs_are_drawn_at_the_games_they_played_marked_by_what_stopped_them(tmp_path):
    def run(learner, seed, why, played):
        solved = why == "solved"
        return dict(fall_every=1, action_repeat=1, slack=True, steps=9, seed=seed, learner=learner, solved=solved,
                    why=why, played=played, games=played if solved else float("inf"))
    runs = [run("ES", 0, "solved", 500_000), run("ES", 1, "games", 3_010_000),
            run("REINFORCE", 0, "solved", 8_000), run("REINFORCE", 1, "clock", 1_200_000)]
    figure = rl.plot_games(runs, argparse.Namespace(games=3_000_000, seeds=2), tmp_path)
    markers = {}
    for collection in figure.axes[0].collections:
        label = collection.get_label()
        if "not solved" in label:
            markers[label] = [tuple(float(value) for value in point) for point in collection.get_offsets()]
    assert markers == {"ES: not solved, stopped by the games budget": [(pytest.approx(9 * 0.92), 3_010_000)],
                       "REINFORCE: not solved, stopped by the clock": [(pytest.approx(9 * 1.08), 1_200_000)]}
    assert (tmp_path / "claims_games.png").is_file()


def test_tune_sweeps_reinforce_on_other_seeds_and_names_the_best(tmp_path, monkeypatch):
    monkeypatch.setattr(rl, "TUNING", {"reinforce_learning_rate": (0.0001, 0.01), "reinforce_games_per_start": (1,),
                                       "reinforce_entropy": (0.0,)})
    best = rl.tune(["--seeds", "2", "--games", "8000", "--settings", "1x1", "--out", str(tmp_path)])
    assert best == {"reinforce_learning_rate": 0.01, "reinforce_games_per_start": 1, "reinforce_entropy": 0.0}
    rows = rl.read_csv(tmp_path / "reinforce_sweep.csv")
    assert [(row["reinforce_learning_rate"], row["seed"]) for row in rows] == [(0.0001, 100), (0.0001, 101),
                                                                                 (0.01, 100), (0.01, 101)]
    assert not any(row["solved"] for row in rows[:2])  # a step too small to learn in 100 updates


# REINFORCE beside the ES ---------------------------------------------------------------------------

def random_policy_catch_rate(games_per_start=50):
    """The exact expected catch rate of uniformly random actions, estimated over many games."""
    columns, centres = (np.tile(states, games_per_start) for states in ce.start_states())
    rng = np.random.default_rng(0)
    rewards = ce.play(lambda state: rng.integers(0, 3, len(columns)).astype("int32"), columns, centres)
    return float(np.mean(np.asarray(rewards) > 0))


def test_compare_trains_both_learners_and_writes_table_and_plot(tmp_path, capsys):
    folder = tmp_path / "compare"
    rows = rl.main(["--out", str(folder), "--population-size", "10", "--compare-games", "20000", "--log-every", "50"])
    out = capsys.readouterr().out
    assert {path.name for path in folder.iterdir()} == {
        "config.json", "comparison.csv", "es_history.csv", "reinforce_history.csv", "es_vs_reinforce.png", "run.lock"}
    table = list(csv.DictReader(open(folder / "comparison.csv")))
    assert [row["learner"] for row in table] == ["ES", "REINFORCE"] == [row["learner"] for row in rows]
    es, reinforce = table
    assert es["backprop_gradients"] == "0"
    # REINFORCE, from the same initial weights, lifts the greedy policy far above random play.
    assert int(reinforce["final_catches"]) / 80 >= random_policy_catch_rate() + 0.5
    history = list(csv.DictReader(open(folder / "reinforce_history.csv")))
    es_history = list(csv.DictReader(open(folder / "es_history.csv")))
    assert history[0]["catch_rate"] == es_history[0]["catch_rate"]  # the same initial network
    assert int(reinforce["backprop_gradients"]) == len(history)  # one backpropagated gradient per update
    assert int(history[-1]["games"]) <= 20000 + 400  # the budget, give or take the last update
    assert "games until solved" in out and "REINFORCE" in out
    with Image.open(folder / "es_vs_reinforce.png") as image:
        assert image.format == "PNG"




def test_the_study_is_a_notebook_that_runs_top_to_bottom(tmp_path, study_notebook):
    printed = study_notebook(STUDY, 'rows = main(["--population-size", "10", "--compare-games", "3000", "--out", "nb"])'
                                    '\nprint(rows[1]["learner"])')
    assert "REINFORCE" in printed
    assert (tmp_path / "nb" / "comparison.csv").is_file()


def test_the_study_runs_as_a_script(tmp_path):
    completed = subprocess.run([sys.executable, STUDY, "--population-size", "10", "--compare-games", "3000"],
                               capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert completed.returncode == 0 and completed.stderr == "", completed.stderr[-2000:]
    assert completed.stdout.startswith("--fall-every 1 --action-repeat 1: a policy that catches all 80 fruits exists")
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("compare-seed0-") and (folder / "es_vs_reinforce.png").is_file()


@pytest.mark.parametrize("args, written", [([], "comparison.csv"), (["claims", "--settings", "1x9"], "claims.csv")])
def test_a_failed_write_of_the_study_is_one_line_and_leaves_no_half_file(tmp_path, monkeypatch, capsys, args, written):
    original = ce.write_atomically

    def half_then_full(temporary):
        temporary.write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    def full_disk(path, write):
        return original(path, half_then_full if path.name == written else write)

    monkeypatch.setattr(ce, "write_atomically", full_disk)
    out = ["--out", str(tmp_path / "out")]
    tiny = (["--seeds", "1", "--games", "2000", "--seconds", "5", "--snr-repeats", "2", "--es-snr-repeats", "2",
             "--snr-networks", "1"] if args else ["--population-size", "10", "--compare-games", "2000"])
    with pytest.raises(SystemExit) as exit:
        rl.main(args + out + tiny)
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 74 and lines == [
        f"es_vs_rl.py: stopped: cannot write {tmp_path / 'out' / written}: No space left on device"]
    assert not [path for path in (tmp_path / "out").iterdir() if ".tmp" in path.name]
