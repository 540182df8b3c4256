"""The weights each seed trains to, as a digest: to check that a change moved no weight.

    python benchmarks/weights.py 0-4                        # this catch_es.py
    python benchmarks/weights.py 0-4 --root OLD_CHECKOUT    # another checkout's, to compare line by line
    TF_CPU_ALLOCATOR_USE_BFC=false python benchmarks/weights.py 0-4   # TensorFlow's default allocator

One line a seed: its status, the generation it ended at, the SHA-256 of the trained theta's bytes.
Bit-identical weights hold on one machine with one set of library versions.
"""

import argparse
import hashlib
import sys
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("seeds", help="FIRST-LAST")
parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
args = parser.parse_args()
sys.path.insert(0, args.root)
import catch_es as ce  # noqa: E402

first, last = (int(seed) for seed in args.seeds.split("-"))
for seed in range(first, last + 1):
    result = ce.run_training(ce.Config(seed=seed), progress=lambda history, done: None)
    digest = hashlib.sha256(ce.np.asarray(result.state.theta).tobytes()).hexdigest()
    print(
        f"seed {seed}: {result.status} at generation {result.history[-1]['generation']}, theta {digest}"
    )
