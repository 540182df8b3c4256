"""The refinements' table from the runs' files: benchmarks/refinements-<variant>.csv, one per variant, and the lines
the same command logged for the default (benchmarks/refinements-default-0-29.log) and for plain SGD, stopped after its
first seeds (benchmarks/refinements-sgd-partial.log: each seed took about 3 minutes, 1,000 generations at populations
up to 1,600, and none solved).

    python benchmarks/refinements_table.py > benchmarks/refinements.txt
"""

import csv
import math
import re
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from refinements import VARIANTS  # noqa: E402

LINE = re.compile(
    r"^(\S+) seed (\d+): (\w+) after (\d+) generations, ([\d,]+) games, (\d+) restarts"
)


def rows():
    found = {}
    logged = [
        HERE / f"refinements-{name}.log"
        for name in ("default-0-29", "sgd-partial", "plain-partial")
    ]
    logged = [path for path in logged if path.is_file()]
    for line in "\n".join(path.read_text() for path in logged).splitlines():
        if match := LINE.match(line):
            name, seed, status, generations, games, _ = match.groups()
            found.setdefault(name, []).append(
                dict(
                    seed=int(seed),
                    status=status,
                    generations=int(generations),
                    games=int(games.replace(",", "")),
                )
            )
    for name in VARIANTS:
        path = HERE / f"refinements-{name}.csv"
        if path.is_file():
            found[name] = [dict(row, seed=int(row["seed"]), generations=int(row["generations"]),
                                games=int(row["games"])) for row in csv.DictReader(open(path))]  # fmt: skip
    return found


def main():
    print(
        "What each refinement of Part I's ES buys on Catch: catch_es's defaults with one thing taken away, seeds 0-29,"
    )
    print(
        "2-core AMD EPYC, 2026-12-07. A run unsolved after 1,000 generations counts as never (the medians put it last)."
    )
    print(
        "Each row: python benchmarks/refinements.py --seeds 0-29 --variants NAME --out benchmarks/refinements-NAME"
    )
    print(
        "(the default's rows were logged by the same command, benchmarks/refinements-default-0-29.log)\n"
    )
    print("(a variant with fewer than 30 seeds was stopped early: its seeds are the first ones)\n")
    print(
        f"{'variant':<12} {'solved':>7} {'median games':>13} {'median generations':>19}  what changes"
    )
    for name, mine in rows().items():
        solved = [row for row in mine if row["status"] == "solved"]
        games = statistics.median([row["games"] if row in solved else math.inf for row in mine])
        generations = statistics.median(
            [row["generations"] if row in solved else math.inf for row in mine]
        )
        print(
            f"{name:<12} {len(solved):>3}/{len(mine):<3} {games:>13,.0f} {generations:>19,.0f}  {VARIANTS[name][0]}"
        )


if __name__ == "__main__":
    main()
