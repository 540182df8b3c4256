"""What each refinement of Part I's evolution strategy buys on Catch: each one taken away in turn, on many seeds.

    python benchmarks/refinements.py --seeds 0-29 --out benchmarks/refinements      # .txt (the table), .csv (per seed)
    python benchmarks/refinements.py --seeds 0-99 --variants default,plain --out benchmarks/ranking

Every variant is catch_es's default run (population 100, sigma 0.1, Adam at 0.05, weight decay 0.3, restarts after
60 generations without progress, up to 1,000 generations) with one thing changed. A run that does not catch all 80
fruits within its 1,000 generations counts as never solving: the medians put it last. "plain" is Part I's own code
(`new_attempt`: one ranking of the whole population, a new strategy and a new compile at each restart) against the
command's fast path ("default": batches of 100, each ranked on its own, after a restart).
"""

import argparse
import csv
import functools
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import catch_es as ce  # noqa: E402
import keras  # noqa: E402
from keras import ops  # noqa: E402


class Unmirrored(ce.BatchedStrategy):
    """Every candidate its own noise, theta + sigma·n_i, and grad = sum_i A_i n_i / (P sigma): no pairs."""

    def __init__(self, theta, population_size, *args, largest=None, **kwargs):
        super().__init__(
            theta, population_size, *args, largest=2 * (largest or population_size), **kwargs
        )

    def ask(
        self, first=0, count=None
    ):  # 2·count candidates from candidate 2·first, each with noise of its own
        count = count or self.population_size // 2
        return self.theta + self.sigma * self.noise(2 * first, 2 * count)

    def estimate(
        self, rewards, n=None
    ):  # each batch's sum_i A_i n_i / (batch · sigma), ranked on its own
        def add(batch, grad):
            advantages = self.shaping(ops.slice(rewards, [batch * self.batch], [self.batch]))
            noise = self.noise(batch * self.batch, self.batch)
            return grad + ops.matmul(advantages, noise) / (self.batch * self.sigma)

        return ops.fori_loop(0, self.batches, add, ops.zeros_like(self.theta)) / ops.cast(
            self.batches, "float32"
        )


class PlainSGD(ce.BatchedStrategy):
    """Steps of learning_rate · grad (with the same decoupled weight decay), instead of Adam's."""

    def __init__(self, theta, population_size, sigma, learning_rate, weight_decay, *args, **kwargs):
        super().__init__(
            theta, population_size, sigma, learning_rate, weight_decay, *args, **kwargs
        )
        self.optimizer = keras.optimizers.SGD(learning_rate, weight_decay=weight_decay or None)
        self.optimizer.build([self.theta])
        self.fresh_adam = tuple(variable.numpy() for variable in self.optimizer.variables)


def attempt_with(strategy_class, **strategy_options):
    """catch_es.fast_attempt with another strategy: kept by the settings, so that a restart compiles nothing."""
    return functools.partial(
        ce.fast_attempt, make=functools.partial(strategy_class, **strategy_options)
    )


VARIANTS = {  # name: (what changes, the Config's changes, the attempt)
    "default": ("nothing: the command's fast path", {}, None),
    "plain": ("Part I's plain code: one ranking of the whole population", {}, ce.new_attempt),
    "unmirrored": ("no mirrored pairs: each candidate its own noise", {}, attempt_with(Unmirrored)),
    "raw": ("no centred ranks: the mean rewards as they are", {},
            attempt_with(ce.BatchedStrategy, shaping=lambda rewards: rewards)),
    "sgd": ("no Adam: plain steps of 0.05 x the estimate", {}, attempt_with(PlainSGD)),
    "no-decay": ("no weight decay", {"weight_decay": 0.0}, None),
    "no-restarts": ("no restarts: one attempt of 1,000 generations", {"patience": 10**9}, None),
}  # fmt: skip


def parse_seeds(text):
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-29")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--out", default="benchmarks/refinements", help="writes OUT.txt and OUT.csv"
    )
    options = parser.parse_args(argv)
    seeds, names = parse_seeds(options.seeds), options.variants.split(",")
    rows, quiet = [], lambda history, done: None
    for name in names:
        _, changes, attempt = VARIANTS[name]
        for seed in seeds:
            config = ce.Config(seed=seed, **changes)
            start = time.perf_counter()
            result = ce.run_training(
                config, attempt=attempt or ce.attempt_for(config), progress=quiet
            )
            last = result.history[-1]
            rows.append(dict(variant=name, seed=seed, status=result.status, generations=len(result.history),
                             games=last["games"], restarts=last["restarts"],
                             seconds=round(time.perf_counter() - start, 2)))  # fmt: skip
            print(f"{name} seed {seed}: {result.status} after {len(result.history)} generations, "
                  f"{last['games']:,} games, {last['restarts']} restarts", file=sys.stderr, flush=True)  # fmt: skip
    out = Path(options.out)
    with open(out.with_suffix(".csv"), "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"Each refinement taken away in turn; seeds {options.seeds}; a run unsolved after 1,000 generations "
             "counts as never.", f"command: python benchmarks/refinements.py --seeds {options.seeds} "
             f"--variants {options.variants} --out {options.out}", "",
             f"{'variant':<12} {'solved':>7} {'median games':>13} {'median generations':>19}  what changes"]  # fmt: skip
    for name in names:
        mine = [row for row in rows if row["variant"] == name]
        solved = [row for row in mine if row["status"] == "solved"]
        games = statistics.median([row["games"] if row in solved else math.inf for row in mine])
        generations = statistics.median(
            [row["generations"] if row in solved else math.inf for row in mine]
        )
        lines.append(f"{name:<12} {len(solved):>3}/{len(mine):<3} {games:>13,.0f} {generations:>19,.0f}  "
                     f"{VARIANTS[name][0]}")  # fmt: skip
    text = "\n".join(lines) + "\n"
    out.with_suffix(".txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
