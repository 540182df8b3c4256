"""The statistics of es_vs_rl.py's claims: intervals, paired tests, signal-to-noise ratios, its CSV files.

A fraction of seeds solved gets Wilson's 95% interval; a median (an unsolved run counting as never,
inf) the 2.5th and 97.5th percentiles of the medians of 2,000 resamples of the seeds (the
bootstrap). Two learners run on the same seeds are compared seed by seed, on both outcomes. Seeds
solved: McNemar's exact test on the seeds one solved and the other did not (under "no difference"
each is a fair coin), and Newcombe's interval on the difference of the fractions. Games to solve,
unsolved counting as never: a sign test on the seeds where one needed fewer, and the median ratio
of their games with a bootstrap interval.
"""

import csv
import math

import numpy as np


def wilson(solved, seeds, z=1.96):
    """Wilson's 95% interval for a fraction solved/seeds: (low, high)."""
    share, spread = solved / seeds, z * z / seeds
    middle = (share + spread / 2) / (1 + spread)
    half = z * math.sqrt(share * (1 - share) / seeds + spread / seeds / 4) / (1 + spread)
    return max(0.0, middle - half), min(1.0, middle + half)


def median_interval(values, resamples=2_000, seed=0):
    """The median of values (inf: never) and its bootstrap 95% interval: (median, low, high)."""
    values = np.asarray(values, dtype="float64")
    picks = np.random.default_rng(seed).integers(len(values), size=(resamples, len(values)))
    with np.errstate(invalid="ignore"):  # the mean of a finite value and inf is inf, as it should
        medians = np.median(values[picks], axis=1)
    low, high = np.quantile(medians, [0.025, 0.975], method="inverted_cdf")
    return float(np.median(values)), float(low), float(high)


def as_text(value):  # a number of games, or "never"
    return "never" if value == math.inf else f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def sign_test(wins, losses):
    """The exact two-sided p of `wins` against `losses` if each untied seed were a fair coin."""
    count, fewer = wins + losses, min(wins, losses)
    tail = sum(math.comb(count, k) for k in range(fewer + 1)) / 2**count
    return min(1.0, 2 * tail) if count else 1.0


def newcombe(a, b):
    """The difference of two paired fractions (booleans over the same seeds) and its 95% interval,
    Newcombe's (1998) method 10: each one's Wilson interval, joined with the pairs' correlation."""
    both, first, second, neither = (int(np.sum(x)) for x in (a & b, a & ~b, ~a & b, ~a & ~b))
    (p1, p2), n = (float(a.mean()), float(b.mean())), len(a)
    (l1, u1), (l2, u2) = wilson(int(a.sum()), n), wilson(int(b.sum()), n)
    product = (both + first) * (second + neither) * (both + second) * (first + neither)
    phi = (both * neither - first * second) / math.sqrt(product) if product else 0.0
    below = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    above = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return p1 - p2, p1 - p2 - below, p1 - p2 + above


# %%
def paired(runs, first, second, resamples=2_000):
    """Two learners on the seeds both ran: seeds solved (counts, McNemar's p, Newcombe's interval),
    games (on how many seeds each needed fewer, a sign test; the median over seeds of second's
    games / first's, with its bootstrap interval, a seed neither solved left out)."""
    by = {name: {r["seed"]: r for r in runs if r["learner"] == name} for name in (first, second)}
    seeds = sorted(set(by[first]) & set(by[second]))
    a, b = (np.array([by[name][s]["solved"] for s in seeds], bool) for name in (first, second))
    games = {name: np.array([by[name][s]["games"] for s in seeds], float) for name in by}
    fewer = int(np.sum(games[first] < games[second])), int(np.sum(games[second] < games[first]))
    with np.errstate(divide="ignore", invalid="ignore"):
        each = games[second][a | b] / games[first][a | b]  # inf / finite: inf; finite / inf: 0
    ratio = None
    if each.size:
        picks = np.random.default_rng(0).integers(each.size, size=(resamples, each.size))
        medians = np.median(each[picks], axis=1)
        low, high = np.quantile(medians, [0.025, 0.975], method="inverted_cdf")
        ratio = float(np.median(each)), float(low), float(high)
    only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    return dict(seeds=len(seeds), solved=(int(a.sum()), int(b.sum())), only=only,
                p=sign_test(*only), difference=newcombe(a, b), fewer=fewer,
                p_games=sign_test(*fewer), ratio=ratio)  # fmt: skip


def snr_of(estimates):
    """|E g|² / trace Cov g from independent estimates; with no noise at all, 0 if every one
    is zero (no signal: each mirrored pair tied) and else infinite."""
    estimates = np.asarray(estimates, "float64")
    noise = estimates.var(axis=0, ddof=1).sum()
    signal = np.sum(estimates.mean(axis=0) ** 2) - noise / len(estimates)
    return float(signal / noise) if noise > 0 else 0.0 if signal <= 0 else math.inf


def read_csv(path):
    """A study's CSV file as written, with numbers as numbers and booleans as booleans."""

    def value(text):
        if text in ("True", "False"):
            return text == "True"
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text  # a name, or "" where a column does not apply

    with open(path) as file:
        return [{name: value(text) for name, text in row.items()} for row in csv.DictReader(file)]
