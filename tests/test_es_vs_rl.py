"""The ES-vs-RL study: the rules of both knobs, whether every fruit can be caught, REINFORCE, the comparison, the
measurement of the claims, and the study as a script and a notebook."""
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

VARIANTS = [(1, 1), (2, 1), (3, 1), (8, 1), (1, 2), (1, 3), (2, 3), (3, 2), (1, 9), (4, 5)]


def rules(choose, column, centre, fall_every, action_repeat):
    """The issue's rules for one game, in plain Python: (reward, [(fruit row, basket centre) after each step])."""
    row, action, seen = 0, None, [(0, centre)]
    for t in range(9 * fall_every):
        if t % action_repeat == 0:
            action = choose(row, column, centre)
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


@pytest.mark.parametrize("fall_every, action_repeat", VARIANTS)
def test_both_knobs_follow_the_rules_for_every_start_state(fall_every, action_repeat):
    model = random_model(fall_every * 10 + action_repeat)
    columns, centres = ce.start_states()
    expected = [rules(chooser(model), c, b, fall_every, action_repeat) for c, b in zip(columns, centres)]
    rewards = rl.play_variant(ce.greedy(model), columns, centres, fall_every=fall_every, action_repeat=action_repeat)
    np.testing.assert_array_equal(np.asarray(rewards), [reward for reward, _ in expected])
    # Step by step, the fruit's row and the basket's centre after each step follow the rules too.
    state, policy, actions = ce.reset(columns[:12], centres[:12]), ce.greedy(model), None
    seen = [[(0, int(centre))] for centre in centres[:12]]
    for t in range(9 * fall_every):
        actions = policy(state) if t % action_repeat == 0 else actions
        state, _ = rl.step_variant(state, actions, t, fall_every)
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
    looped = ce.train(config, quiet, play_generation=rl.es_player(config))  # play_variant's loop
    plain = ce.train(ce.Config(generations=40), quiet)  # catch_es's play
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

@pytest.mark.parametrize("fall_every, action_repeat", [(1, 1), (2, 1), (4, 1), (8, 1), (1, 2), (1, 3), (3, 3)])
def test_every_fruit_can_be_caught_and_the_policy_found_does_it(fall_every, action_repeat):
    answer = rl.winnable(fall_every, action_repeat)
    assert answer.verdict is True and answer.lost == []
    # The policy the search found is a table from boards to actions; under the rules it catches all 80.
    choose = lambda row, column, centre: answer.policy[column, row, centre]  # noqa: E731
    assert all(rules(choose, c, b, fall_every, action_repeat)[0] == 1 for c, b in zip(*ce.start_states()))


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
    assert "undecided whether any policy catches every fruit (11 boards tried)" in rl.describe_winnable(8, 1, 10)
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

def test_claims_measures_both_learners_on_each_game_and_writes_its_tables_and_plots(tmp_path):
    out = tmp_path / "claims"
    completed = subprocess.run(
        [sys.executable, STUDY, "claims", "--seeds", "1",
         "--games", "40000", "--seconds", "20", "--snr-repeats", "3", "--es-snr-repeats", "4", "--snr-networks", "1",
         "--settings", "1x1,2x1,1x9", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    text = completed.stdout
    assert "--fall-every 2 --action-repeat 1: a policy that catches all 80 fruits exists" in text
    assert "--fall-every 1 --action-repeat 9: no policy catches every fruit" in text
    assert text.count("median games to 80/80") == 3
    runs = list(csv.DictReader(open(out / "claims.csv")))
    assert [(run["fall_every"], run["action_repeat"], run["learner"]) for run in runs] == [
        (m, k, learner) for m, k in [("1", "1"), ("2", "1"), ("1", "9")] for learner in ("ES", "REINFORCE")]
    for run in runs:
        assert int(run["played"]) <= 40000 + 2 * 1601 * 80  # the budget, give or take the last generation
        if run["action_repeat"] == "9":
            assert run["solved"] == "False" and int(run["final_catches"]) <= 60
    assert all(run["solved"] == "True" for run in runs if run["learner"] == "REINFORCE" and run["action_repeat"] == "1")
    snr = list(csv.DictReader(open(out / "snr.csv")))
    assert len(snr) == 6 and all(float(row["noise"]) > 0 for row in snr)
    assert [row["estimates"] for row in snr[:2]] == ["4", "3"]
    for picture in ("claims_games.png", "claims_snr.png"):
        with Image.open(out / picture) as image:
            assert image.format == "PNG"


def test_a_quick_try_never_writes_over_the_committed_results():
    assert rl.parse_claims_args(["--quick"]).out == "runs/claims-quick"
    assert rl.parse_claims_args([]).out == "benchmarks/claims"  # where the committed full run lives


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
