"""Measure catch_es.py: games per second, seconds to solve, and the speed-up over the original.

    python benchmarks/benchmark.py              # everything (about 5 minutes on 2 cores)
    python benchmarks/benchmark.py --quick      # fewer repeats and seeds, for a smoke test
    python benchmarks/benchmark.py --no-ray     # without the scaling-out study (needs `pip install ray`)
    python benchmarks/benchmark.py --pieces     # only the pieces of a generation, each speed trick against the plain way
    python benchmarks/benchmark.py --generation # a generation as a run calls it: its fixed and per-candidate cost,
                                                # under each allocator and thread setting, checked against a run
    python benchmarks/benchmark.py --loops      # only longer games: unrolled steps against a compiled loop
    python benchmarks/benchmark.py --solve-only --seeds 0-99   # only seconds and generations to solve, per seed
    python benchmarks/benchmark.py --solve-only --seeds 0-99 --against old/catch_es.py  # before and after, interleaved
                                                                    # (seconds, and ms a generation seed by seed)
    python benchmarks/benchmark.py --peer --seeds 0-4   # beside evosax's Open_ES (benchmarks/peers), interleaved
    python benchmarks/benchmark.py --when-it-pays       # scale_out's model of a cluster: costs measured, T(W) predicted

Every figure is a median over repeats; the speed-up is a ratio of two figures measured
in the same run, so that a busy machine slows both sides alike.
"""

import argparse
import csv
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import catch_es as ce  # noqa: E402  (after the path is set)
import es_vs_rl as rl  # noqa: E402
import scale_out  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402


def cpu():
    """The CPU the figures come from: its model name (as lscpu gives it), cores and the vector instructions it has."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = fields.get("flags", "").split()
    vector = [flag for flag in ("avx512f", "avx2", "fma") if flag in flags] or ["no AVX2"]
    return f"CPU: {fields.get('model name', platform.processor())}, {os.cpu_count()} cores, {' '.join(vector)}"


GENERATION_CHILD = """
import json, resource, statistics, sys, time
sys.path.insert(0, {root!r})
import catch_es as ce

def costs(seed, restarts, generations):  # a run's generations at one population, as `evolve` plays them
    calls, faults = [], []

    def attempt(config, _, generation):  # the command's attempt, at this many restarts, and never another
        model, strategy, play_generation = ce.fast_attempt(config, restarts, generation)

        def timed(strategy):
            before, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            played = play_generation(strategy)
            calls.append(time.perf_counter() - start)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
            return played

        return model, strategy, timed

    config = ce.Config(seed=seed, generations=generations, patience=10**9)
    for _, history, _ in ce.evolve(config, attempt=attempt):
        pass
    steps = [b["seconds"] - a["seconds"] for a, b in zip(history[1:], history[2:])]  # the first row compiled
    return dict(population=history[-1]["population_size"], step=statistics.median(steps),
                call=statistics.median(calls[2:]), faults=statistics.median(faults[2:]), rows=len(history))

found = [costs({seed}, restarts, {generations}) for restarts in (0, 1, 2)]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # (Linux counts it in KB)
print(json.dumps([dict(row, peak=peak) for row in found]))
"""

SETTINGS = (  # what a process may set: TensorFlow's CPU allocator, and its threads
    ("the command's: BFC, TensorFlow's threads", {"TF_CPU_ALLOCATOR_USE_BFC": "true"}),
    ("malloc (TensorFlow's default allocator)", {"TF_CPU_ALLOCATOR_USE_BFC": "false"}),
    (
        "malloc, glibc told to keep freed memory",
        {
            "TF_CPU_ALLOCATOR_USE_BFC": "false",
            "MALLOC_MMAP_MAX_": "0",
            "MALLOC_TRIM_THRESHOLD_": str(2**32),
        },
    ),
    ("BFC, one thread inside each operation", {"TF_NUM_INTRAOP_THREADS": "1"}),
    ("BFC, one thread between operations", {"TF_NUM_INTEROP_THREADS": "1"}),
)


def fixed_and_per_100(points):
    """The least-squares line through (population, milliseconds): its value at 0 and its rise per 100 candidates."""
    slope, intercept = np.polyfit(*zip(*points), 1)
    return intercept, 100 * slope


def generation_costs(seeds, rounds, generations, script):
    """A generation as the run calls it (`evolve`'s loop, the command's attempt), at populations 100, 200 and 400
    (the batches of restarts 0, 1, 2), under each of SETTINGS, each a process of its own, taken in turns: the history's
    milliseconds a generation, the compiled call's alone, the minor page faults a call; then the fixed cost and the
    cost of 100 more candidates. Then the command itself, `catch_es.py --seed S`: its history.csv's generations at
    population 100 (the first attempt, after its first row), against the history figure measured here."""
    print(cpu())
    print(
        f"seeds {seeds.start}..{seeds.stop - 1}, {generations} generations at each population, {rounds} rounds"
    )
    found = {name: [] for name, _ in SETTINGS}
    for _ in range(rounds):
        for name, setting in SETTINGS:
            env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true", **setting}
            for seed in seeds:
                code = GENERATION_CHILD.format(
                    root=str(Path(script).resolve().parent), seed=seed, generations=generations
                )
                done = subprocess.run(
                    [sys.executable, "-c", code],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=True,
                )
                found[name] += json.loads(done.stdout.strip().splitlines()[-1])
    at_100 = {}
    for name, _ in SETTINGS:
        print(f"{name}: milliseconds a generation (median over seeds and rounds)")
        by_population = {}
        for row in found[name]:
            by_population.setdefault(row["population"], []).append(row)
        for population, rows in sorted(by_population.items()):
            step, call = (
                statistics.median(1000 * row[key] for row in rows) for key in ("step", "call")
            )
            faults = statistics.median(row["faults"] for row in rows)
            print(
                f"  population {population}: {step:6.2f} ms in the history, {call:6.2f} ms the call alone, "
                f"{faults:6.0f} page faults a call"
            )
        points = [(row["population"], 1000 * row["step"]) for row in found[name]]
        fixed, per_100 = fixed_and_per_100(points)
        peak = statistics.median(row["peak"] for row in found[name])
        print(
            f"  fixed cost {fixed:.2f} ms a generation; each 100 candidates more {per_100:.2f} ms; "
            f"the process's peak memory {peak:.0f} MB"
        )
        at_100[name] = statistics.median(
            1000 * row["step"] for row in found[name] if row["population"] == 100
        )
    command = []
    with tempfile.TemporaryDirectory() as cache:
        for seed in seeds:
            histories = []
            for _ in range(2):  # the first run fills the compile cache: its history is kept too
                seconds_to_solve(seed, script, histories, cache)
            for rows in histories:
                command += first_attempt_steps(rows)
    ours, run = at_100[SETTINGS[0][0]], 1000 * statistics.median(command)
    print(
        f"the command, seeds {seeds.start}..{seeds.stop - 1}, each run twice: {run:.2f} ms a generation at "
        f"population 100 in history.csv ({len(command)} generations) against {ours:.2f} ms here: "
        f"{run / ours:.3f} times"
    )


def once_ms(work):
    start = time.perf_counter()
    work()
    return 1000 * (time.perf_counter() - start)


def median_ms(work, repeats):
    work()  # compile, warm the caches
    return statistics.median([once_ms(work) for _ in range(repeats)])


def unrolled(fall_every):
    """A game whose 9·M steps are a Python loop, which the compiler unrolls, instead of a compiled loop."""

    def game(policy, fruit_columns, basket_centres):
        state = ce.reset(fruit_columns, basket_centres)
        for t in range(ce.GAME_LENGTH * fall_every):
            state, reward = rl.step_variant(state, policy(state), t, fall_every)
        return reward

    return game


def per_step_player(model):
    """The player before issue 29, for the default network: each game's board scored at each of its 9 steps
    (its four kernel rows gathered), instead of every board once per candidate and the games looking moves up."""
    shapes = [variable.shape for variable in model.trainable_variables]

    def moves(candidate):  # (a candidate's weights, its 80 games' states) -> their moves
        kernel, bias, out_kernel, out_bias = ce.unflatten_weights(candidate[0], shapes)
        state = ce.CatchState(*candidate[1:])
        basket = (ce.GRID_SIZE - 1) * ce.GRID_SIZE + state.basket_centre
        lit = [state.fruit_row * ce.GRID_SIZE + state.fruit_column, basket - 1, basket, basket + 1]
        rows = ce.tf.gather(kernel, ce.ops.stack(lit, axis=-1))
        scores = ce.ops.relu(ce.ops.sum(rows, axis=-2) + bias) @ out_kernel + out_bias
        return ce.tf.argmax(scores, axis=-1, output_type="int32")

    def games(population, *starts):
        return ce.play_games(
            lambda state: ce.ops.vectorized_map(moves, (population, *state)), *starts
        )

    compiled = ce.tf.function(games, jit_compile=True, autograph=False)
    return lambda population: compiled(population, *ce.starts_for(len(population))).numpy()


def loops(repeats):
    """Longer games (--fall-every M), one generation at population 100: steps unrolled, or a compiled loop."""
    keras.utils.set_random_seed(0)
    model = ce.build_policy()
    theta = ce.flatten_weights(model)
    population = np.vstack([theta, ce.EvolutionStrategy(theta, 100).ask()])
    print(f"one generation of 8,080 games, first call (compiling) and then the median of {repeats}")
    for fall_every in (1, 2, 8):
        looped = rl.game_of(rl.StudyConfig(fall_every=fall_every))
        for name, game in (("unrolled", unrolled(fall_every)), ("loop", looped)):
            player = scale_out.make_player(model, game)
            start = time.perf_counter()
            player(population)
            first = time.perf_counter() - start
            # unrolled 72 steps take seconds a call
            runs = repeats if name == "loop" or fall_every < 8 else 2
            print(
                f"  --fall-every {fall_every} ({ce.GAME_LENGTH * fall_every:2d} steps), {name:<8}: compiling "
                f"{first:5.1f} s, then {median_ms(lambda: player(population), runs):8.1f} ms",
                flush=True,
            )


def pieces(repeats):
    """Milliseconds per generation of the default run (population 100): each speed trick against the plain way."""
    print(cpu(), flush=True)
    keras.utils.set_random_seed(0)
    model = ce.build_policy()
    theta, config = ce.flatten_weights(model), ce.Config()
    _, strategy, _ = ce.fast_attempt(config, 0)
    # the same network as a functional model: the player runs it whole on the board
    inputs = keras.Input((100,))
    whole = keras.Model(inputs, model.layers[1](model.layers[0](inputs)))
    lookup, general = scale_out.make_player(model), scale_out.make_player(whole)
    unrolled_player = scale_out.make_player(model, unrolled(1))
    population = np.vstack([theta, np.asarray(strategy.ask())])
    # (compiled alone, a count must be given: the population is a variable's value)
    pairs = strategy.batch // 2
    ask = ce.tf.function(lambda: strategy.ask(0, pairs), jit_compile=True)
    noise = ce.tf.function(lambda: strategy.noise(0, pairs), jit_compile=True)
    tell = ce.tf.function(strategy.tell, jit_compile=True)
    fused = ce.play_here(model)

    def fresh_noise():
        return np.random.default_rng([config.seed, 0]).standard_normal(
            (50, len(theta)), dtype="float32"
        )

    def three_calls():  # ask, play and tell compiled apart, with NumPy in between: a generation before issue 20
        rewards = lookup(np.vstack([strategy.theta, ask().numpy()]))
        tell(rewards[1:].sum(axis=1))
        return ce.count_catches(rewards[0])

    per_step = per_step_player(model)
    # the same games, the same rewards
    assert np.array_equal(per_step(population), lookup(population))
    rows = [
        (
            "play theta and 100 candidates: each game at each step / each board once",
            lambda: per_step(population),
            lambda: lookup(population),
        ),
        (
            "Part I's plain player (the whole network, each step) / the fast path (a table, rows summed)",
            lambda: general(population),
            lambda: lookup(population),
        ),
        (
            "... the nine steps unrolled / a compiled loop",
            lambda: unrolled_player(population),
            lambda: lookup(population),
        ),
        (
            "draw the noise of 50 pairs: fresh / from the table",
            fresh_noise,
            lambda: noise().numpy(),
        ),
        ("ask, compiled alone", lambda: ask().numpy(), None),
        (
            "tell (ranks, R · n, Adam), compiled alone",
            lambda: tell(np.arange(100.0, dtype="float32")),
            None,
        ),
        ("a generation: three compiled calls / one", three_calls, lambda: fused(strategy)),
    ]
    print(
        f"milliseconds per generation of the default run, median of {repeats}: the plain way / the trick "
        "(in blocks taken in turns, so that the machine's moods reach both)"
    )
    for name, plain, trick in rows:
        if trick is None:
            print(f"  {name:<74} {median_ms(plain, repeats):8.2f} ms", flush=True)
            continue
        times = {plain: [], trick: []}
        for _ in range(5):  # five rounds of a block each: a call to warm, then repeats / 5 timed
            for work in times:
                work()
                times[work] += [once_ms(work) for _ in range(max(1, repeats // 5))]
        slow, quick = statistics.median(times[plain]), statistics.median(times[trick])
        print(f"  {name:<74} {slow:8.2f} ms {quick:8.2f} ms  {slow / quick:5.1f}x", flush=True)


def games_per_second(population_size, repeats):
    """Median games per second of one compiled call playing P candidates x 80 games."""
    keras.utils.set_random_seed(0)
    model = ce.build_policy()
    play_population = scale_out.make_player(model)  # the player the script's runs use
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


def reinforce_games_per_second(repeats, fall_every=1):
    """Median training games per second of es_vs_rl's REINFORCE at 80 games an update: one compiled call is
    es_vs_rl.BLOCKS blocks, each the exact greedy catch rate and then 25 updates (2,000 games)."""
    import es_vs_rl as rl

    learner = rl.Reinforce(rl.StudyConfig(fall_every=fall_every))
    learner.start(0)
    learner.blocks(0, 0)  # compile
    seconds = []
    for number in range(1, repeats + 1):
        start = time.perf_counter()
        learner.blocks(0, number)
        seconds.append(time.perf_counter() - start)
    return rl.BLOCKS * learner.games_per_block / statistics.median(seconds)


def generation_seconds(population_size, workers, repeats):
    """Median seconds to play one generation (theta and its candidates), in this process or on Ray workers,
    and the bytes that travelled per generation."""

    config = ce.Config(population_size=population_size)
    keras.utils.set_random_seed(0)
    model = ce.build_policy()
    players = scale_out.RayPlayers(config, workers) if workers else ce.play_here(model)
    strategy = ce.EvolutionStrategy(ce.flatten_weights(model), population_size, seed=0)
    players(strategy)  # start the workers and compile
    seconds = []
    sent, received = getattr(players, "sent", 0), getattr(players, "received", 0)
    for _ in range(repeats):
        start = time.perf_counter()
        players(strategy)  # ask, play and tell
        seconds.append(time.perf_counter() - start)
    traffic = (
        (getattr(players, "sent", 0) - sent) // repeats,
        (getattr(players, "received", 0) - received) // repeats,
    )
    if workers:
        players.close()
    return statistics.median(seconds), traffic


def distributed(repeats):
    """Generation time in this process and on 1 and 2 Ray workers of a local instance with 2 CPUs."""
    import ray

    # a local instance with 2 CPUs, shared by the 1- and 2-worker runs
    scale_out.connect_ray(2, "", [ce, scale_out])
    print("one generation (theta and P candidates x 80 games), median of", repeats)
    for population_size in (100, 1000):
        games = (population_size + 1) * 80
        for workers in (0, 1, 2):
            seconds, (sent, received) = generation_seconds(population_size, workers, repeats)
            where = (
                f"{workers} Ray worker{'s' if workers > 1 else ''}"
                if workers
                else "in this process"
            )
            traffic = f", {sent:,} bytes out and {received:,} back" if workers else ""
            print(
                f"  population {population_size:4d}, {where:<16}: {seconds * 1000:7.1f} ms, "
                f"{games / seconds:9,.0f} games/s{traffic}",
                flush=True,
            )
    ray.shutdown()


def when_it_pays(repeats, out):
    """Measure what scale_out's model needs for populations 100 and 10,000, on Part I's game (9 steps) and the
    72-step game (es_vs_rl's --fall-every 8); print the table and draw the figure; keep the costs as JSON."""
    import functools

    # a local instance, 2 CPUs; workers import es_vs_rl too
    ray = scale_out.connect_ray(2, "", [ce, scale_out, rl])
    measured = {}
    for population_size in (100, 10_000):
        for steps, game in (
            (9, ce.play_games),
            (72, functools.partial(rl.play_variant, fall_every=8)),
        ):
            config = ce.Config(population_size=population_size)
            name = f"population {population_size:,}, {steps}-step game"
            measured[name] = scale_out.measure_costs(
                config, game, repeats=repeats if population_size < 10_000 else 3
            )
            print(
                f"  {name}: "
                + ", ".join(f"{key} {value:.4g}" for key, value in measured[name].items()),
                flush=True,
            )
    ray.shutdown()
    out.mkdir(parents=True, exist_ok=True)
    (out / "costs.json").write_text(json.dumps(measured, indent=1))
    scale_out.when_it_pays(measured)
    scale_out.draw_when_it_pays(measured, out / "when_it_pays.png")
    print(f"\ncosts in {out / 'costs.json'}, figure in {out / 'when_it_pays.png'}")


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
            state, _ = ce.step(state, np.argmax(scores, axis=-1).astype("int32"))
    return games / (time.perf_counter() - start)


def seconds_to_solve(seed, script, per_generation=None, cache=None):
    """Run `python catch_es.py --seed S`: seconds from launch to the "solved" line and to exit, and generations.

    `per_generation`, a list, gets the run's history.csv (its rows' seconds and restarts); `cache`, a folder: the
    compile cache's home (XDG_CACHE_HOME) for this run, else a fresh one, so that every run compiles."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            str(script),
            "--seed",
            str(seed),
            "--no-render",
            "--out",
            str(Path(folder) / "run"),
        ]
        start, solved_at, last = time.perf_counter(), None, "?"
        env = dict(
            os.environ, PYTHONUNBUFFERED="1", XDG_CACHE_HOME=str(cache or Path(folder) / "cache")
        )
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=folder,
            env=env,
        ) as run:
            for line in run.stdout:
                if line.startswith("solved: all 80"):
                    solved_at = time.perf_counter() - start
                if line.startswith("generation"):
                    last = line.split()[1].rstrip(":")
        exited_at = time.perf_counter() - start
        if per_generation is not None:
            # (none if the run ended before its first generation)
            history = Path(folder) / "run" / "history.csv"
        per_generation.append(
            [(float(row["seconds"]), int(row["restarts"])) for row in csv.DictReader(open(history))]
            if history.is_file()
            else []
        )
    return solved_at if run.returncode == 0 else None, exited_at, last


def peer_run(seed, python, peer, seeds=None):
    """Run the evosax peer on one seed (or `seeds`, one after the other in one process): seconds to its first result
    line and to exit, and the JSON of each seed."""
    start, results = time.perf_counter(), []
    with subprocess.Popen(
        [python, str(peer), "--seeds", *map(str, seeds or [seed]), "--budget", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as run:
        for line in run.stdout:
            if line.startswith("{"):
                results.append(json.loads(line))
                if len(results) == 1:
                    solved_at = time.perf_counter() - start
    return solved_at if results[0]["solved"] else None, time.perf_counter() - start, results


RERUN = """
import json, sys, time
sys.path.insert(0, {root!r})
import catch_es as ce
quiet = lambda history, done: None
ce.run_training(ce.Config(seed={first}), progress=quiet)
start = time.perf_counter()
result = ce.run_training(ce.Config(seed={seed}), progress=quiet)
print(json.dumps(dict(seconds=time.perf_counter() - start, status=result.status, generations=len(result.history))))
"""


def rerun_seconds(seed, first, script):
    """A notebook's rerun: seed `first` trained, then `seed` in the same process: the second one's seconds."""
    code = RERUN.format(root=str(Path(script).resolve().parent), first=first, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, XDG_CACHE_HOME=folder)  # (train itself never uses the on-disk cache)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["seconds"] if result["status"] == "solved" else float("inf")


def restarts_at(rows):
    """The rows, (seconds, restarts) each, where an attempt starts after a restart."""
    return [i for i in range(1, len(rows)) if rows[i][1] != rows[i - 1][1]]


def first_attempt_steps(rows):
    """The seconds of each generation of the first attempt, rows (seconds, restarts) each, after its first row (which
    compiled or loaded the program)."""
    first = [seconds for seconds, restarts in rows if not restarts]
    return list(np.diff(first[1:]))


def history_gaps(rows):
    """The seconds between each two rows, (seconds, restarts) each, and their median: the run's median generation."""
    gaps = np.diff([seconds for seconds, _ in rows])
    return gaps, statistics.median(gaps)


def restart_costs(rows):
    """Each restart's gap in the history (the seconds between the rows around it): in the run's median generations,
    and in the median generations of the attempt it starts (whose population, bigger, plays in that gap too)."""
    (gaps, median), costs = history_gaps(rows), []
    for i in restarts_at(rows):
        attempt = [
            gaps[j - 1]
            for j in range(i + 1, len(rows))
            if rows[j][1] == rows[j - 1][1] == rows[i][1]
        ]
        costs.append(
            (
                gaps[i - 1] / median,
                gaps[i - 1] / statistics.median(attempt) if attempt else float("nan"),
            )
        )
    return costs


def machine_peak(repeats=5):
    """FLOP/s of a large float32 matrix product on every core (TensorFlow's, as our games use): the ceiling."""
    a = ce.tf.random.normal((2048, 2048))
    seconds = median_ms(lambda: ce.tf.linalg.matmul(a, a).numpy(), repeats) / 1000
    return 2 * 2048**3 / seconds


def flop_per_generation(population_size=100, hidden=100):
    """Arithmetic of a generation of the lookup player: per board, four kernel rows summed, a bias, a ReLU, and
    the output layer (hidden x 3 multiply-adds and 3 biases); theta and the candidates, each on the 720 boards."""
    per_board = 3 * hidden + hidden + hidden + 2 * hidden * len(ce.ACTIONS) + len(ce.ACTIONS)
    return (population_size + 1) * ce.BOARDS * per_board


def against_peer(seeds, script, python, peer, rerun_after=100):
    """Our default run and the evosax peer as a user meets both, seed by seed, alternating which goes first: cold
    (an empty compile cache for us; evosax as shipped) and warm (a second run of each on this machine), from launch
    to the solved line and to exit; per generation from the first to the last history row (restarts included), the
    median of the seed's two runs (one run alone once put a seed 20% above its others); each restart's gap, in both
    runs; and the notebook's rerun, a second seed trained in the same process after a first."""
    print(cpu(), flush=True)
    sides = {
        side: {
            key: []
            for key in (
                "cold solved",
                "cold exit",
                "warm solved",
                "warm exit",
                "generation",
                "rerun",
                "games a second",
            )
        }
        for side in ("ours", "evosax")
    }
    restarts = []
    for seed in seeds:
        for side in ("ours", "evosax")[:: 1 if seed % 2 == 0 else -1]:
            mine = sides[side]
            if side == "ours":
                histories = []  # the cold run's and the warm run's: neither compiles after its first row
                with tempfile.TemporaryDirectory() as cache:
                    for when in ("cold", "warm"):
                        solved, exited, generations = seconds_to_solve(
                            seed, script, histories, cache
                        )
                        mine[f"{when} solved"].append(float("inf") if solved is None else solved)
                        mine[f"{when} exit"].append(exited)
                mine["generation"].append(
                    statistics.median(
                        (rows[-1][0] - rows[0][0]) / (len(rows) - 1) for rows in histories
                    )
                )
                restarts += [(seed, cost) for rows in histories for cost in restart_costs(rows)]
                # the candidates' games (theta's 80 left out, as evosax counts them) a second in the first
                # attempt, population 100, after its first row (which compiled or loaded the program)
                steps = [step for rows in histories for step in first_attempt_steps(rows)]
                mine["games a second"].append(
                    ce.Config().population_size * ce.START_COUNT / statistics.median(steps)
                )
                mine["rerun"].append(rerun_seconds(seed, rerun_after + seed, script))
            else:
                results = []
                for when in ("cold", "warm"):
                    solved, exited, (result,) = peer_run(seed, python, peer)
                    mine[f"{when} solved"].append(float("inf") if solved is None else solved)
                    mine[f"{when} exit"].append(exited)
                    results.append(result)
                generations = result["generations"]
                mine["generation"].append(
                    statistics.median(
                        (result["train_seconds"] - result["compile_seconds"])
                        / result["generations"]
                        for result in results
                    )
                )
                mine["games a second"].append(
                    statistics.median(result["games_per_second_excl_compile"] for result in results)
                )
                second = peer_run(seed, python, peer, seeds=[rerun_after + seed, seed])[2][1]
                mine["rerun"].append(
                    second["total_seconds_incl_import"] - second["import_seconds"]
                    if second["solved"]
                    else float("inf")
                )
            print(
                f"seed {seed}, {side}: {generations} generations; cold {mine['cold solved'][-1]:.1f} s to solved, "
                f"{mine['cold exit'][-1]:.1f} s to exit; warm {mine['warm solved'][-1]:.1f} s, "
                f"{mine['warm exit'][-1]:.1f} s; {mine['generation'][-1] * 1000:.2f} ms a generation; rerun "
                f"{mine['rerun'][-1]:.2f} s",
                flush=True,
            )
    print(f"medians over seeds {seeds.start}..{seeds.stop - 1} (ours / evosax = ratio):")
    for key in ("cold solved", "cold exit", "warm solved", "warm exit", "generation", "rerun"):
        a, b = statistics.median(sides["ours"][key]), statistics.median(sides["evosax"][key])
        print(f"  {key:<12} {a:9.3f} / {b:9.3f} s = {a / b:.3f}")
    a, b = (statistics.median(sides[side]["games a second"]) for side in ("ours", "evosax"))
    print(
        f"  games a second at population 100 (the first attempt): {a:,.0f} / {b:,.0f} = {a / b:.2f} times"
    )
    slowest = max(sides["ours"]["generation"])
    print(
        f"  per generation (a seed's two runs, their median), our slowest seed against evosax's median: "
        f"{slowest * 1000:.2f} / {statistics.median(sides['evosax']['generation']) * 1000:.2f} ms = "
        f"{slowest / statistics.median(sides['evosax']['generation']):.3f}"
    )
    print(
        "  each restart's gap in our histories (cold run, then warm), in the run's median generations (and in those "
        "of the attempt it starts): "
        + (
            ", ".join(f"seed {seed} {cost:.1f} ({own:.1f})" for seed, (cost, own) in restarts)
            or "no restarts"
        )
    )
    peak, flop = machine_peak(), flop_per_generation()
    for name, side in (
        ("catch_es.py", sides["ours"]),
        ("evosax (a dense first layer: 20x the arithmetic)", sides["evosax"]),
    ):
        share = flop / statistics.median(side["generation"]) / peak
        print(
            f"  machine's ceiling: {flop / 1e6:.0f} MFLOP a generation at {peak / 1e9:.0f} GFLOP/s (a 2048^2 "
            f"matrix product) = {flop / peak * 1000:.2f} ms; {name} reaches {share:.1%} of it"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and seeds")
    parser.add_argument(
        "--no-ray", action="store_true", help="skip the distributed mode (Ray not installed)"
    )
    parser.add_argument(
        "--pieces",
        action="store_true",
        help="only the pieces of a generation, each trick against the plain way",
    )
    parser.add_argument(
        "--generation",
        action="store_true",
        help="a generation as a run calls it: fixed and per-candidate cost, each allocator, against a run",
    )
    parser.add_argument(
        "--loops", action="store_true", help="only longer games: unrolled steps against a loop"
    )
    parser.add_argument(
        "--solve-only", action="store_true", help="only the seconds and generations to solve"
    )
    parser.add_argument(
        "--learners-only", action="store_true", help="only the ES's and REINFORCE's games a second"
    )
    parser.add_argument(
        "--seeds", help="the seeds to solve, FIRST-LAST (default 0-9, with --quick 0-1)"
    )
    parser.add_argument(
        "--script", default=str(ROOT / "catch_es.py"), help="the catch_es.py to run"
    )
    parser.add_argument(
        "--against",
        help="another catch_es.py, run seed by seed beside --script (alternating "
        "which goes first), so that both see the same state of the machine",
    )
    parser.add_argument(
        "--when-it-pays",
        action="store_true",
        help="scale_out's model of a cluster: measure its costs here, print and draw T(W)",
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "benchmarks" / "when-it-pays"),
        help="where --when-it-pays writes",
    )
    parser.add_argument(
        "--peer",
        action="store_true",
        help="our default run beside the evosax peer, seed by seed (--seeds, default 0-4)",
    )
    parser.add_argument(
        "--peer-python",
        default=str(ROOT / ".venv-evosax" / "bin" / "python"),
        help="the Python of the peer's virtual environment (see benchmarks/peers/README.md)",
    )
    args = parser.parse_args()
    repeats, seeds, games = (3, range(2), 5) if args.quick else (10, range(10), 20)
    if args.seeds:
        first, last = (int(seed) for seed in args.seeds.split("-"))
        seeds = range(first, last + 1)
    if args.pieces:
        return pieces(3 if args.quick else 60)
    if args.generation:
        return generation_costs(
            range(2) if not args.seeds else seeds,
            1 if args.quick else 2,
            40 if args.quick else 60,
            args.script,
        )
    if args.loops:
        return loops(3 if args.quick else 10)
    if args.solve_only:
        return solve(seeds, args.script, args.against)
    if args.when_it_pays:
        return when_it_pays(3 if args.quick else 10, Path(args.out))
    if args.peer:
        return against_peer(
            range(5) if not args.seeds else seeds,
            args.script,
            args.peer_python,
            ROOT / "benchmarks" / "peers" / "evosax_catch.py",
        )

    print(f"{cpu()}; keras {keras.__version__}, backend {keras.backend.backend()}")
    compiled = {}
    for population_size in (100, 1000):
        compiled[population_size] = games_per_second(population_size, repeats)
        print(
            f"compiled, population {population_size:4d} x 80 games: {compiled[population_size]:10,.0f} games/s "
            f"(median of {repeats})"
        )
    for fall_every in (1, 8):
        reinforce = reinforce_games_per_second(repeats, fall_every)
        print(
            f"REINFORCE, 80 games an update, T = {9 * fall_every:2d}: {reinforce:10,.0f} training games/s "
            f"(median of {repeats} calls of 100 updates; the ES at population 100, T = 9: "
            f"{compiled[100] / reinforce:.1f} times as many)",
            flush=True,
        )
    if args.learners_only:
        return
    original = predict_per_step_games_per_second(games)
    print(f"original, one model.predict per step:   {original:10,.1f} games/s ({games} games)")
    print(f"speed-up at population 100: {compiled[100] / original:,.0f}x")

    if not args.no_ray:
        distributed(repeats)

    solve(seeds, args.script)


def nearest_rank(values, fraction):
    """The nearest-rank percentile: the smallest value at least `fraction` of the values do not exceed."""
    return sorted(values)[math.ceil(fraction * len(values)) - 1]


def solve(seeds, script, against=None):
    """Each seed's run from launch: how many solve, and the median, 90th percentile and maximum."""
    scripts = [script] + ([against] if against else [])
    runs = {name: dict(solved=[], generations=[], exits=[], per_generation=[]) for name in scripts}
    print(
        f"python SCRIPT --seed S --no-render, seeds {seeds.start}..{seeds.stop - 1}, SCRIPT: {', '.join(scripts)}",
        flush=True,
    )
    for seed in seeds:
        for name in scripts[:: 1 if seed % 2 == 0 else -1]:  # alternate which goes first
            run, histories = runs[name], []
            solved_at, exited_at, generation = seconds_to_solve(seed, name, histories)
            # per generation from the first history row to the last, restarts included
            rows = histories[0]
            # (no generation after the first: never, as unsolved)
            run["per_generation"].append(
                1000 * (rows[-1][0] - rows[0][0]) / (len(rows) - 1)
                if len(rows) > 1
                else float("inf")
            )
            run["exits"].append(exited_at)
            # An unsolved seed counts as never solving, so it sits at the top of the ranking.
            run["solved"].append(float("inf") if solved_at is None else solved_at)
            run["generations"].append(float("inf") if solved_at is None else int(generation))
            verdict = (
                "NOT solved" if solved_at is None else f"80/80 after {solved_at:5.1f} s from launch"
            )
            print(
                f"seed {seed}: {verdict}, exited after {exited_at:5.1f} s (generation {generation}, "
                f"{run['per_generation'][-1]:.2f} ms a generation) {name}",
                flush=True,
            )
    for name, run in runs.items():
        count = sum(seconds < float("inf") for seconds in run["solved"])
        print(f"{name}: solved {count}/{len(run['exits'])}")
        for label, values in [
            ("generations to 80/80", run["generations"]),
            ("seconds from launch to 80/80", run["solved"]),
            ("seconds from launch to exit", run["exits"]),
            ("ms a generation, first to last history row", run["per_generation"]),
        ]:
            print(
                f"  {label}: median {statistics.median(values):.1f}, "
                f"90th percentile {nearest_rank(values, 0.9):.1f}, max {max(values):.1f}"
            )
    if against:
        ratio = statistics.median(runs[script]["solved"]) / statistics.median(
            runs[against]["solved"]
        )
        print(f"median seconds to 80/80, {script} over {against}: {ratio:.3f}")
        # the seeds both played
        each = [
            mine / theirs
            for mine, theirs in zip(runs[script]["per_generation"], runs[against]["per_generation"])
            if math.isfinite(mine) and math.isfinite(theirs)
        ]
        if each:
            print(
                f"ms a generation, {script} over {against}, seed by seed: median {statistics.median(each):.3f} "
                f"({min(each):.3f} to {max(each):.3f}, {len(each)} seeds)"
            )


if __name__ == "__main__":
    main()
