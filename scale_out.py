# %% [markdown]
"""
# Scaling out: the same evolution strategy on a Ray cluster

**Description:** play each generation of `catch_es.py` on the workers of a
[Ray](https://docs.ray.io) cluster, with only a few numbers travelling, and get exactly the
weights a run in one process gets.

A study beside `catch_es.py`, which it imports for the game, the network, the ES and the
training loop; read that file first.

    python scale_out.py --workers 2                 # a local Ray instance with 2 workers
    ray start --head --port 6379                    # on a cluster's head node; then, on any machine of it:
    python scale_out.py --ray-address HEAD:6379 --workers 64    # (or --ray-address auto on the head itself)

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

A worker that dies, its process killed or its machine gone, has its share played again on the
workers left, and new workers start where the cluster has room (below). Since a share's
rewards depend only on what was sent, the run finishes exactly as if nothing had happened,
and it is bit-identical to a run in one process: that is why `catch_es.starts_for` hands
every candidate its own copy of the start states.
"""

# %%
import argparse
import functools
import os
import pickle
import socket
import time

import numpy as np

import catch_es as ce

PROG = "scale_out.py"  # how errors name this script


# %%
# one compiled call: flat weights (P, D) -> rewards (P, 80) of `game`, as NumPy
def make_player(model, game=ce.play_games):
    play_population = ce.tf.function(
        ce.population_games(model, game), jit_compile=True, autograph=False
    )
    return lambda population: play_population(population, *ce.starts_for(len(population))).numpy()


class ShardPlayer:
    """A worker's part of each generation: a compiled player, and the strategy's noise table and ask, built once."""

    # plain values travel simply (a function)
    def __init__(self, seed, sigma, hidden_units, game=ce.play_games, largest=2):
        ce.keras.utils.set_random_seed(seed)
        model = ce.build_policy(hidden_units)
        self.play_population = make_player(model, game)
        # The noise of the driver's strategy: the same stream of offsets, as long as its biggest population's.
        self.strategy = ce.BatchedStrategy(
            ce.flatten_weights(model), 2, sigma, seed=seed, largest=largest
        )
        # Compiled, as the driver's generation is, so that the candidates come out the same to the bit.
        self.ask = ce.tf.function(
            lambda start, stop: self.strategy.ask(start, stop - start), jit_compile=True
        )

    def play(self, theta, generation, pairs):
        """Rebuild the candidates of `pairs` and play them beside theta: (theta's catches, each one's total)."""
        # the driver's theta and generation
        self.strategy.load(ce.State(theta, generation, self.strategy.fresh_adam))
        rewards = self.play_population(np.vstack([theta, self.ask(pairs.start, pairs.stop)]))
        # whole numbers: exact
        return ce.count_catches(rewards[0]), rewards[1:].sum(axis=1, dtype="float32")

    def ping(self, theta, generation, pairs):
        """A round trip with nothing played: what a generation costs beyond its games."""
        return 0, np.zeros(len(pairs) * 2, "float32")

    def where(self):
        import ray

        return os.getpid(), ray.get_runtime_context().get_node_id()


# %% [markdown]
"""
The driver connects to Ray, or starts it, and refuses at once, in one line, what would
otherwise hang: an address where nothing answers, a cluster that refuses our token, or more
workers than CPUs.

**Tokens.** Since Ray 2.59 a cluster that `ray start` begins wants a token on every call (its
head writes one to `~/.ray/auth_token`), but a driver given `HOST:PORT` sends none unless
`RAY_AUTH_MODE=token` is set, and otherwise hangs for half a minute. So before joining, the
driver asks the head for the cluster's id, which takes milliseconds: if the head wants a
token, the driver finds it where Ray looks (`RAY_AUTH_TOKEN`, the file named by
`RAY_AUTH_TOKEN_PATH`, or `~/.ray/auth_token`) and sends it from then on; a missing or wrong
token is one line that says what to set, not a hang.
"""


# %%
def find_token():
    """The token Ray would send, where Ray looks for it: (token or None, where it came from)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN"
    path = os.path.expanduser(os.environ.get("RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token"))
    try:
        return open(path).read().strip(), path
    except OSError:
        return None, None


def check_token(address):
    """Ask the head for the cluster's id: if it wants a token, find ours and send it from now on, or refuse in one line."""
    try:
        import grpc
        from ray._private.authentication import authentication_token_setup as auth
        from ray.core.generated import gcs_service_pb2 as gcs, gcs_service_pb2_grpc as gcs_grpc
    except ImportError:  # a Ray from before tokens: nothing to send
        return

    def refused(token):
        with grpc.insecure_channel(address) as channel:
            try:
                gcs_grpc.NodeInfoGcsServiceStub(channel).GetClusterId(
                    gcs.GetClusterIdRequest(),
                    timeout=5,
                    metadata=[("authorization", f"Bearer {token}")] * bool(token),
                )
            except grpc.RpcError as error:
                # anything else: ray.init will say what
                return error.code() == grpc.StatusCode.UNAUTHENTICATED
        return False

    if not refused(None):
        return  # a cluster without tokens
    token, source = find_token()
    if token is None or refused(token):
        given = f"refused the token from {source}" if token else "wants a token and none was found"
        raise ValueError(
            f"--ray-address {address}: the cluster {given}; set RAY_AUTH_TOKEN to the one "
            f"`ray get-auth-token` prints on its head node"
        )
    auth._enable_token_auth()  # RAY_AUTH_MODE=token, for Ray in this process and the ones it starts


# %%
def connect_ray(workers, address, modules):
    """Start a local Ray instance with `workers` CPUs, or join the cluster at `address`; ship it `modules`."""
    # a local instance: on the loopback address only (Ray reads this switch once, on import)
    if not address:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ValueError("--workers needs Ray, which is not installed: pip install ray") from None
    if address not in ("", "auto"):  # Ray would retry for minutes; a closed port answers at once
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except (OSError, ValueError) as error:
            raise ValueError(
                f"--ray-address {address}: no Ray cluster answers there ({error})"
            ) from None
        check_token(address)
    if not ray.is_initialized():  # (the tests connect once, for all their runs)
        try:
            # "local": a new instance of our own, even if `ray start` already runs one on this machine.
            ray.init(
                address=address or "local",
                num_cpus=None if address else workers,
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
                runtime_env={"py_modules": modules},
            )
        except ConnectionError as error:
            if address == "auto":
                raise ValueError(
                    "--ray-address auto: no Ray cluster runs here; "
                    "start one with `ray start --head`"
                ) from None
            raise ValueError(f"--ray-address {address}: {error}") from None
    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus < workers:
        raise ValueError(f"--workers {workers}: the Ray cluster has only {cpus:g} CPUs")
    return ray


# %% [markdown]
"""
Each generation, the driver puts `theta` in the object store once, gives each worker a
range of pairs, and joins the rewards in order. It counts what travels, so the run can say
how many bytes a generation cost. A `RayPlayers` is what `catch_es.run_training` calls to play a
generation, in place of playing it in the process.

**Losing workers.** Ray places the workers apart (`SPREAD`: one per node while there are nodes
enough), so a lost machine takes only its share. When a worker dies, its process killed or
its node gone, the driver gets an error for its share instead of rewards. It starts new
workers where the cluster has free CPUs, plays the lost shares again on the workers it has,
and says so in one line; if no CPU is free it goes on with fewer workers, the pairs cut
anew among them, and with no worker left it stops, in one line that names the checkpoint
to resume from. Ray could restart a dead worker by itself, but it would wait for a free CPU
forever; only the driver knows it can do without. Since a share's rewards depend only on what
was sent, the run ends exactly as if nothing had happened.
"""


# %%
class NoWorkersLeft(RuntimeError):
    @staticmethod
    def stop(why, folder):
        """One line that names the checkpoint to resume from, as catch_es.main stops on a full disk; exit status 69."""
        ce.stop_run(why, folder, PROG, 69)  # EX_UNAVAILABLE


def replace_lost(players, lost, generation, wait=3):
    """New workers for `lost` where the cluster has free CPUs (Ray frees a dead one's within `wait` s), or fewer."""
    had, players.actors = (
        len(players.actors),
        [actor for actor in players.actors if actor not in lost],
    )
    deadline = time.monotonic() + wait
    while (free := int(players.ray.available_resources().get("CPU", 0))) < len(
        lost
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    players.actors += [
        players.remote.remote(*players.arguments) for _ in range(min(free, len(lost)))
    ]
    # nothing left to play on: the command line stops in one line (`main`, below)
    if not players.actors:
        raise NoWorkersLeft(
            f"lost every worker ({had}) in generation {generation}, and the cluster has no free CPU"
        )
    fewer = (
        ""
        if len(players.actors) == had
        else "; no free CPU for the rest: the pairs are cut among fewer"
    )
    players.say(
        f"generation {generation}: lost {len(lost)} of {had} workers, played their shares again; "
        f"{len(players.actors)} workers now{fewer}"
    )


# %%
def play_shares(players, shared, generation, left):
    """Every share's (theta's catches, totals), in order; a share whose worker died, again on the workers left."""
    results = {}
    while left:
        calls = [
            (actor, (generation, pairs)) for actor, pairs in zip(players.actors * len(left), left)
        ]
        refs = [actor.play.remote(shared, *call) for actor, call in calls]
        players.sent += sum(len(pickle.dumps(call)) for _, call in calls)
        lost, left = [], []
        for ref, (actor, (_, pairs)) in zip(refs, calls):
            try:
                results[pairs.start] = players.ray.get(ref)
            # Ray keeps it as the share's value: let go of
            except players.ray.exceptions.RayActorError as error:
                error.__traceback__ = (
                    None  # the frames it was raised through (they hold the run folder's lock)
                )
                lost, left = lost + [actor], left + [pairs]
        if lost:
            replace_lost(players, set(lost), generation)
    return [results[start] for start in sorted(results)]


# %%
class RayPlayers:
    """Play each generation on Ray actors, a range of pairs each; replaces lost ones; counts the bytes that travel."""

    def __init__(self, config, workers, address="", say=print, game=ce.play_games):
        # Workers import these files as the modules `catch_es` and `scale_out`, which Ray ships to
        # them. Run as a script, this file is `__main__`, whose classes Ray would pickle instead.
        import scale_out

        self.ray, self.say = connect_ray(workers, address, [ce, scale_out]), say
        self.remote = self.ray.remote(num_cpus=1, max_restarts=0, scheduling_strategy="SPREAD")(
            scale_out.ShardPlayer
        )
        # the noise's stream is drawn for it, as the driver's
        largest = ce.largest_population(config)
        self.arguments = config.seed, config.sigma, config.hidden_units, game, largest
        self.actors = [self.remote.remote(*self.arguments) for _ in range(workers)]
        self.sent = self.received = self.generations = (
            0  # serialized bytes, all generations together
        )
        # Compiled as play_here compiles its generation: traced once per strategy, which fast_attempt keeps.
        self.tell = ce.tf.function(lambda strategy, totals: strategy.tell(totals), jit_compile=True)

    def __call__(self, strategy):
        """One generation, as `catch_es.play_here`'s: ask (on the workers), play there, tell here."""
        theta = np.asarray(strategy.theta)
        shared = self.ray.put(theta)  # once per generation, however many workers read it
        self.sent += theta.nbytes
        results = play_shares(
            self, shared, strategy.generation, self.shares(strategy.population_size)
        )
        self.received += sum(len(pickle.dumps(result)) for result in results)
        self.generations += 1
        totals = np.concatenate([totals for _, totals in results])
        before = strategy.state().numpy()  # read before tell moves it
        self.tell(strategy, totals)
        return results[0][0], totals / ce.START_COUNT, before  # every worker played theta

    def shares(self, population_size):
        """The pairs of a generation, cut into one contiguous range per worker."""
        cut = np.array_split(np.arange(population_size // 2), len(self.actors))
        return [range(shard[0], shard[-1] + 1) for shard in cut if len(shard)]

    def where(self):
        """Each worker's process id and node."""
        return self.ray.get([actor.where.remote() for actor in self.actors])

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
def main(argv=None):
    """The study's command line: its own two options, then catch_es.main with the rest."""
    parser = argparse.ArgumentParser(prog=PROG, add_help=False)
    parser.error = functools.partial(ce.usage_error, prog=PROG)
    parser.add_argument(
        "--workers", type=int, default=2, help="play each generation on this many Ray workers"
    )
    parser.add_argument(
        "--ray-address",
        default="",
        help="join the Ray cluster at this address ('auto': the one "
        "`ray start` began) instead of starting a local one",
    )
    options, rest = parser.parse_known_args(argv)
    if "-h" in rest or "--help" in rest:
        parser.print_help()
        print("\nand every option of catch_es.py:\n")
    if options.workers < 1:
        ce.usage_error(f"--workers must be an integer >= 1, got {options.workers}", PROG)
    players = []

    def play_on(config):
        players.append(RayPlayers(config, options.workers, options.ray_address))
        players[0].folder = ce.Path(config.out)
        where = (
            f"the Ray cluster at {options.ray_address}"
            if options.ray_address
            else "a local Ray instance"
        )
        print(
            f"playing each generation on {options.workers} worker{'s' * (options.workers > 1)} of {where}"
        )
        return players[0]

    try:
        result, stopped = ce.main(rest, play_on=play_on, prog=PROG), None
    # (only its words: its traceback holds catch_es.main, and so the folder's lock)
    except NoWorkersLeft as error:
        result, stopped = None, str(error)
    finally:
        for player in players:
            player.close()
    if stopped:
        NoWorkersLeft.stop(stopped, players[0].folder)
    if players and players[0].generations:
        sent, received, played = players[0].sent, players[0].received, players[0].generations
        print(
            f"per generation, {sent // played:,} bytes went to the workers and {received // played:,} came back"
        )
    return result


# %% [markdown]
"""
## When scaling out pays: measured, then modelled

A generation on W workers costs the games of the biggest share, plus what it costs to reach
the workers at all:

    T(W) = share + pair * ceil(pairs / W)  +  tell + trip(W)  [+ bytes * W / bandwidth]

`pair` and `share` (a worker's cost per pair of candidates, asked and played, and per call)
come from timing `ShardPlayer.play` here, in this process, on one pair and on all of them;
`tell` is the driver's compiled update; `trip(W) = trip0 + trip1 * W` is a round trip to W
workers that play nothing (`ShardPlayer.ping`: theta out, a few numbers back), timed at 1
and 2 workers. A worker plays at least a pair, so at most `pairs` of them have work. The
model gives each worker a core of its own. On this machine the
bytes cross the loopback inside `trip`; on a cluster, `theta` also crosses a network once per
worker's machine, which the bracketed term adds at an assumed bandwidth: that term is
computed, not measured. The speed-up is the generation in this process (`play_here`, timed)
over T(W).
"""


# %%
def median_seconds(call, repeats):
    call()  # compiled and warm first
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def round_trip(players, strategy):
    """One generation's calls to every worker, with nothing played."""
    shared = players.ray.put(np.asarray(strategy.theta))
    shares = players.shares(strategy.population_size)
    players.ray.get(
        [
            actor.ping.remote(shared, strategy.generation, pairs)
            for actor, pairs in zip(players.actors, shares)
        ]
    )


# %%
def measure_costs(config, game=ce.play_games, workers=(1, 2), repeats=5, trips=30):
    """What the model needs, timed here (seconds), and a whole generation on each number of `workers` to check it."""
    model, strategy, _ = ce.fast_attempt(config, 0)
    theta, pairs = np.asarray(strategy.theta), config.population_size // 2
    worker = ShardPlayer(config.seed, config.sigma, config.hidden_units, game, strategy.largest)
    generation = strategy.generation
    one, all_ = (
        median_seconds(lambda k=k: worker.play(theta, generation, range(k)), repeats)
        for k in (1, pairs)
    )
    here = ce.play_here(model, game)
    costs = dict(
        population=config.population_size,
        pair=(all_ - one) / max(pairs - 1, 1),
        theta_bytes=theta.nbytes,
        here=median_seconds(lambda: here(strategy), repeats),
    )
    # a worker's call, less its pairs: theta's games, the compiled calls
    costs["share"] = one - costs["pair"]
    trip = {}
    for count in workers:
        players = RayPlayers(config, count, game=game)
        try:
            trip[count] = median_seconds(lambda: round_trip(players, strategy), trips)
            costs[f"measured_{count}"] = median_seconds(lambda: players(strategy), repeats)
            if "tell" not in costs:  # the driver's, whatever the workers
                costs["tell"] = median_seconds(
                    lambda: players.tell(strategy, np.zeros(pairs * 2, "float32")), repeats
                )
            costs[f"bytes_out_{count}"], costs[f"bytes_back_{count}"] = (
                players.sent // players.generations,
                players.received // players.generations,
            )
        finally:
            players.close()
    costs["trip1"] = max(0.0, trip[2] - trip[1])  # what one more worker adds to a round trip
    costs["trip0"] = trip[1] - costs["trip1"]
    return costs


# %%
WORKERS = (1, 2, 8, 64, 1000)


def predict(costs, workers, bandwidth=None):
    """T(W) in seconds, from measured costs; with a `bandwidth` (bytes/s), theta crossing a network to each worker."""
    pairs = costs["population"] // 2
    play = costs["share"] + costs["pair"] * -(-pairs // min(workers, pairs))  # the biggest share
    network = costs["theta_bytes"] * workers / bandwidth if bandwidth else 0.0
    return play + costs["tell"] + costs["trip0"] + costs["trip1"] * workers + network


def when_it_pays(measured, bandwidth=125e6):
    """Print, for each measured problem, the generation's time and speed-up: measured, and predicted by the model."""
    print(
        f"speed-up over one process (its generation measured); T(W) predicted, {bandwidth * 8 / 1e9:g} Gbit/s "
        "assumed for theta on a network; measured on this machine where marked\n"
    )
    print(
        f"| problem | here | {' | '.join(f'{w:,} W' for w in WORKERS)} | measured: 1 W | 2 W | bytes out / back (2 W) |"
    )
    print("|---" * (len(WORKERS) + 5) + "|")
    for name, costs in measured.items():
        cells = []
        for workers in WORKERS:
            seconds = predict(costs, workers, bandwidth)
            cells.append(f"{seconds * 1e3:,.1f} ms, x{costs['here'] / seconds:.2f}")
        checks = [
            f"{costs[f'measured_{w}'] * 1e3:,.1f} ms, x{costs['here'] / costs[f'measured_{w}']:.2f} "
            f"(model {predict(costs, w) * 1e3:,.1f})"
            for w in (1, 2)
        ]
        print(
            f"| {name} | {costs['here'] * 1e3:,.1f} ms | {' | '.join(cells)} | {' | '.join(checks)} | "
            f"{costs['bytes_out_2']:,} / {costs['bytes_back_2']:,} |"
        )


# %%
def draw_when_it_pays(measured, path, bandwidth=125e6):
    """Speed-up against workers, log scales: the model as lines and open marks, the measurements as filled ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    many = np.unique(np.geomspace(1, WORKERS[-1], 60).round())
    for (name, costs), colour in zip(
        measured.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ):
        axes.plot(
            many,
            [costs["here"] / predict(costs, w, bandwidth) for w in many],
            color=colour,
            label=name,
        )
        axes.plot(
            WORKERS,
            [costs["here"] / predict(costs, w, bandwidth) for w in WORKERS],
            "o",
            color=colour,
            markerfacecolor="none",
        )
        axes.plot(
            (1, 2), [costs["here"] / costs[f"measured_{w}"] for w in (1, 2)], "o", color=colour
        )
    axes.axhline(1, color="grey", linewidth=0.8)
    axes.set(
        xscale="log",
        yscale="log",
        xlabel="workers",
        ylabel="speed-up over one process",
        title="When a cluster pays: predicted (open, lines), measured on 2 cores (filled)",
    )
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# %% [markdown]
"""
`python benchmarks/benchmark.py --when-it-pays` measures the costs on the 2-core machine (a
local Ray instance with 2 CPUs; medians of 10, of 3 at population 10,000) and prints this
table; each cell is the generation's time and the speed-up over one process. The columns
1 W to 1,000 W are computed by the model, with theta crossing a 1 Gbit/s network once per
worker; "measured" are whole generations on 1 and 2 workers here, with the model's figure
for this machine (no network term) beside them:

| problem | here | 1 W | 2 W | 8 W | 64 W | 1,000 W | measured: 1 W | 2 W |
|---|---|---|---|---|---|---|---|---|
| population 100, 9 steps | 9.1 ms | 22.8 ms, x0.40 | 16.6 ms, x0.55 | 15.7 ms, x0.58 | 52.1 ms, x0.17 | 688 ms, x0.01 | 22.3 ms, x0.41 (model 22.4) | 20.5 ms, x0.45 (model 15.9) |
| population 100, 72 steps | 49.2 ms | 57.0 ms, x0.86 | 34.6 ms, x1.42 | 29.6 ms, x1.66 | 141 ms, x0.35 | 2,108 ms, x0.02 | 67.5 ms, x0.73 (model 56.7) | 46.6 ms, x1.06 (model 33.9) |
| population 10,000, 9 steps | 888 ms | 1,097 ms, x0.81 | 643 ms, x1.38 | 320 ms, x2.78 | 400 ms, x2.22 | 3,388 ms, x0.26 | 1,206 ms, x0.74 (model 1,096) | 1,114 ms, x0.80 (model 642) |
| population 10,000, 72 steps | 4,522 ms | 4,882 ms, x0.93 | 2,538 ms, x1.78 | 791 ms, x5.72 | 402 ms, x11.3 | 2,387 ms, x1.89 | 5,425 ms, x0.83 (model 4,882) | 5,266 ms, x0.86 (model 2,537) |

* **What the model gets right, and wrong.** For one worker it is within 16% of the
  measurement. For two it is 1.3 to 2.1 times too hopeful: it gives each worker a core of its
  own, and here two workers and the driver share two cores. So the measured points say
  nothing about a real cluster beyond the costs they fix; the predicted ones are the model's.
* **What travels** is the same for every problem: 41.6 KB of theta out per generation (plus
  about 50 bytes a worker); 4 bytes a candidate back (704 bytes at population 100, 40 KB at
  10,000). Sending candidates instead would be 4.2 MB or 416 MB a generation.
* **When it pays.** Population 100 on Part I's game never pays: a generation is 9 ms of
  compute and a round trip costs 4 ms before any game. Longer games or bigger populations
  pay up to a point: x1.7 at 8 workers for 72 steps, x2.8 at 8 for population 10,000, x11 at
  64 for both. Past that point more workers cost more than they bring: each adds a call to
  the driver's round trip (0.3 to 3 ms each, measured here) and a copy of theta on the
  network, and at population 10,000 the driver's `tell` alone takes 176 to 180 ms (its centred
  ranks compare every pair of candidates: 10^8 comparisons), which no worker shares. OpenAI's
  thousand CPUs paid for networks of millions of weights and episodes of thousands of steps,
  where a candidate costs seconds, not a tenth of a millisecond.
"""


# %%
if __name__ == "__main__":
    # a notebook's sys.argv is its kernel's
    ce.run_as_script(lambda: main([] if ce.NOTEBOOK else None))
