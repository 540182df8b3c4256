"""Try a setting on several seeds in one process: how many solve, in how many generations.

    python benchmarks/sweep.py "weight_decay=0.3" 0,1,2,3,4,5,6,7,8,9
    python benchmarks/sweep.py "learning_rate=0.05,population_size=200" 1,5,9

The first argument is Config fields as Python keyword arguments; the second, the seeds.
This is how the defaults in catch_es.py were chosen.
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import catch_es as ce  # noqa: E402


def main(settings, seeds):
    overrides = eval(f"dict({settings})")  # a developer's tool: the settings are typed by hand
    results = []
    for seed in (int(seed) for seed in seeds.split(",")):
        start = time.perf_counter()
        result = ce.run_training(ce.RunConfig(seed=seed, render=False, **overrides), progress=lambda history, done: None)
        last = result.history[-1]
        results.append((result.status == "solved", last["generation"], time.perf_counter() - start))
        print(f"seed {seed}: {result.status}, generation {last['generation']}, "
              f"{round(last['catch_rate'] * 80)}/80, {results[-1][2]:.1f} s in process", flush=True)
    print(f"{settings}: {sum(r[0] for r in results)}/{len(results)} solved, "
          f"median generation {statistics.median(r[1] for r in results)}, "
          f"median {statistics.median(r[2] for r in results):.1f} s in process")


if __name__ == "__main__":
    main(*sys.argv[1:3])
