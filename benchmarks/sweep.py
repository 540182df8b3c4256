"""Try a setting on several seeds in one process: how many solve, in how many generations.

    python benchmarks/sweep.py "weight_decay=0.3" 0-99
    python benchmarks/sweep.py "patience=1000" 0-99        # no restarts: the rules before plateaus were acted on
    python benchmarks/sweep.py "learning_rate=0.05,population_size=200" 1,5,9

The first argument is catch_es.Config fields as Python keyword arguments; the second, the seeds
(a list, or FIRST-LAST). This is how the defaults in catch_es.py were chosen.
"""
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import catch_es as ce  # noqa: E402


def parse_seeds(text):
    if "-" in text:
        first, last = (int(seed) for seed in text.split("-"))
        return range(first, last + 1)
    return [int(seed) for seed in text.split(",")]


def main(settings, seeds):
    overrides = eval(f"dict({settings})")  # a developer's tool: the settings are typed by hand
    generations, restarts, seconds = [], [], []
    for seed in parse_seeds(seeds):
        start = time.perf_counter()
        result = ce.train(ce.Config(seed=seed, **overrides), ce.Hooks(progress=lambda history, done: None))
        last = result.history[-1]
        generations.append(last["generation"] if result.status == "solved" else math.inf)
        restarts.append(last["restarts"])
        seconds.append(time.perf_counter() - start)
        print(f"seed {seed}: {result.status}, generation {last['generation']}, {round(last['catch_rate'] * 80)}/80, "
              f"{last['restarts']} restarts, {seconds[-1]:.1f} s in process", flush=True)
    solved = sum(generation < math.inf for generation in generations)
    ranked = sorted(generations)
    print(f"{settings or 'defaults'}: {solved}/{len(generations)} solved; generations to 80/80 (unsolved count as "
          f"never): median {statistics.median(generations)}, 90th percentile {ranked[math.ceil(0.9 * len(ranked)) - 1]}, "
          f"max {ranked[-1]}; {sum(restarts)} restarts in all; median {statistics.median(seconds):.1f} s in process")


if __name__ == "__main__":
    main(*sys.argv[1:3])
