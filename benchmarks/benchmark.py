"""Measure catch_es.py: games per second, seconds to solve, and the speed-up over the original.

    python benchmarks/benchmark.py              # everything (about 5 minutes on 2 cores)
    python benchmarks/benchmark.py --quick      # fewer repeats and seeds, for a smoke test

Every figure is a median over repeats; the speed-up is a ratio of two figures measured
in the same run, so that a busy machine slows both sides alike.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import catch_es as ce  # noqa: E402  (after the path is set)
import keras  # noqa: E402
import numpy as np  # noqa: E402


def games_per_second(population_size, repeats):
    """Median games per second of one compiled call playing P candidates x 80 games."""
    keras.utils.set_random_seed(0)
    model = ce.build_policy()
    play_population = ce.make_population_player(model)
    strategy = ce.EvolutionStrategy(ce.flatten_weights(model), population_size, seed=0)
    play_population(strategy.ask())  # compile
    seconds = []
    for _ in range(repeats):
        candidates = strategy.ask()
        start = time.perf_counter()
        rewards = play_population(candidates)
        seconds.append(time.perf_counter() - start)
        strategy.tell(rewards.mean(axis=1))
    return rewards.size / statistics.median(seconds)


def predict_per_step_games_per_second(games):
    """The original way: one model.predict per step of one game."""
    keras.utils.set_random_seed(0)
    model = ce.build_policy()
    columns, centres = ce.start_states()
    model.predict(np.zeros((1, 100), "float32"), verbose=0)  # warm up
    start = time.perf_counter()
    for game in range(games):
        state = ce.reset(columns[game : game + 1], centres[game : game + 1])
        for _ in range(ce.GAME_LENGTH):
            scores = model.predict(np.asarray(ce.observe(state)), verbose=0)
            state, _, _ = ce.step(state, np.argmax(scores, axis=-1).astype("int32"))
    return games / (time.perf_counter() - start)


def seconds_to_solve(seed):
    """Wall-clock seconds of `python catch_es.py --seed S`, start-up included."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, str(ROOT / "catch_es.py"), "--seed", str(seed), "--no-render",
                   "--out", str(Path(folder) / "run")]
        start = time.perf_counter()
        run = subprocess.run(command, capture_output=True, text=True, cwd=folder)
        seconds = time.perf_counter() - start
    solved = run.returncode == 0 and "solved: all 80" in run.stdout
    generations = next((line.split()[1] for line in reversed(run.stdout.splitlines()) if line.startswith("generation")), "?")
    return seconds, solved, generations


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and seeds")
    args = parser.parse_args()
    repeats, seeds, games = (3, range(2), 5) if args.quick else (10, range(10), 20)

    print(f"machine: {os.cpu_count()} CPUs, keras {keras.__version__}, backend {keras.backend.backend()}")
    compiled = {}
    for population_size in (100, 1000):
        compiled[population_size] = games_per_second(population_size, repeats)
        print(f"compiled, population {population_size:4d} x 80 games: {compiled[population_size]:10,.0f} games/s "
              f"(median of {repeats})")
    original = predict_per_step_games_per_second(games)
    print(f"original, one model.predict per step:   {original:10,.1f} games/s ({games} games)")
    print(f"speed-up at population 100: {compiled[100] / original:,.0f}x")

    times = []
    for seed in seeds:
        seconds, solved, generations = seconds_to_solve(seed)
        times.append(seconds)
        print(f"seed {seed}: {'solved' if solved else 'NOT solved'} in {seconds:5.1f} s wall-clock "
              f"(last generation {generations})", flush=True)
    print(f"seconds to solve: median {statistics.median(times):.1f}, max {max(times):.1f}")


if __name__ == "__main__":
    main()
