# %% [markdown]
"""
# Scaling out: the same evolution strategy on a Ray cluster

**Description:** play each generation of `catch_es.py` on the workers of a
[Ray](https://docs.ray.io) cluster, with only a few numbers travelling, and get exactly the
weights a run in one process gets.

A study beside `catch_es.py`, which it imports for the game, the network, the ES and the
training loop; read that file first.

    python scale_out.py --workers 2                 # a local Ray instance with 2 workers
    ray start --head                                # on a cluster; then, on any machine of it:
    python scale_out.py --ray-address auto --workers 64

Every option of `catch_es.py` works here too (`--seed`, `--resume`, ...), and a run folder
written here resumes with either script, bit for bit.

## Only scalars travel

Users who outgrow one machine (a bigger grid, a bigger network, tens of thousands of
candidates) can spread each generation over many workers; Ray is the engine under RLlib's ES
and EvoTorch. The trick that let OpenAI run ES on over a thousand CPUs is that **only scalars
travel**. A worker that holds the noise table can rebuild any candidate from
`(seed, generation, pair)`, so each generation sends out `theta` once, through Ray's object
store, plus a generation number and a range of pairs per worker; each worker sends back one
reward per candidate, and the catch count of `theta`, which each plays beside its candidates.
The driver looks the noise up itself for the update. No candidate's weights cross the network.

In one process `catch_es.play_here` makes ask, play and tell one compiled call. Here the play
goes out, so the driver compiles `tell` on its own, and each worker compiles `ask` for its
pairs: the compiler fuses `theta + sigma·n` into one multiply-add, which rounds differently
from two, so the candidates are compiled as in one process to come out the same to the bit.

Each worker is a Ray *actor*, not a task: an actor is a process that lives for the whole run,
so it builds the network, the noise table and the compiled player once (about two seconds of
compiling), and then only plays. A task would start afresh, and pay those two seconds, every
generation.

A worker that dies is restarted by Ray (`max_restarts=-1`) and its share played again
(`max_task_retries=-1`). Since a share's rewards depend only on what was sent, the run
finishes exactly as if nothing had happened, and it is bit-identical to a run in one process:
that is why `catch_es.make_player` hands every candidate its own copy of the start states.
"""

# %%
import argparse
import os
import pickle
import socket

import numpy as np

import catch_es as ce


# %%
class ShardPlayer:
    """A worker's part of each generation: a compiled player, and the strategy's noise table and ask, built once."""

    def __init__(self, seed, sigma, hidden_units):  # plain values travel simply
        ce.keras.utils.set_random_seed(seed)
        model = ce.build_policy(hidden_units)
        self.play_population = ce.make_player(model)
        self.strategy = ce.EvolutionStrategy(ce.flatten_weights(model), 2, sigma, seed=seed)
        # Compiled, as the driver's generation is, so that the candidates come out the same to the bit.
        self.ask = ce.tf.function(lambda start, stop: self.strategy.ask(range(start, stop)), jit_compile=True)

    def play(self, theta, generation, pairs):
        """Rebuild the candidates of `pairs` and play them beside theta: (theta's catches, each one's total)."""
        self.strategy.variable.assign(theta)
        self.strategy.generation = generation
        rewards = self.play_population(np.vstack([theta, self.ask(pairs.start, pairs.stop)]))
        return ce.count_catches(rewards[0]), rewards[1:].sum(axis=1, dtype="float32")  # whole numbers: exact

    def pid(self):
        return os.getpid()


# %% [markdown]
"""
The driver connects to Ray, or starts it, and refuses at once, in one line, what would
otherwise hang: an address where nothing answers, or more workers than CPUs.
"""


# %%
def connect_ray(workers, address, modules):
    """Start a local Ray instance with `workers` CPUs, or join the cluster at `address`; ship it `modules`."""
    try:
        import ray
    except ImportError:
        raise ValueError("--workers needs Ray, which is not installed: pip install ray") from None
    if address not in ("", "auto"):  # Ray would retry for minutes; a closed port answers at once
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except (OSError, ValueError) as error:
            raise ValueError(f"--ray-address {address}: no Ray cluster answers there ({error})") from None
    if not ray.is_initialized():  # (the tests connect once, for all their runs)
        try:
            # "local": a new instance of our own, even if `ray start` already runs one on this machine.
            ray.init(address=address or "local", num_cpus=None if address else workers, include_dashboard=False,
                     log_to_driver=False, logging_level="ERROR", runtime_env={"py_modules": modules})
        except ConnectionError as error:
            if address == "auto":
                raise ValueError("--ray-address auto: no Ray cluster runs here; "
                                 "start one with `ray start --head`") from None
            raise ValueError(f"--ray-address {address}: {error}") from None
    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus < workers:
        raise ValueError(f"--workers {workers}: the Ray cluster has only {cpus:g} CPUs")
    return ray


# %% [markdown]
"""
Each generation, the driver puts `theta` in the object store once, gives each worker a
range of pairs, and joins the rewards in order. It counts what travels, so the run can say
how many bytes a generation cost. A `RayPlayers` is what `catch_es.train` calls to play a
generation, in place of playing it in the process.
"""


# %%
class RayPlayers:
    """Play each generation on Ray actors, a range of pairs each; counts the bytes that travel."""

    def __init__(self, config, workers, address=""):
        # Workers import these files as the modules `catch_es` and `scale_out`, which Ray ships to
        # them. Run as a script, this file is `__main__`, whose classes Ray would pickle instead.
        import scale_out

        self.ray = connect_ray(workers, address, [ce, scale_out])
        actor = self.ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(scale_out.ShardPlayer)
        self.actors = [actor.remote(config.seed, config.sigma, config.hidden_units) for _ in range(workers)]
        self.sent = self.received = self.generations = 0  # serialized bytes, all generations together
        # Compiled as play_here compiles its generation: traced once per strategy, which new_strategy keeps.
        self.tell = ce.tf.function(lambda strategy, totals: strategy.tell(totals), jit_compile=True)

    def __call__(self, strategy):
        """One generation, as `catch_es.play_here`'s: ask (on the workers), play there, tell here."""
        theta = strategy.theta
        shared = self.ray.put(theta)  # once per generation, however many workers read it
        pairs = np.array_split(np.arange(strategy.population_size // 2), len(self.actors))
        calls = [(strategy.generation, range(shard[0], shard[-1] + 1)) for shard in pairs if len(shard)]
        results = self.ray.get([actor.play.remote(shared, *call) for actor, call in zip(self.actors, calls)])
        self.sent += theta.nbytes + sum(len(pickle.dumps(call)) for call in calls)
        self.received += sum(len(pickle.dumps(result)) for result in results)
        self.generations += 1
        totals, before = np.concatenate([totals for _, totals in results]), [np.asarray(v) for v in strategy.state()]
        self.tell(strategy, totals)
        return results[0][0], totals / ce.FRUITS, before  # every worker played theta

    def pids(self):
        return self.ray.get([actor.pid.remote() for actor in self.actors])

    def close(self):
        for actor in self.actors:
            self.ray.kill(actor)


# %% [markdown]
"""
## The command line

`--workers N` and `--ray-address` are this study's own options; everything else goes to
`catch_es.main`, which checks it, claims the run folder, and then asks `play_on` for the
workers, before anything is written. Bad input, an address where no cluster answers, more
workers than the cluster has CPUs, or Ray not installed: one line, exit status 2.
"""


# %%
def run(argv):
    """The study's command line: its own two options, then catch_es.main with the rest."""
    parser = argparse.ArgumentParser(prog=ce.PROG, add_help=False)
    parser.error = ce.usage_error
    parser.add_argument("--workers", type=int, default=2, help="play each generation on this many Ray workers")
    parser.add_argument("--ray-address", default="", help="join the Ray cluster at this address ('auto': the one "
                                                          "`ray start` began) instead of starting a local one")
    options, rest = parser.parse_known_args(argv)
    if "-h" in rest or "--help" in rest:
        parser.print_help()
        print("\nand every option of catch_es.py:\n")
    if options.workers < 1:
        ce.usage_error(f"--workers must be an integer >= 1, got {options.workers}")
    players = []

    def play_on(config):
        players.append(RayPlayers(config, options.workers, options.ray_address))
        where = f"the Ray cluster at {options.ray_address}" if options.ray_address else "a local Ray instance"
        print(f"playing each generation on {options.workers} workers of {where}")
        return players[0]

    try:
        result = ce.main(rest, play_on=play_on)
    finally:
        for player in players:
            player.close()
    if players and players[0].generations:
        sent, received, played = players[0].sent, players[0].received, players[0].generations
        print(f"per generation, {sent // played:,} bytes went to the workers and {received // played:,} came back")
    return result


def main(argv=None):
    previous, ce.PROG = ce.PROG, "scale_out.py"  # errors name this script
    try:
        return run(argv)
    finally:
        ce.PROG = previous


# %% [markdown]
"""
## When scaling out pays, measured

`python benchmarks/benchmark.py` on the 2-core machine, with a local Ray instance of 2
CPUs; one generation is theta and P candidates, 80 games each (medians of 10):

| population | in this process | on 1 Ray worker | on 2 Ray workers | bytes out / back per generation (2 workers) |
|---|---|---|---|---|
| 100 | 8.5 ms | 15.5 ms | 13.4 ms | 41,706 / 1,110 |
| 1,000 | 88.9 ms | 95.9 ms | 68.8 ms | 41,707 / 8,312 |

* **What travels.** `theta` (10,403 floats, 41,612 bytes) and about 50 bytes per worker
  go out, whatever the population; 8 bytes per candidate (its mean reward) come back,
  plus about 150 bytes of framing per worker. Sending the candidates instead would be
  4.2 MB a generation at population 100 and 42 MB at 1,000.
* **The overhead.** One worker does the same work as the process itself, plus Ray's
  calls: about 7 ms more a generation. Before the first generation, Ray and its workers
  start (each worker imports TensorFlow and compiles), so seed 0's default run, 126
  generations, takes about 18 s from launch on 2 workers against 7 to 9 s in one process,
  with identical weights.
* **Where it pays.** On this machine two workers only share the same two cores, yet at
  population 1,000 they already beat one process (69 ms against 89 ms), because two
  processes also overlap the Python work between compiled calls. With workers on other
  machines, a generation costs its compute divided by the workers, plus tens of
  milliseconds: it pays once a generation takes much longer than that, with big
  populations, big networks or long games, and over a run long enough to repay the
  start-up.
"""

# %%
if __name__ == "__main__":
    ce.run_as_script(lambda: main([] if ce.NOTEBOOK else None))  # a notebook's sys.argv is its kernel's
