"""The evolution strategy on functions whose answer is known."""

import numpy as np
import pytest

import catch_es as ce


# the strategy moved to `generation`, through its public load
def at_generation(strategy, generation):
    strategy.load(strategy.state()._replace(generation=generation))
    return strategy


def test_ask_gives_mirrored_float32_candidates_from_the_generations_noise():
    theta = np.linspace(-1, 1, 7).astype("float32")
    strategy = ce.EvolutionStrategy(theta, population_size=6, sigma=0.5, seed=3)
    candidates = np.asarray(strategy.ask())
    assert candidates.shape == (6, 7) and candidates.dtype == np.float32
    np.testing.assert_allclose(
        candidates[0::2] + candidates[1::2], np.broadcast_to(2 * theta, (3, 7)), atol=1e-6
    )
    noise = np.asarray(strategy.noise())
    assert noise.shape == (3, 7) and noise.dtype == np.float32
    for index in range(6):
        sign = 1 if index % 2 == 0 else -1
        np.testing.assert_allclose(
            candidates[index], theta + 0.5 * sign * noise[index // 2], atol=1e-6
        )


def test_the_table_noise_is_slices_of_the_table_and_any_range_of_pairs_rebuilds_alone():
    strategy = ce.EvolutionStrategy(np.zeros(7), population_size=6, sigma=0.5, seed=3)
    noise, table = np.asarray(strategy.noise()), np.asarray(strategy.table)
    for row in noise:
        starts = np.flatnonzero(table == row[0])
        assert any(np.array_equal(table[start : start + 7], row) for start in starts)
    # another theta, population
    other = ce.BatchedStrategy(np.ones(7), population_size=20, sigma=0.1, seed=3)
    np.testing.assert_array_equal(other.noise(1, 2), noise[1:])
    np.testing.assert_array_equal(ce.BatchedStrategy(np.zeros(7), 6, seed=3).noise(2, 1), noise[2:])


def test_noise_table_is_gaussian_and_the_same_for_every_run():
    table = np.asarray(ce.EvolutionStrategy(np.zeros(10_403)).table)  # (a tensor, made once)
    assert table.shape == (ce.NOISE_TABLE_SIZE,) and table.dtype == np.float32
    assert abs(table.mean()) < 0.002 and abs(table.std() - 1) < 0.002
    np.testing.assert_array_equal(table[:1000], ce.noise_table(ce.NOISE_TABLE_SIZE)[:1000])
    # the hill's too: one table
    assert ce.EvolutionStrategy(np.zeros(2)).table is ce.noise_table(ce.NOISE_TABLE_SIZE)
    # room for long vectors, the same numbers first
    longer = ce.EvolutionStrategy(np.zeros(ce.NOISE_TABLE_SIZE)).table
    assert len(longer) == 10 * ce.NOISE_TABLE_SIZE and np.array_equal(longer[:1000], table[:1000])
    # What differs from seed to seed is where each pair's slice starts.
    runs = [ce.EvolutionStrategy(np.zeros(7), population_size=4, seed=seed) for seed in (0, 1)]
    assert not np.array_equal(runs[0].noise(), runs[1].noise())


def noise_of(seed, generation, pair, population_size=10):
    strategy = ce.EvolutionStrategy(np.zeros(50), population_size=population_size, seed=seed)
    return np.asarray(at_generation(strategy, generation).noise())[pair]


def test_noise_is_a_pure_function_of_seed_generation_and_pair():
    a = noise_of(1, 2, 3)
    np.testing.assert_array_equal(a, noise_of(1, 2, 3))
    np.testing.assert_array_equal(a, noise_of(1, 2, 3, population_size=100))  # any population
    for other in [(0, 2, 3), (1, 1, 3), (1, 2, 4)]:
        assert not np.array_equal(a, noise_of(*other))


def test_centred_ranks_tie_scale_and_rank_non_finite_worst():
    np.testing.assert_allclose(ce.centred_ranks(np.array([3.0, 1.0, 2.0])), [0.5, -0.5, 0.0])
    np.testing.assert_allclose(
        ce.centred_ranks(np.array([1.0, 5.0, 5.0, 0.0, 7.0])), [-0.25, 0.125, 0.125, -0.5, 0.5]
    )
    assert np.all(ce.centred_ranks(np.full(10, 0.3)) == 0)
    ranks = np.asarray(ce.centred_ranks(np.array([0.0, np.nan, 1.0, np.inf, -np.inf, -5.0])))
    assert ranks[1] == ranks[3] == ranks[4] == ranks.min()  # NaN and ±inf share the worst ranks
    assert ranks[2] == 0.5 and abs(ranks.sum()) < 1e-6


def test_gradient_estimate_points_along_the_true_gradient():
    direction = np.random.default_rng(0).standard_normal(50).astype("float32")
    strategy = ce.EvolutionStrategy(np.zeros(50), population_size=1000, sigma=0.1, seed=0)
    candidates = np.asarray(strategy.ask())
    # a linear function: its gradient is `direction`
    gradient = np.asarray(strategy.tell(candidates @ direction))
    cosine = gradient @ direction / np.linalg.norm(gradient) / np.linalg.norm(direction)
    assert cosine > 0.9


def test_converges_on_a_quadratic():
    target = np.random.default_rng(1).uniform(-2, 2, 30).astype("float32")
    strategy = ce.EvolutionStrategy(
        np.zeros(30), population_size=50, sigma=0.1, learning_rate=0.05, seed=0
    )
    start = np.linalg.norm(strategy.theta - target)
    for _ in range(400):
        candidates = np.asarray(strategy.ask())
        strategy.tell(-np.sum((candidates - target) ** 2, axis=1))
    assert np.linalg.norm(strategy.theta - target) < 0.05 * start


def test_equal_rewards_give_exactly_zero_step():
    theta = np.arange(5, dtype="float32")
    strategy = ce.EvolutionStrategy(theta, population_size=8, sigma=0.1, seed=0)
    strategy.ask()
    gradient = np.asarray(strategy.tell(np.full(8, -1.0)))
    assert np.all(gradient == 0)
    np.testing.assert_array_equal(strategy.theta, theta)


def test_nan_rewards_leave_theta_finite_and_rank_worst():
    strategy = ce.EvolutionStrategy(np.zeros(4), population_size=4, sigma=0.1, seed=0)
    strategy.ask()
    strategy.tell(np.array([np.nan, np.nan, np.nan, np.nan]))
    assert np.all(np.isfinite(strategy.theta))
    strategy.ask()
    noise = np.asarray(strategy.noise())
    rewards = np.array([1.0, np.nan, 0.0, 0.0])  # the NaN candidate counts as the worst
    gradient = strategy.tell(rewards)
    assert np.all(np.isfinite(strategy.theta))
    ranks = np.asarray(ce.centred_ranks(np.array([1.0, -np.inf, 0.0, 0.0])))
    signed_noise = np.stack([noise[0], -noise[0], noise[1], -noise[1]])
    expected = ranks @ signed_noise / (4 * 0.1)  # grad ≈ R · n over the four candidates
    np.testing.assert_allclose(gradient, expected, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(population_size=7),
        dict(population_size=0),
        dict(sigma=0.0),
        dict(learning_rate=-1.0),
        dict(weight_decay=-0.1),
        dict(seed=-1),
    ],
)
def test_bad_settings_are_refused_by_check_the_one_place_that_checks(kwargs):
    with pytest.raises(ValueError, match="--" + next(iter(kwargs)).replace("_", "-")):
        ce.check(ce.Config(**kwargs))
    assert ce.check(ce.Config()) == ce.Config()


def test_the_hill_picture_shows_the_cloud_climbing_and_the_estimate_measured_against_the_truth():
    figure = ce.es_on_a_hill(shown=(0, 20), populations=(4, 64, 1024), repeats=2)
    climb, low, high = figure.axes[:3]
    # generations 0 and 20
    first, last = (cloud.get_offsets().mean(axis=0) for cloud in climb.collections[-2:])
    # the cloud near the top at (1, 1)
    assert np.linalg.norm(last - 1.0) < 0.25 * np.linalg.norm(first - 1.0)
    assert "2 dimensions" in low.get_title() and "10,403 dimensions" in high.get_title()
    for axes, dimension in [(low, 2), (high, 10_403)]:
        *estimates, random = axes.get_lines()
        assert random.get_ydata()[0] == pytest.approx(dimension**-0.5)
        # measured by the file's own ES: better with the population, far above chance
        for line in estimates:
            cosines = np.asarray(line.get_ydata())
            assert cosines[0] < cosines[-1] and cosines[-1] > (
                0.99 if dimension == 2 else 10 * dimension**-0.5
            )


def test_ask_and_tell_work_with_a_users_own_numpy_code():
    rng = np.random.default_rng(0)
    inputs, wanted = rng.standard_normal((20, 3)), rng.standard_normal((3, 2))

    def score(candidate):  # the user's own NumPy: a linear model whose weights are a 3 x 2 matrix
        return -np.mean((inputs @ candidate.reshape(3, 2) - inputs @ wanted) ** 2)

    strategy = ce.EvolutionStrategy(
        np.zeros(6), population_size=40, sigma=0.05, learning_rate=0.03, seed=0
    )
    for _ in range(300):
        candidates = np.asarray(strategy.ask())
        assert candidates.shape == (40, 6)
        # a list: any array-like
        estimate = strategy.tell([score(candidate) for candidate in candidates])
        assert np.asarray(estimate).shape == (6,)
    # the known optimum
    np.testing.assert_allclose(np.reshape(strategy.theta, (3, 2)), wanted, atol=0.05)


def test_without_shaping_tell_is_the_plain_estimate_of_the_smoothed_gradient():
    strategy = ce.EvolutionStrategy(
        np.zeros(5), population_size=6, sigma=0.2, seed=1, shaping=lambda rewards: rewards
    )
    candidates, noise = strategy.ask(), np.asarray(strategy.noise())
    rewards = np.array([3.0, 1.0, -2.0, 0.5, 4.0, 4.0])
    signed = np.stack([noise[0], -noise[0], noise[1], -noise[1], noise[2], -noise[2]])
    np.testing.assert_allclose(candidates, 0.2 * signed, atol=1e-6)
    # sum R n / (P sigma)
    np.testing.assert_allclose(strategy.tell(rewards), rewards @ signed / (6 * 0.2), rtol=1e-5)


def test_a_restart_loads_fresh_weights_and_a_fresh_adam_into_the_same_variables():
    strategy = ce.BatchedStrategy(np.zeros(6), population_size=4, sigma=0.1, seed=0)
    fresh = ce.BatchedStrategy(np.ones(6), population_size=4, sigma=0.1, seed=5)
    variables = [strategy.theta, *strategy.optimizer.variables]
    for _ in range(3):
        strategy.tell(np.arange(4.0))
    # a restart
    strategy.load(ce.State(np.ones(6, "float32"), strategy.generation, strategy.fresh_adam), seed=5)
    # the same ...
    assert all(a is b for a, b in zip([strategy.theta, *strategy.optimizer.variables], variables))
    # ... the noise of seed 5, from generation 3
    assert strategy.generation == 3 and int(strategy.key[0]) == 5
    at_generation(fresh, 3)
    np.testing.assert_array_equal(strategy.noise(), fresh.noise())
    for mine, theirs in zip(variables, [fresh.theta, *fresh.optimizer.variables]):
        # ... and Adam as it was before any step
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    np.testing.assert_array_equal(strategy.tell(np.arange(4.0)), fresh.tell(np.arange(4.0)))
    np.testing.assert_array_equal(strategy.theta, fresh.theta)


def test_one_compiled_generation_is_ask_play_tell_and_returns_the_state_before_its_step():
    config = ce.Config(population_size=10, hidden_units=8)
    model, fused, _ = ce.new_attempt(config, 0)
    _, plain, _ = ce.new_attempt(config, 0)
    before = fused.state().numpy()
    catches, rewards, state = ce.compile_generation(model)(fused)
    assert isinstance(state, ce.State) and int(state.generation) == 0
    for mine, theirs in zip(ce.keras.tree.flatten(state), ce.keras.tree.flatten(before)):
        np.testing.assert_array_equal(mine, theirs)
    # The same generation, step by step: theta beside its candidates, played; the totals told.
    population = np.vstack([plain.theta, np.asarray(plain.ask())])
    played = ce.play_population(model, population).numpy()  # eagerly: no compiled code
    assert catches == ce.count_catches(played[0])
    np.testing.assert_array_equal(rewards * ce.START_COUNT, played[1:].sum(axis=1))
    plain.tell(played[1:].sum(axis=1))
    assert fused.generation == plain.generation == 1
    # (compiled apart, rounding may differ)
    np.testing.assert_allclose(fused.theta, plain.theta, atol=1e-6)


def test_every_setting_says_what_it_does_and_what_it_accepts():
    given, _, _ = ce.parse_args([])
    assert given == {}  # only the options given, so that --resume can compare them
    for field in ce.dataclasses.fields(ce.RunConfig):
        assert field.name in ce.ACCEPTS


def test_a_population_of_several_batches_steps_by_the_mean_of_their_estimates_each_ranked_on_its_own():
    strategy = ce.BatchedStrategy(np.zeros(5), population_size=4, sigma=0.2, seed=1, largest=8)
    # two batches of 4
    strategy.load(ce.State(np.zeros(5, "float32"), 0, strategy.fresh_adam), population_size=8)
    assert (strategy.population_size, strategy.batch) == (8, 4)
    noise, candidates = np.asarray(strategy.noise()), np.asarray(strategy.ask())
    # pair after pair, across the batches
    np.testing.assert_allclose(candidates[0::2], 0.2 * noise, rtol=1e-6)
    rewards = np.array([3.0, 1, 2, 5, 0, 4, 4, 1])
    # each batch's own; ties share
    ranks = [np.array([2, 0, 1, 3]) / 3 - 0.5, np.array([0, 2.5, 2.5, 1]) / 3 - 0.5]
    estimates = [
        (rank[0::2] - rank[1::2]) @ noise[2 * k : 2 * k + 2] / (4 * 0.2)
        for k, rank in enumerate(ranks)
    ]
    np.testing.assert_allclose(
        strategy.tell(rewards), np.mean(estimates, axis=0), rtol=1e-5, atol=1e-7
    )
    assert strategy.generation == 1 and strategy.population_size == 8


def test_the_noise_of_a_pair_is_the_same_whatever_population_it_is_drawn_for():
    # Part I's, drawn for 2 pairs
    small = ce.EvolutionStrategy(np.zeros(9), population_size=4, seed=2)
    # for 2,000 pairs
    big = ce.BatchedStrategy(np.zeros(9), population_size=4, seed=2, largest=4000)
    np.testing.assert_array_equal(small.noise(), big.noise())
    wide = ce.EvolutionStrategy(np.zeros(9), population_size=400, seed=2)
    np.testing.assert_array_equal(wide.noise()[:2], small.noise())
