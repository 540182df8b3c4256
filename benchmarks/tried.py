"""What was tried for a quicker generation (issue 29) and not kept: each against catch_es.py's own, timed in turns.

    python benchmarks/tried.py

Prints, in milliseconds (medians of blocks taken in turns, so that the machine's moods reach both sides):
  * two generations from two threads at once, against one after the other (the second core);
  * the gradient's noise reused from the candidates' inside the generation, against drawn again in `tell` (quicker
    here, timed alone; slower in whole runs: benchmarks/noise-reused-issue29.txt);
  * the games of 101 candidates with the output layer's product summed by hand, against Keras's `stateless_call`;
  * the noise rows fetched by a compiled loop of slices or by `vectorized_map`, against one `take`;
  * the games of 51, 101, 201 and 401 candidates in one call: the time per candidate.
Each variant that plays gives the same weights (checked before timing).
"""

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import catch_es as ce  # noqa: E402
from catch_es import keras, np, ops, tf  # noqa: E402


def in_turns(works, repeats=20, blocks=8, before=lambda: None):
    """Each work's median milliseconds over `blocks` blocks of `repeats` calls, the works taking turns."""
    times = {name: [] for name in works}
    for work in works.values():
        before()
        work()  # compile, warm
    for _ in range(blocks):
        for name, work in works.items():
            before()
            start = time.perf_counter()
            for _ in range(repeats):
                work()
            times[name].append(1000 * (time.perf_counter() - start) / repeats)
    return {name: round(statistics.median(values), 2) for name, values in times.items()}


def noise_reused(model, game=ce.play_games):
    """play_here's generation, but each batch's share of the gradient made from the noise its candidates used."""
    play_population = ce.population_games(model, game)

    @tf.function(jit_compile=True, autograph=False)
    def generation(strategy, *starts):
        before = keras.tree.map_structure(ops.copy, strategy.state())
        pairs = strategy.batch // 2

        def play_batch(batch, found):
            own, totals, grad = found
            noise = strategy.noise(batch * pairs, pairs)
            plus, minus = (
                before.theta + strategy.sigma * noise,
                before.theta - strategy.sigma * noise,
            )
            # +n0, -n0, ...
            pairs_of = ops.reshape(ops.stack([plus, minus], 1), (-1, noise.shape[-1]))
            candidates = ops.concatenate([before.theta[None], pairs_of])
            rewards = play_population(candidates, *starts)
            batch_totals = ops.sum(rewards[1:], axis=1)
            advantages = strategy.shaping(ops.cast(batch_totals, "float32"))
            grad += ops.matmul(advantages[0::2] - advantages[1::2], noise) / (
                strategy.batch * strategy.sigma
            )
            return (
                rewards[0],
                ops.slice_update(totals, [batch * strategy.batch], batch_totals),
                grad,
            )

        zeros = (
            ops.zeros(ce.START_COUNT),
            ops.zeros(strategy.largest),
            ops.zeros_like(strategy.theta),
        )
        own, totals, grad = ops.fori_loop(0, strategy.batches, play_batch, zeros)
        strategy.optimizer.apply([-grad / ops.cast(strategy.batches, "float32")], [strategy.theta])
        strategy.key.assign_add([0, 1])
        return own, totals, before

    return lambda strategy: generation(strategy, *ce.starts_for(strategy.batch + 1))


def output_by_hand(model, game=ce.play_games):
    """population_games' lookup, the output layer's product as a sum of products (as es_vs_rl's REINFORCE once did)."""
    shapes, first = [variable.shape for variable in model.trainable_variables], model.layers[0]

    def moves(flat_weights):
        kernel, bias, out_kernel, out_bias = ce.unflatten_weights(flat_weights, shapes)
        bottom = (ce.GRID_SIZE - 1) * ce.GRID_SIZE
        rows = [kernel[None, bottom + i : bottom + i + ce.GRID_SIZE - 2] for i in range(3)]
        hidden = first.activation(
            ops.reshape(kernel[:bottom, None] + sum(rows), (ce.BOARDS, -1)) + bias
        )
        scores = ops.sum(hidden[:, :, None] * out_kernel[None], axis=1) + out_bias
        return tf.argmax(scores, axis=-1, output_type="int32")

    def games(population, *starts):
        table = ops.vectorized_map(moves, population)
        return game(lambda state: tf.gather(table, ce.board_of(state), batch_dims=1), *starts)

    return games


def main():
    config = ce.Config(seed=1)
    model, strategy, _ = ce.fast_attempt(config, 0)
    ours = ce.play_here(model)
    start = keras.tree.map_structure(np.asarray, strategy.state())

    def from_start(population):
        return lambda: strategy.load(ce.State(*start), config.seed, population)

    variants = {"catch_es": ours, "noise reused": noise_reused(model)}
    weights = {}
    for name, play in variants.items():
        from_start(100)()
        for _ in range(10):
            play(strategy)
        weights[name] = strategy.theta
    assert all(np.array_equal(weights["catch_es"], theta) for theta in weights.values()), (
        "not the same weights"
    )
    for population in (100, 400):
        times = in_turns(
            {name: lambda play=play: play(strategy) for name, play in variants.items()},
            before=from_start(population),
        )
        print(f"a generation at population {population}: {times} ms", flush=True)

    # a second strategy of its own
    other = ce.fast_attempt(ce.dataclasses.replace(config, sigma=0.1000001), 0)[1]
    theirs, pool = ce.play_here(model), ThreadPoolExecutor(2)
    for population in (100, 400):
        strategy.load(ce.State(*start), config.seed, population)
        other.load(ce.State(*start), config.seed, population)
        times = in_turns(
            {
                "one after the other": lambda: (ours(strategy), theirs(other)),
                "from two threads": lambda: [
                    job.result()
                    for job in (pool.submit(ours, strategy), pool.submit(theirs, other))
                ],
            }
        )
        print(f"two generations at population {population}: {times} ms", flush=True)

    table, size = tf.constant(strategy.table), strategy.theta.shape[0]
    starts = tf.random.stateless_uniform([50], [1, 2], 0, table.shape[0] - size + 1, tf.int32)
    fetches = {
        "one take": lambda: ops.take(table, starts[:, None] + ops.arange(size)),
        "a loop of slices": lambda: ops.fori_loop(
            0,
            50,
            lambda i, rows: ops.slice_update(
                rows, [i, 0], ops.slice(table, [starts[i]], [size])[None]
            ),
            ops.zeros((50, size)),
        ),
        "vectorized_map": lambda: ops.vectorized_map(
            lambda first: ops.slice(table, [first], [size]), starts
        ),
    }
    compiled = {
        name: tf.function(lambda fetch=fetch: ops.sum(fetch() * 1.5, axis=1), jit_compile=True)
        for name, fetch in fetches.items()
    }
    assert all(np.array_equal(compiled["one take"](), fetch()) for fetch in compiled.values())
    print(
        f"the noise of 50 pairs, fetched: {in_turns({name: f for name, f in compiled.items()}, 50)} ms",
        flush=True,
    )

    games, rng = tf.function(ce.population_games(model), jit_compile=True), np.random.default_rng(0)
    populations = {
        count: (start.theta + 0.1 * rng.standard_normal((count, size))).astype("float32")
        for count in (51, 101, 201, 401)
    }
    by_hand = tf.function(output_by_hand(model), jit_compile=True)
    ways = {
        name: lambda play=play: play(populations[101], *ce.starts_for(101)).numpy()
        for name, play in {"catch_es": games, "output by hand": by_hand}.items()
    }
    assert np.array_equal(ways["catch_es"](), ways["output by hand"]()), "not the same rewards"
    print(f"the games of 101 candidates: {in_turns(ways, 10)} ms", flush=True)
    calls = {
        count: lambda population=population, starts=ce.starts_for(count): games(
            population, *starts
        ).numpy()
        for count, population in populations.items()
    }
    times = in_turns(calls, 10)
    print(
        "games in one call: "
        + ", ".join(
            f"{count} candidates {ms} ms ({1000 * ms / count:.0f} µs each)"
            for count, ms in times.items()
        )
    )


if __name__ == "__main__":
    main()
