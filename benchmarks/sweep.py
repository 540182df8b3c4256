"""Try a setting on several seeds in one process: how many solve, in how many generations.

    python benchmarks/sweep.py "weight_decay=0.3" 0-99
    python benchmarks/sweep.py "patience=1000" 0-99        # no restarts: the rules before plateaus were acted on
    python benchmarks/sweep.py "learning_rate=0.05,population_size=200" 1,5,9

The first argument is catch_es.Config fields as Python keyword arguments; the second, the seeds
(a list, or FIRST-LAST). This is how the defaults in catch_es.py were chosen. Each restart's gap
in the history is printed too (the seconds between the rows around it), in the run's median
generations and, in brackets, in those of the attempt it starts, whose bigger population plays
in that gap; and, by population, how many of the run's median generations one of its generations
takes (the median over each run's generations at that population, its range over the runs).
"""

import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import catch_es as ce  # noqa: E402
from benchmark import history_gaps, restart_costs, restarts_at  # noqa: E402


def parse_seeds(text):
    if "-" in text:
        first, last = (int(seed) for seed in text.split("-"))
        return range(first, last + 1)
    return [int(seed) for seed in text.split(",")]


def main(settings, seeds):
    overrides = eval(f"dict({settings})")  # a developer's tool: the settings are typed by hand
    generations, restarts, seconds, gaps, sizes = [], [], [], [], {}
    for seed in parse_seeds(seeds):
        start = time.perf_counter()
        result = ce.run_training(
            ce.Config(seed=seed, **overrides), progress=lambda history, done: None
        )
        last = result.history[-1]
        generations.append(last["generation"] if result.status == "solved" else math.inf)
        restarts.append(last["restarts"])
        seconds.append(time.perf_counter() - start)
        rows = [(row["seconds"], row["restarts"]) for row in result.history]
        costs, into = (
            restart_costs(rows),
            [result.history[i]["population_size"] for i in restarts_at(rows)],
        )
        gaps += [(population, *cost) for population, cost in zip(into, costs)]
        (steps, median), restarted = history_gaps(rows), set(restarts_at(rows))
        played = {}  # each population's generations (a restart's gap left out), in the run's median generations
        for i, step in enumerate(steps, 1):  # steps[i - 1]: the seconds from row i - 1 to row i
            if i not in restarted:
                played.setdefault(result.history[i]["population_size"], []).append(step / median)
        for population, multiples in played.items():
            sizes.setdefault(population, []).append(statistics.median(multiples))
        restarted = "".join(
            f"; a restart into {population}: {run:.1f} ({own:.1f})"
            for population, (run, own) in zip(into, costs)
        )
        print(
            f"seed {seed}: {result.status}, generation {last['generation']}, {round(last['catch_rate'] * 80)}/80, "
            f"{last['restarts']} restarts, {seconds[-1]:.1f} s in process{restarted}",
            flush=True,
        )
    solved = sum(generation < math.inf for generation in generations)
    ranked = sorted(generations)
    print(
        f"{settings or 'defaults'}: {solved}/{len(generations)} solved; generations to 80/80 (unsolved count as "
        f"never): median {statistics.median(generations)}, 90th percentile {ranked[math.ceil(0.9 * len(ranked)) - 1]}, "
        f"max {ranked[-1]}; {sum(restarts)} restarts in all; median {statistics.median(seconds):.1f} s in process"
    )
    # Each restart's gap in its history: in the run's median generations (in those of the attempt it starts).
    for population in sorted({population for population, _, _ in gaps}):
        runs, owns = zip(*[(run, own) for into, run, own in gaps if into == population])
        print(
            f"restarts into population {population}: {len(runs)}, their gaps {min(runs):.1f} to {max(runs):.1f} of "
            f"the run's median generations ({min(owns):.1f} to {max(owns):.1f} of the attempt's own)"
        )
    for population, multiples in sorted(sizes.items()):
        print(
            f"a generation of population {population}: {statistics.median(multiples):.1f} of its run's median "
            f"generations ({min(multiples):.1f} to {max(multiples):.1f} over the {len(multiples)} runs that play it)"
        )


if __name__ == "__main__":
    main(*sys.argv[1:3])
