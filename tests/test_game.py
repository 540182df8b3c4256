"""The rules of Catch, checked one by one on the array implementation."""

import numpy as np
import pytest

import catch_es as ce


def as_np(state):
    return ce.CatchState(*(np.asarray(part) for part in state))


def test_start_states_are_all_80_fair_starts():
    columns, centres = ce.start_states()
    assert len(columns) == len(centres) == ce.START_COUNT == 80
    assert set(columns) == set(range(10))
    assert set(centres) == set(range(1, 9))  # the whole basket is always on the grid
    assert len(set(zip(columns, centres))) == 80


def test_reset_puts_every_fruit_on_the_top_row():
    columns, centres = ce.start_states()
    state = as_np(ce.reset(columns, centres))
    assert np.all(state.fruit_row == 0)
    np.testing.assert_array_equal(state.fruit_column, columns)
    np.testing.assert_array_equal(state.basket_centre, centres)


def test_observation_is_the_board_row_major():
    state = ce.CatchState(
        np.array([3, 0], "int32"), np.array([7, 0], "int32"), np.array([4, 1], "int32")
    )
    boards = np.asarray(ce.observe(state))
    assert boards.shape == (2, 100)
    expected = np.zeros((2, 10, 10), "float32")
    expected[0, 3, 7] = 1
    expected[0, 9, 3:6] = 1
    expected[1, 0, 0] = 1
    expected[1, 9, 0:3] = 1
    np.testing.assert_array_equal(boards.reshape(2, 10, 10), expected)


@pytest.mark.parametrize(
    "centre, action, expected",
    [
        (4, ce.LEFT, 3),
        (4, ce.STAY, 4),
        (4, ce.RIGHT, 5),
        (1, ce.LEFT, 1),
        (8, ce.RIGHT, 8),
        (2, ce.LEFT, 1),
        (7, ce.RIGHT, 8),
    ],
)
def test_basket_moves_by_its_action_and_stays_on_the_grid(centre, action, expected):
    state = ce.reset(np.array([0], "int32"), np.array([centre], "int32"))
    state, _ = ce.step(state, np.array([action], "int32"))
    assert int(np.asarray(state.basket_centre)[0]) == expected


def test_fruit_falls_one_row_per_step_and_reward_comes_only_at_the_end():
    columns, centres = ce.start_states()
    state = ce.reset(columns, centres)
    for step in range(1, 10):
        state, reward = ce.step(state, np.full(80, ce.STAY, "int32"))
        state_np = as_np(state)
        assert np.all(state_np.fruit_row == step)
        np.testing.assert_array_equal(state_np.fruit_column, columns)  # fruit falls straight down
        if step < 9:
            assert np.all(np.asarray(reward) == 0)
    reward = np.asarray(reward)
    # A basket that never moves catches exactly the fruits within one column of its centre.
    np.testing.assert_array_equal(reward, np.where(np.abs(columns - centres) <= 1, 1.0, -1.0))
    assert ce.count_catches(reward) == 24


def chase(state):
    """A hand-written perfect player: move towards the fruit's column, as it sees it on the board."""
    boards = np.asarray(ce.observe(state)).reshape(-1, 10, 10)
    fruit_column = boards[:, :9, :].sum(axis=1).argmax(axis=1)
    bottom = boards[:, 9, :]
    centre = np.array([np.flatnonzero(row).mean() for row in bottom])
    return (np.sign(fruit_column - centre) + 1).astype("int32")


def test_a_perfect_player_catches_all_80_and_a_stubborn_one_does_not():
    columns, centres = ce.start_states()
    assert ce.count_catches(ce.play_games(chase, columns, centres)) == 80
    always_left = lambda state: np.zeros(len(state.fruit_row), "int32")  # noqa: E731
    # Nine steps left bring every basket to the left edge: it catches columns 0 to 2 only.
    assert ce.count_catches(ce.play_games(always_left, columns, centres)) == 3 * 8


def test_draw_shows_fruit_and_basket():
    state = ce.CatchState(np.array([2]), np.array([5]), np.array([1]))
    lines = ce.draw(state)
    assert lines[2] == ".....O...."
    assert lines[9] == "===......."


def test_the_compiled_loop_plays_the_game_as_steps_taken_one_by_one():
    columns, centres = ce.start_states()

    def policy(state):
        return ((np.asarray(state.fruit_column) + np.asarray(state.fruit_row)) % 3).astype("int32")  # noqa

    state = ce.reset(columns, centres)
    for _ in range(ce.GAME_LENGTH):
        state, reward = ce.step(state, policy(state))
    np.testing.assert_array_equal(
        np.asarray(ce.play_games(policy, columns, centres)), np.asarray(reward)
    )
