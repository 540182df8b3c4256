"""The notes' last two claims, measured on Catch: long games and action repeat.

    python benchmarks/claims.py            # 10 seeds per game, the full run (22 minutes on 2 cores)
    python benchmarks/claims.py --quick    # 3 seeds and a smaller noise sample, the same tables (under 5 minutes)

Claims (Salimans et al. 2017, and the ES-vs-RL notes): an evolution strategy assigns
credit over long episodes (its gradient estimate's variance does not grow with the horizon
T, REINFORCE's grows nearly linearly), and it is robust to the rate of interaction
(frame-skip). Vemula, Sun and Bagnell (2019) predict the opposite ranking whenever the
parameters outnumber horizon × action dimension, as here (10,403 against 9 × 3).

For each game (`--fall-every M`: the fruit falls every M-th step, T = 9·M steps;
`--action-repeat K`: the policy decides every K-th step) it

1. checks by exhaustive search whether any policy can catch all 80 fruits;
2. trains the ES and REINFORCE from the same initial weights for each seed, under one
   budget of games and of seconds per learner (catch_es.race, as `--compare` does), and
   prints how many solved, and the median games and seconds to 80/80 and gradients;
3. estimates each learner's gradient many times at the initial weights from the same
   number of games and prints its signal-to-noise ratio, |E g|² / trace Cov g.

Everything is compiled once per game and reused across seeds; the seconds in the tables
start after that (the compile column says how long it took). It writes claims.csv,
snr.csv, claims_games.png and claims_snr.png into --out.
"""
import argparse
import csv
import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import catch_es as ce  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

HORIZONS = [(1, 1), (2, 1), (4, 1), (8, 1)]  # (fall_every M, action_repeat K): T = 9, 18, 36, 72
REPEATS = [(1, 2), (1, 3), (1, 9)]  # K = 9: one decision per game, the control
LEARNERS = ("ES", "REINFORCE")


def parse_games(text):
    """'1x1,8x1,1x3' -> [(1, 1), (8, 1), (1, 3)]"""
    try:
        games = [tuple(int(number) for number in item.split("x")) for item in text.split(",")]
    except ValueError:
        games = [()]
    if not all(len(game) == 2 and min(game) >= 1 for game in games):
        raise argparse.ArgumentTypeError(f"{text!r}: expected MxK pairs such as 1x1,8x1,1x3")
    return games


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, 10 s, a smaller noise sample")
    parser.add_argument("--seeds", type=int, help="seeds 0 .. N-1 per game (default 10; --quick 3)")
    parser.add_argument("--games", type=int, default=3_000_000, help="games each learner may play per seed")
    parser.add_argument("--seconds", type=float, help="seconds each learner may take per seed (default 30; --quick 10)")
    parser.add_argument("--snr-games", type=int, default=4_000, help="games behind each gradient estimate")
    parser.add_argument("--snr-repeats", type=int, help="REINFORCE's estimates per initial network (default 40; "
                        "--quick 16)")
    parser.add_argument("--es-snr-repeats", type=int, help="the ES's estimates per initial network (default 800; "
                        "--quick 200): its signal is ten thousand times fainter, and its estimates cheaper")
    parser.add_argument("--snr-networks", type=int, help="initial networks, seeds 0 .. N-1 (default 4; --quick 2)")
    parser.add_argument("--settings", type=parse_games, default=HORIZONS + REPEATS, metavar="MxK,...",
                        help="the games to measure (default: 1x1,2x1,4x1,8x1,1x2,1x3,1x9)")
    parser.add_argument("--out", default="benchmarks/claims", help="folder for the CSV files and plots")
    parser.add_argument("--plot-only", action="store_true", help="draw the plots again from --out's CSV files "
                        "(give the run's --games and --snr-games)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.seeds = args.seeds or (3 if quick else 10)
    args.seconds = args.seconds or (10.0 if quick else 30.0)
    args.snr_repeats = args.snr_repeats or (16 if quick else 40)
    args.es_snr_repeats = args.es_snr_repeats or (200 if quick else 800)
    args.snr_networks = args.snr_networks or (2 if quick else 4)
    if min(args.seeds, args.games, args.seconds, args.snr_networks) <= 0 or min(args.snr_repeats,
                                                                               args.es_snr_repeats) < 2:
        parser.error("--seeds, --games, --seconds, --snr-networks must be > 0, --snr-repeats and --es-snr-repeats >= 2")
    if args.snr_games < 2 * ce.START_STATES:
        parser.error(f"--snr-games must be at least {2 * ce.START_STATES}: one mirrored pair of candidates")
    return args


def percentile(values, q):
    ranked = sorted(values)
    return ranked[max(math.ceil(q * len(ranked)) - 1, 0)]


def summary(values):
    """Median of values in which an unsolved run counts as never (inf)."""
    middle = statistics.median(values)
    return "never" if middle == math.inf else f"{middle:,.0f}" if middle >= 100 else f"{middle:.1f}"


# Compiled once per game --------------------------------------------------------------------------------

class Game:
    """One game's compiled ES player and REINFORCE learner, and its gradient estimators."""

    def __init__(self, config, snr_games):
        start = time.perf_counter()
        self.config = config
        model = ce.build_policy(config.hidden_units)
        self.player = ce.make_lookup_player(model, ce.game_of(config))
        self.learner = ce.Reinforce(config)
        self.learner.update(np.zeros((ce.GAME_LENGTH * config.fall_every, 2), "int32"))  # compile it now
        self.player(np.zeros((config.population_size + 1, len(ce.flatten_weights(model))), "float32"))
        gradient = ce.reinforce_gradient(self.learner.model, config, snr_games // ce.START_STATES)
        self.reinforce_gradient = tf.function(jit_compile=True)(
            lambda seeds: ops.concatenate([ops.reshape(g, [-1]) for g in gradient(seeds)[0]]))
        self.pairs = snr_games // (2 * ce.START_STATES)
        self.compile_seconds = time.perf_counter() - start

    def race(self, seed):
        return ce.race(dataclasses.replace(self.config, seed=seed), ce.play_here(self.player), self.learner, show=False)

    def es_gradient(self, theta, seed, repeat):
        """The ES's estimate from `pairs` mirrored pairs: sum over pairs of (R+ - R-) / (2 sigma) n, averaged."""
        noise = np.random.default_rng([seed, repeat]).standard_normal((self.pairs, len(theta)), dtype="float32")
        rewards = self.player(ce.mirrored(theta, self.config.sigma, noise)).mean(axis=1, dtype="float64")
        return (rewards[0::2] - rewards[1::2]) / (2 * self.config.sigma) @ noise / self.pairs

    def reinforce_estimate(self, theta, seed, repeat):
        ce.set_flat_weights(self.learner.model, theta)
        steps = ce.GAME_LENGTH * self.config.fall_every
        seeds = np.array([[seed, repeat * steps + t] for t in range(steps)], "int32")
        return self.reinforce_gradient(seeds).numpy().astype("float64")


def signal_and_noise(estimates):
    """|E g|² and trace Cov g of one estimate, from independent estimates.

    |mean|² overstates |E g|² by the mean's own noise, trace Cov / n; subtracting it leaves an
    unbiased estimate, which can come out below zero when the signal is lost in the noise.
    """
    estimates = np.asarray(estimates)
    noise = estimates.var(axis=0, ddof=1).sum()
    return np.sum(estimates.mean(axis=0) ** 2) - noise / len(estimates), noise


# The experiment ----------------------------------------------------------------------------------------

def measure(game, args):
    M, K = game.config.fall_every, game.config.action_repeat
    runs = []
    for seed in range(args.seeds):
        for learner, result in game.race(seed).items():
            last = result.history[-1]
            solved = result.status == "solved"
            runs.append(dict(fall_every=M, action_repeat=K, steps=ce.GAME_LENGTH * M, seed=seed, learner=learner,
                             solved=solved, games=last["games"] if solved else math.inf,
                             seconds=last["seconds"] if solved else math.inf, played=last["games"],
                             gradients=len(result.history) if learner == "REINFORCE" else 0,
                             final_catches=round(last["catch_rate"] * ce.START_STATES)))
        print(f"  seed {seed}: " + ", ".join(f"{run['learner']} {'solved' if run['solved'] else 'not solved'} "
                                             f"({run['final_catches']}/80)" for run in runs[-2:]), flush=True)
    snr = []
    for network in range(args.snr_networks):
        ce.keras.utils.set_random_seed(network)
        theta = ce.flatten_weights(ce.build_policy(game.config.hidden_units))
        for learner, estimate, repeats in (("ES", game.es_gradient, args.es_snr_repeats),
                                           ("REINFORCE", game.reinforce_estimate, args.snr_repeats)):
            estimates = [estimate(theta, network, repeat) for repeat in range(repeats)]
            signal, noise = signal_and_noise(estimates)
            snr.append(dict(fall_every=M, action_repeat=K, steps=ce.GAME_LENGTH * M, network=network,
                            learner=learner, estimates=len(estimates), games=args.snr_games, signal=signal,
                            noise=noise, snr=signal / noise))
    return runs, snr


def print_table(game, verdict, runs, snr, args):
    M, K = game.config.fall_every, game.config.action_repeat
    decisions = -(-ce.GAME_LENGTH * M // K)
    print(f"\n{verdict}\n  T = {ce.GAME_LENGTH * M} steps, {decisions} decision{'s' * (decisions > 1)} per game; "
          f"compiled in {game.compile_seconds:.1f} s (not counted below)")
    print(f"  {'learner':<10} {'solved':>7} {'median games to 80/80':>22} {'median s to 80/80':>18} "
          f"{'gradients':>10} {'median final':>13} {'SNR of a gradient':>18} {'its trace Cov':>14}")
    for learner in LEARNERS:
        mine = [run for run in runs if run["learner"] == learner]
        ratios = [row["snr"] for row in snr if row["learner"] == learner]
        noises = [row["noise"] for row in snr if row["learner"] == learner]
        print(f"  {learner:<10} {sum(run['solved'] for run in mine):>4}/{len(mine):<2} "
              f"{summary([run['games'] for run in mine]):>22} {summary([run['seconds'] for run in mine]):>18} "
              f"{statistics.median(run['gradients'] for run in mine):>10,.0f} "
              f"{statistics.median(run['final_catches'] for run in mine):>10.0f}/80 "
              f"{statistics.median(ratios):>18.2e} {statistics.median(noises):>14.3g}")


def log_axes(axes, label, ticks):
    """Log-log axes whose x ticks are the values measured."""
    axes.set(xscale="log", yscale="log", xlabel=label)
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xticks(ticks or [1], [str(tick) for tick in ticks or [1]])
    axes.grid(alpha=0.3)


def plot(runs, snr, verdicts, args, out):
    """Games to 80/80 and the gradient's signal-to-noise ratio, against T and against K."""
    sides = [("steps", "game length T (steps; --fall-every M = T / 9)", lambda r: r["action_repeat"] == 1),
             ("action_repeat", "action repeat K (steps each decision is held)", lambda r: r["fall_every"] == 1)]
    colours = {"ES": "tab:blue", "REINFORCE": "tab:orange"}
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    ceiling = args.games * 1.6  # where unsolved runs are drawn
    for axes, (x, label, keep) in zip(figure.subplots(1, 2, sharey=True), sides):
        for learner in LEARNERS:
            mine = [run for run in runs if run["learner"] == learner and keep(run)]
            xs = sorted({run[x] for run in mine})
            if not xs:
                continue
            offset = 0.94 if learner == "ES" else 1.06  # keep the two learners' dots apart
            axes.scatter([run[x] * offset for run in mine if run["solved"]],
                         [run["games"] for run in mine if run["solved"]], s=12, alpha=0.4, color=colours[learner])
            lost = [run[x] * offset for run in mine if not run["solved"]]
            axes.scatter(lost, [ceiling] * len(lost), marker="x", color=colours[learner])
            for value in xs:  # how many seeds each cross stands for
                count = sum(not run["solved"] for run in mine if run[x] == value)
                if count:
                    axes.annotate(f"{count}/{sum(run[x] == value for run in mine)}", (value * offset, ceiling),
                                  xytext=(-10 if learner == "ES" else 10, -12), textcoords="offset points",
                                  ha="center", fontsize="x-small", color=colours[learner])
            medians = [(value, statistics.median(run["games"] for run in mine if run[x] == value)) for value in xs]
            medians = [(value, median) for value, median in medians if median < math.inf]  # unsolved: no median
            axes.plot(*zip(*medians) if medians else ([], []), "-o", color=colours[learner],
                      label=f"{learner}: median over seeds (dots: each seed)")
        axes.axhline(args.games, color="grey", linestyle=":", label=f"budget: {args.games:,} games")
        axes.text(0.02, ceiling, "x: seeds not solved within the budget", transform=axes.get_yaxis_transform(),
                  va="bottom", fontsize="small")
        log_axes(axes, label, sorted({run[x] for run in runs if keep(run)}))
        axes.legend(fontsize="small", loc="lower right", bbox_to_anchor=(1, 0.2))
    figure.axes[0].set_ylabel("games played until 80/80 (log scale)")
    unwinnable = [name for name, verdict in verdicts.items() if "no policy" in verdict]
    figure.suptitle("Games each learner needed to catch every fruit, per game variant" +
                    (f"\n(no policy can catch every fruit in {', '.join(unwinnable)})" if unwinnable else ""))
    figure.savefig(out / "claims_games.png", dpi=100)

    figure = Figure(figsize=(15, 4.8), layout="constrained")
    panels = figure.subplots(1, 3)
    panels[1].sharey(panels[0])
    for axes, (x, label, keep) in zip(panels, sides):
        for learner in LEARNERS:
            mine = [row for row in snr if row["learner"] == learner and keep(row)]
            xs = sorted({row[x] for row in mine})
            if not xs:
                continue
            axes.scatter([row[x] for row in mine], [max(row["snr"], 1e-6) for row in mine], s=12, alpha=0.4,
                         color=colours[learner])
            axes.plot(xs, [max(statistics.median(row["snr"] for row in mine if row[x] == value), 1e-6)
                           for value in xs], "-o", color=colours[learner],
                      label=f"{learner}: median over initial networks (dots: each)")
        log_axes(axes, label, sorted({row[x] for row in snr if keep(row)}))
        axes.legend(fontsize="small")
    panels[0].set_ylabel("signal-to-noise ratio of one gradient estimate\n|E g|² / trace Cov g (log scale; "
                         "≤ 0, lost in the noise: at 1e-6)")
    # The paper's argument itself: how the noise, trace Cov g, grows with T (relative to the shortest game).
    axes, (x, label, keep) = panels[2], sides[0]
    for learner in LEARNERS:
        mine = [row for row in snr if row["learner"] == learner and keep(row)]
        xs = sorted({row[x] for row in mine})
        if len(xs) > 1:
            noise = [statistics.median(row["noise"] for row in mine if row[x] == value) for value in xs]
            axes.plot(xs, [n / noise[0] for n in noise], "-o", color=colours[learner], label=learner)
    if xs:
        axes.plot(xs, [value / xs[0] for value in xs], ":", color="grey", label="proportional to T")
    log_axes(axes, label, sorted({row[x] for row in snr if keep(row)}))
    axes.yaxis.set_minor_locator(NullLocator())
    axes.set_yticks([1, 2, 4, 8, 16], ["1", "2", "4", "8", "16"])
    axes.set_ylabel(f"trace Cov g, relative to T = {xs[0] if xs else 9} (log scale)")
    axes.legend(fontsize="small")
    figure.suptitle(f"How noisy each learner's gradient is at the initial weights, from {args.snr_games:,} games "
                    "per estimate")
    figure.savefig(out / "claims_snr.png", dpi=100)


def write_csv(rows, path):
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path):
    """claims.csv or snr.csv as written, with numbers as numbers and booleans as booleans."""
    def value(text):
        if text in ("True", "False"):
            return text == "True"
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text  # the learner's name

    with open(path) as file:
        return [{name: value(text) for name, text in row.items()} for row in csv.DictReader(file)]


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    if args.plot_only:
        runs, snr = read_csv(out / "claims.csv"), read_csv(out / "snr.csv")
        games = sorted({(run["fall_every"], run["action_repeat"]) for run in runs})
        verdicts = {f"M={m}, K={k}": ce.describe_winnable(m, k) for m, k in games}
        return plot(runs, snr, verdicts, args, out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{args.seeds} seeds per game; each learner may play {args.games:,} games and take {args.seconds:g} s per "
          f"seed; gradient noise from {args.es_snr_repeats} (ES) and {args.snr_repeats} (REINFORCE) estimates of "
          f"{args.snr_games:,} games at each of {args.snr_networks} initial networks", flush=True)
    runs, snr, verdicts, start = [], [], {}, time.perf_counter()
    for M, K in args.settings:
        config = ce.Settings(fall_every=M, action_repeat=K, compare_games=args.games, compare_seconds=args.seconds,
                             render=False)
        name = f"M={M}, K={K}"
        verdicts[name] = ce.describe_winnable(M, K)
        print(f"\n{name}: {verdicts[name]}", flush=True)
        game = Game(config, args.snr_games)
        game_runs, game_snr = measure(game, args)
        print_table(game, verdicts[name], game_runs, game_snr, args)
        runs += game_runs
        snr += game_snr
        write_csv(runs, out / "claims.csv")
        write_csv(snr, out / "snr.csv")
    plot(runs, snr, verdicts, args, out)
    print(f"\nwrote claims.csv, snr.csv, claims_games.png and claims_snr.png to {out}/ "
          f"({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
