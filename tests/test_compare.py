"""ES vs RL: REINFORCE learns, --compare writes its table and plot, a tiny sigma is reported stuck."""
import csv

import numpy as np
from PIL import Image

import catch_es as ce


def random_policy_catch_rate(games_per_start=50):
    """The exact expected catch rate of uniformly random actions, estimated over many games."""
    columns, centres = (np.tile(states, games_per_start) for states in ce.start_states())
    rng = np.random.default_rng(0)
    rewards = ce.play(lambda boards: rng.integers(0, 3, len(columns)).astype("int32"), columns, centres)
    return float(np.mean(np.asarray(rewards) > 0))


def test_compare_trains_both_learners_and_writes_table_and_plot(tmp_path, capsys):
    folder = tmp_path / "compare"
    rows = ce.main(["--compare", "--out", str(folder), "--population-size", "10", "--compare-games", "20000",
                    "--log-every", "50"])
    out = capsys.readouterr().out
    assert {path.name for path in folder.iterdir()} == {
        "config.json", "comparison.csv", "es_history.csv", "reinforce_history.csv", "es_vs_reinforce.png"}
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


def test_a_sigma_too_small_to_change_any_action_is_reported_stuck(tmp_path, capsys):
    ce.main(["--sigma", "1e-8", "--out", str(tmp_path / "run"), "--no-render"])
    out = capsys.readouterr().out
    assert "stuck: for 10 generations every candidate scored the same, so every step was exactly zero" in out
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert len(rows) == ce.STUCK_AFTER  # it stopped instead of running 1,000 generations of nothing
    assert all(row["min_reward"] == row["max_reward"] for row in rows)
