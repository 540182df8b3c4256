"""Longer games and action repeat: the rules of both knobs, whether every fruit can be caught, runs that keep them,
and benchmarks/claims.py."""
import csv
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import catch_es as ce

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
    rewards = ce.play_variant(ce.greedy(model), columns, centres, fall_every=fall_every, action_repeat=action_repeat)
    np.testing.assert_array_equal(np.asarray(rewards), [reward for reward, _ in expected])
    frames, replayed = ce.replay_variant(model, columns[:12], centres[:12], fall_every, action_repeat)
    np.testing.assert_array_equal(replayed, [reward for reward, _ in expected[:12]])
    for game_frames, (_, seen) in zip(frames, expected):
        assert len(game_frames) == 9 * fall_every + 1  # a game lasts 9·M steps: a frame before each, one after
        # (the last frame is left out: there the fruit is drawn over the basket's row)
        drawn = [(next(r for r, line in enumerate(f) if "O" in line), f[9].index("===") + 1) for f in game_frames[:-1]]
        assert drawn == seen[:-1]


def test_the_fruit_falls_on_every_m_th_step_and_scores_only_at_the_end():
    state, rows, rewards = ce.reset(np.array([5], "int32"), np.array([5], "int32")), [], []
    for t in range(9 * 3):
        state, reward = ce.step_variant(state, np.array([ce.STAY], "int32"), t, 3)
        rows.append(int(np.asarray(state.fruit_row)[0]))
        rewards.append(float(np.asarray(reward)[0]))
    assert rows == [0, 0, 1, 1, 1, 2, 2, 2, 3] + [3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9]
    assert rewards == [0.0] * 26 + [1.0]  # not when the fruit sits on row 8 for three steps, only at the end


def test_an_action_is_held_for_k_steps():
    # RIGHT while the basket covers column 1, LEFT otherwise: chosen at t = 0, 3 and 6, each held for 3 steps.
    policy = lambda boards: np.where(np.asarray(boards)[:, 91] > 0, ce.RIGHT, ce.LEFT).astype("int32")  # noqa: E731
    state, moves, actions = ce.reset(np.array([0], "int32"), np.array([2], "int32")), [], None
    for t in range(9):
        if t % 3 == 0:
            actions = policy(ce.observe(state))
        state, _ = ce.step_variant(state, actions, t, 1)
        moves.append(int(np.asarray(state.basket_centre)[0]))
    assert moves == [3, 4, 5, 4, 3, 2, 3, 4, 5]
    # play_variant holds them the same way: the basket ends at 5, under a fruit in column 4, not one in column 0.
    rewards = ce.play_variant(policy, np.array([4, 0], "int32"), np.array([2, 2], "int32"), action_repeat=3)
    np.testing.assert_array_equal(np.asarray(rewards), [1.0, -1.0])


def test_with_both_knobs_at_one_the_game_is_part_ones_step_for_step():
    columns, centres = ce.start_states()
    for seed in range(3):
        model = random_model(seed)
        np.testing.assert_array_equal(np.asarray(ce.play_variant(ce.greedy(model), columns, centres)),
                                      np.asarray(ce.play(ce.greedy(model), columns, centres)))
        (frames, rewards), (part_one_frames, part_one_rewards) = (
            replay(model, columns[::7], centres[::7]) for replay in (ce.replay_variant, ce.replay))
        assert frames == part_one_frames
        np.testing.assert_array_equal(rewards, part_one_rewards)


def test_with_both_knobs_at_one_a_run_learns_exactly_as_with_part_ones_game():
    config, quiet = ce.RunConfig(generations=40), lambda history, done: None
    keras.utils.set_random_seed(0)
    unrolled = ce.play_here(ce.make_lookup_player(ce.build_policy()))  # Part I's play, its nine steps unrolled
    looped = ce.run_training(config, quiet)  # play_variant's loop
    part_one = ce.run_training(config, quiet, play_generation=unrolled)
    np.testing.assert_array_equal(ce.flatten_weights(looped.model), ce.flatten_weights(part_one.model))
    assert [row["mean_reward"] for row in looped.history] == [row["mean_reward"] for row in part_one.history]


def test_both_players_play_the_variant_they_are_given():
    model = random_model(4)
    theta = ce.flatten_weights(model)
    population = theta + 0.5 * np.random.default_rng(0).standard_normal((6, theta.size)).astype("float32")
    config = ce.RunConfig(fall_every=3, action_repeat=2)
    lookup = ce.make_lookup_player(model, ce.game_of(config))(population)
    general = ce.make_population_player(model, ce.game_of(config))(population)
    np.testing.assert_array_equal(lookup, general)
    ce.set_flat_weights(model, population[2])
    expected = ce.play_variant(ce.greedy(model), *ce.start_states(), fall_every=3, action_repeat=2)
    np.testing.assert_array_equal(lookup[2], np.asarray(expected))


# Can every fruit be caught? ---------------------------------------------------------------------------

@pytest.mark.parametrize("fall_every, action_repeat", [(1, 1), (2, 1), (4, 1), (8, 1), (1, 2), (1, 3), (3, 3)])
def test_every_fruit_can_be_caught_and_the_policy_found_does_it(fall_every, action_repeat):
    answer = ce.winnable(fall_every, action_repeat)
    assert answer.verdict is True and answer.lost == []
    # The policy the search found is a table from boards to actions; under the rules it catches all 80.
    choose = lambda row, column, centre: answer.policy[column, row, centre]  # noqa: E731
    assert all(rules(choose, c, b, fall_every, action_repeat)[0] == 1 for c, b in zip(*ce.start_states()))


@pytest.mark.parametrize("fall_every", [1, 2])
def test_one_decision_per_game_cannot_catch_every_fruit(fall_every):
    answer = ce.winnable(fall_every, 9 * fall_every)
    assert answer.verdict is False
    # One action held for the whole game leaves the basket at 1, where it started, or 8.
    ends = lambda centre: {1, centre, 8}  # noqa: E731
    assert answer.lost == [(int(c), int(b)) for c, b in zip(*ce.start_states())
                           if all(abs(c - end) > 1 for end in ends(b))]
    assert len(answer.lost) == 20
    assert "no policy catches every fruit" in ce.describe_winnable(fall_every, 9 * fall_every)
    assert "at most 60/80" in ce.describe_winnable(fall_every, 9 * fall_every)


def test_a_search_that_runs_out_of_boards_says_it_is_undecided():
    answer = ce.winnable(8, 1, node_limit=10)
    assert answer.verdict is None and answer.boards == 11 and answer.policy == {}
    assert "undecided whether any policy catches every fruit (11 boards tried)" in ce.describe_winnable(8, 1, 10)
    assert ce.winnable(1, 1, node_limit=720).verdict is True  # exactly enough: no backtracking needed


# Runs that keep their game ----------------------------------------------------------------------------

def test_a_variant_trains_saves_and_replays_with_its_own_rules(tmp_path, capsys):
    folder = tmp_path / "run"
    result = ce.main(["--fall-every", "2", "--action-repeat", "2", "--out", str(folder), "--no-render"])
    out = capsys.readouterr().out
    assert out.startswith("--fall-every 2 --action-repeat 2: a policy that catches all 80 fruits exists")
    assert result.status == "solved"
    assert json.loads((folder / "config.json").read_text())["fall_every"] == 2
    with Image.open(folder / "catch.gif") as gif:  # every step of six games (Pillow merges repeated frames)
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
    assert sum(durations) == 6 * (9 * 2 * 70 + 6 * 70)  # 18 steps of 70 ms, and the verdict held 6 frames long
    rewards = ce.play_variant(ce.greedy(result.model), *ce.start_states(), fall_every=2, action_repeat=2)
    assert ce.count_catches(rewards) == 80
    policy = str(folder / "policy.keras")
    ce.main(["--play", policy, "--no-render"])
    assert "catches 80/80 fruits: exact catch rate 100.0%, on the game --fall-every 2 --action-repeat 2" in \
        capsys.readouterr().out
    # Asked to, it plays the same network on Part I's game instead, and says nothing of a variant.
    ce.main(["--play", policy, "--fall-every", "1", "--action-repeat", "1"])
    out = capsys.readouterr().out
    part_one = ce.count_catches(ce.play(ce.greedy(result.model), *ce.start_states()))
    assert f"catches {part_one}/80 fruits: exact catch rate {part_one / 80:.1%}\n" in out
    assert out.count("caught!") + out.count("missed.") == 3
    lines = out.splitlines()
    first_verdict = next(index for index, line in enumerate(lines) if line in ("caught!", "missed."))
    assert first_verdict == 1 + 10  # the catch rate, then Part I's game: one strip of 10 frames


def test_a_longer_game_is_printed_in_strips_of_ten_frames():
    model = random_model(0)
    frames, rewards = ce.replay_variant(model, [4], [2], 3, 1)
    lines = []
    ce.show_games(frames, rewards, out=type("Out", (), {"write": lambda self, text: lines.append(text)})())
    text = "".join(lines).split("\n")
    assert len(text[0].split("  ")) == 10 and text[10] == "" and len(text[11].split("  ")) == 10
    assert sum(len(line.split("  ")) for line in text if "=" in line) == 28  # 9·3 + 1 frames in all


def test_an_unwinnable_variant_says_so_before_training(tmp_path, capsys):
    ce.main(["--action-repeat", "9", "--generations", "3", "--out", str(tmp_path / "run"), "--no-render"])
    first = capsys.readouterr().out.splitlines()[0]
    assert first == ("--fall-every 1 --action-repeat 9: no policy catches every fruit: no sequence of actions "
                     "catches 20 of the 80 start states, so at most 60/80")


def test_a_resumed_variant_keeps_its_game(tmp_path, capsys):
    folder = tmp_path / "run"
    ce.main(["--fall-every", "3", "--generations", "4", "--out", str(folder), "--no-render", "--checkpoint-every", "2"])
    with pytest.raises(SystemExit) as exit:
        ce.main(["--resume", str(folder), "--fall-every", "1", "--generations", "8"])
    assert exit.value.code == 2 and "--fall-every 1 differs from the run's 3" in capsys.readouterr().err
    result = ce.main(["--resume", str(folder), "--generations", "8", "--no-render"])
    assert json.loads((folder / "config.json").read_text())["fall_every"] == 3
    straight = ce.run_training(ce.RunConfig(fall_every=3, generations=len(result.history), checkpoint_every=2),
                               progress=lambda history, done: None)
    np.testing.assert_array_equal(ce.flatten_weights(result.model), ce.flatten_weights(straight.model))


@pytest.mark.parametrize("args, message", [(["--fall-every", "0"], "--fall-every must be an integer >= 1, got 0"),
                                           (["--action-repeat", "-2"], "--action-repeat must be an integer >= 1")])
def test_knobs_below_one_are_refused(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        ce.main(args)
    assert exit.value.code == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_reinforce_learns_a_long_game(tmp_path):
    config = ce.CompareConfig(fall_every=4, compare_games=60_000, compare_seconds=60)
    result = ce.train_reinforce(config, progress=lambda history, done: None)
    assert result.status == "solved"  # from the ES's initial weights: 22/80 for this seed
    assert result.history[0]["catch_rate"] < 0.5


# benchmarks/claims.py ---------------------------------------------------------------------------------

def test_claims_measures_both_learners_on_each_game_and_writes_its_tables_and_plots(tmp_path):
    out = tmp_path / "claims"
    completed = subprocess.run(
        [sys.executable, str(ce.Path(ce.__file__).parent / "benchmarks" / "claims.py"), "--seeds", "1",
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


def test_claims_refuses_a_game_it_cannot_play(tmp_path):
    completed = subprocess.run([sys.executable, str(ce.Path(ce.__file__).parent / "benchmarks" / "claims.py"),
                                "--settings", "0x1", "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert completed.returncode == 2 and "expected MxK pairs" in completed.stderr
    assert not (tmp_path / "x").exists()


def test_play_refuses_a_damaged_config_beside_the_network(tmp_path, capsys):
    random_model(0).save(tmp_path / "policy.keras")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(SystemExit) as exit:
        ce.main(["--play", str(tmp_path / "policy.keras")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and len(lines) == 1 and "cannot read the config.json beside it" in lines[0]
