# %% [markdown]
"""
# ES against reinforcement learning, measured

**Description:** train REINFORCE beside the evolution strategy of `catch_es.py`, from the same
initial weights and within the same budget of games, and measure the claims made for evolution
strategies instead of repeating them.

A study beside `catch_es.py` (read that first), which it imports for the game, the network, the
ES and the training loop. The results, and what they mean: `benchmarks/claims/README.md`.

    python es_vs_rl.py                   # both learners on Catch, side by side (seed 0)
    python es_vs_rl.py --fall-every 4    # ... on a game four times as long
    python es_vs_rl.py tune              # both learners' settings, one sweep, seeds 2000 to 2004
    python es_vs_rl.py claims --quick    # two games, 2 seeds each: a few minutes
    python es_vs_rl.py claims            # ten games, 30 seeds each: hours, resumable

Notes that compare ES with reinforcement learning, after Salimans et al. (2017), credit ES with
no backpropagation, parallelism, robustness to frame-skip, structured exploration and credit
assignment over long episodes; its weakness: when the noise changes no outcome, no signal.
"""

# %%
import argparse, dataclasses, functools, itertools, json, math, statistics, sys, time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import catch_es as ce
from study_stats import as_text, median_interval, paired, read_csv, snr_of, wilson

tf, ops = ce.tf, ce.ops

# %% [markdown]
"""
## Longer games and a slower player

Three knobs change the game, not the board or the network. `--fall-every M`: the fruit falls a
row on every M-th step, so a game lasts T = 9·M steps and its one reward still comes at the end.
`--action-repeat K`: the policy decides on every K-th step and the basket repeats that action in
between (frame-skip). `--no-slack`: the basket moves only on the steps on which the fruit falls;
otherwise a longer game also gives the basket M moves per row, and the horizon and the slack
grow together. Without slack a game of 9·M steps still has 9 moves that count, and M − 1 of
every M decisions change nothing. With M = K = 1 this is `catch_es.py`'s game.
"""


# %%
def step_variant(state, actions, t, fall_every, slack=True):
    """catch_es's step as step t of a longer game: the fruit falls only if t + 1 is a multiple of
    M; without slack the basket, too, moves only then."""
    falls = (t + 1) % fall_every == 0
    moved, reward = ce.step(state, actions if slack else ops.where(falls, actions, ce.STAY))
    fruit_row = ops.where(falls, moved.fruit_row, state.fruit_row)
    return moved._replace(fruit_row=fruit_row), ops.where(falls, reward, 0.0)


def play_variant(policy, fruit_columns, basket_centres, fall_every=1, action_repeat=1, slack=True):
    """catch_es's `play_games` on the game with the knobs, as one compiled loop: each game's score."""

    def one_step(t, state, actions, reward):
        state = ce.CatchState(*state)
        actions = ops.where(t % action_repeat == 0, policy(state), actions)  # decide, or repeat
        state, reward = step_variant(state, actions, t, fall_every, slack)
        return t + 1, tuple(state), actions, reward

    steps = ce.GAME_LENGTH * fall_every
    start = (0, tuple(ce.reset(fruit_columns, basket_centres)), ops.ones_like(basket_centres))
    start += (ops.zeros_like(basket_centres, "float32"),)
    return ops.while_loop(lambda t, *_: t < steps, one_step, start, maximum_iterations=steps)[-1]


# %%
@dataclasses.dataclass(frozen=True)
class StudyConfig(ce.RunConfig):  # both learners' defaults: their winners of `tune`, below
    sigma: float = 0.05  # the ES's noise (tuned: catch_es's own is 0.1)
    learning_rate: float = 0.02  # the ES's Adam step size (tuned: catch_es's own is 0.05)
    fall_every: int = 1  # the fruit falls one row every this many steps: T = 9 times this
    action_repeat: int = 1  # the policy decides every this many steps; the basket repeats between
    slack: bool = True  # --no-slack: the basket moves only on the steps on which the fruit falls
    es_starts: int = 20  # start states each ES candidate plays (both of a mirrored pair the same)
    reinforce_learning_rate: float = 0.01  # Adam's step size for REINFORCE
    reinforce_games_per_start: int = 1  # REINFORCE plays each start state this often per update
    reinforce_entropy: float = 0.0  # REINFORCE's bonus for keeping its actions random
    compare_games: int = 3_000_000  # games each learner may play to learn (measuring not counted)


COUNT = ce.ACCEPTS["generations"]  # an integer >= 1
ACCEPTS = {
    **ce.ACCEPTS,  # checked by catch_es.check, as catch_es's own settings are
    **dict.fromkeys(["fall_every", "action_repeat", "compare_games"], COUNT),
    "reinforce_games_per_start": COUNT,
    "es_starts": (lambda v: ce.INTEGER(v) and 1 <= v <= ce.START_COUNT, "an integer from 1 to 80"),
    "reinforce_learning_rate": ce.ACCEPTS["sigma"],
    "hidden_units": (lambda v: ce.INTEGER(v) and v >= 0, "an integer >= 0 (0: a linear policy)"),
    "reinforce_entropy": ce.ACCEPTS["weight_decay"],
    "slack": ce.ACCEPTS["render"],
}
PROG = "es_vs_rl.py"  # how errors name this script


def game_of(config):  # the game a study's settings describe
    given = dict(fall_every=config.fall_every, action_repeat=config.action_repeat)
    return functools.partial(play_variant, **given, slack=config.slack)


# %% [markdown]
"""
Not every variant can be won: with `--action-repeat 9` the policy decides once and the basket
then moves nine cells one way. So the study first counts the start states that *some* sequence
of actions wins (no policy wins more), and takes that count as the target.
"""


# %%
def most_caught(fall_every=1, action_repeat=1, slack=True):
    """The start states that some sequence of actions (each held for K steps) wins."""
    won = 0
    for column, centre in zip(*ce.start_states()):
        reach = {(int(centre), ce.STAY)}  # the basket's centre (1 to 8), the action it repeats
        for t in range(ce.GAME_LENGTH * fall_every):
            if t % action_repeat == 0:
                reach = {(c, action) for c, _ in reach for action in ce.ACTIONS}
            if slack or (t + 1) % fall_every == 0:
                reach = {(min(max(c + action - 1, 1), 8), action) for c, action in reach}
        won += any(abs(int(column) - c) <= 1 for c, _ in reach)
    return won


# %% [markdown]
"""
## One rule of measurement for both learners

Each learner is judged by the exact catch rate of its greedy policy, measured after the same
numbers of training games: the first measurement at or after every multiple of `CADENCE` (2,000
games: one generation of the tuned ES, 100 candidates of 20 start states, or 25 REINFORCE updates
of 80 games). The games that measure count for neither. A learner has solved its game at the
first such measurement at the target, within the budget. A run that did not solve has *stalled*
if it did no better in the second half of its games than in the first.
"""

# %%
CADENCE = 2_000  # training games between two measurements that count, for every learner


class Measurements:
    """A learner's measurements that count, and what they say: `see(games, catches)` after each."""

    def __init__(self, budget, target=ce.START_COUNT, cadence=CADENCE):
        self.budget, self.target, self.cadence = budget, target, cadence
        self.rows, self.solved_at, self.start = [], None, time.perf_counter()
        self.seconds = math.inf  # wall time until solved

    def see(self, games, catches):
        """A measurement after `games` training games: counted if the first past a multiple."""
        if self.rows and games // self.cadence <= self.rows[-1][0] // self.cadence:
            return False
        self.rows.append((games, catches))
        if self.solved_at is None and catches >= self.target and games <= self.budget:
            self.solved_at, self.seconds = games, time.perf_counter() - self.start
        return True

    done = property(lambda self: self.solved_at is not None or self.last[0] >= self.budget)
    last = property(lambda self: self.rows[-1] if self.rows else (0, 0))  # (games, catches)
    games = property(lambda self: math.inf if self.solved_at is None else self.solved_at)

    def stalled(self):
        half = [catches for games, catches in self.rows if games <= self.last[0] / 2]
        return self.solved_at is None and max(half) >= max(c for _, c in self.rows)


# %% [markdown]
"""
## REINFORCE, the baseline

`catch_es.py` set the ES's `R · n` beside REINFORCE's `R · grad log p`. Here is REINFORCE, with
the same game, network and initial weights. The network's three scores become probabilities
through a softmax, and in training the actions are *sampled* from them (the action is how many
of the first two cumulative probabilities a uniform number passes): that is how REINFORCE
explores. After a batch of games (each start state once), each game's return `R` (+1 or -1),
less the batch's mean (a baseline: the step keeps its direction and loses much of its noise),
multiplies the gradient of the log-probability of every action decided in it: the actions of
won games become more likely, those of lost games less likely.
"""


# %%
def reinforce_gradient_plain(model, config, uniform):
    """One update's gradient as the algorithm reads: play under a tape, then R · grad log p.

    uniform: (steps, games) numbers in [0, 1). Returns the gradient of the loss (Keras minimises
    it) for each of the model's variables, and the games' rewards."""
    starts = [np.tile(s, config.reinforce_games_per_start) for s in ce.start_states()]
    state, actions = ce.reset(*starts), np.full(len(starts[0]), ce.STAY, "int32")
    with tf.GradientTape() as tape:
        taken, entropy, decisions = 0.0, 0.0, 0
        for t in range(ce.GAME_LENGTH * config.fall_every):
            if t % config.action_repeat == 0:  # a repeated action has no log p of its own
                scores = model(ce.observe(state))
                log_p, odds = ops.log_softmax(scores), ops.cumsum(ops.softmax(scores), -1)
                actions = ops.sum(ops.cast(uniform[t][:, None] >= odds[:, :2], "int32"), -1)
                taken += ops.take_along_axis(log_p, actions[:, None], axis=1)[:, 0]
                entropy += ops.mean(-ops.sum(ops.exp(log_p) * log_p, axis=-1))
                decisions += 1
            state, reward = step_variant(state, actions, t, config.fall_every, config.slack)
        returns = reward - ops.mean(reward)  # the last step's reward is the game's
        loss = -ops.mean(returns * taken) - config.reinforce_entropy * entropy / decisions
    return tape.gradient(loss, model.trainable_variables), reward


def uniforms(key, shape):
    """Uniform numbers in [0, 1) from a (seed, number) key: one per step of every game."""
    return tf.random.stateless_uniform(shape, key)


# %% [markdown]
"""
### REINFORCE, faster: one backward pass over the 720 boards

The plain gradient runs the network on every step of every game and differentiates through all
of them. But a decision sees one of only 720 boards (90 fruit cells above the bottom row, 8
basket centres), and catch_es's `scores_of` scores all of them at once from the flat weights.
The fast gradient scores them once to sample, plays its games by looking their boards up, and
adds each decision's return up by board and action: `-Σ R · log p` then needs one backward pass
over 720 boards, however long the game. A test holds it to the plain one. And, as the ES's
generation is, REINFORCE's training is compiled whole (`Reinforce`, below): a call is `BLOCKS`
blocks, each the exact greedy catch rate of the network as it is, then as many updates as make
`CADENCE` games, each update's random numbers keyed by the seed and the update's number.
"""


# %%
def reinforce_gradient(model, config):
    """`reinforce_gradient_plain`'s gradient with respect to the flat weights, as a function
    (theta, uniform) -> (gradient, rewards), to be compiled."""
    scores, steps = ce.scores_of(model), ce.GAME_LENGTH * config.fall_every
    starts = [np.tile(s, config.reinforce_games_per_start) for s in ce.start_states()]
    games, decisions = len(starts[0]), np.flatnonzero(np.arange(steps) % config.action_repeat == 0)

    def gradient(theta, uniform):
        theta = tf.convert_to_tensor(getattr(theta, "value", theta))
        odds = ops.cumsum(ops.softmax(scores(theta)), axis=-1)[:, :2]  # (720, 2)

        def one_step(t, state, chosen, taken, reward):  # play_variant's step, sampling
            state = ce.CatchState(*state)
            board = ce.board_of(state)
            sampled = ops.sum(
                ops.cast(uniform[t][:, None] >= ops.take(odds, board, 0), "int32"), -1
            )
            chosen = ops.where(t % config.action_repeat == 0, sampled, chosen)
            taken = ops.slice_update(taken, [t, 0], (board * 3 + chosen)[None])
            state, reward = step_variant(state, chosen, t, config.fall_every, config.slack)
            return t + 1, tuple(state), chosen, taken, reward

        start = (0, tuple(ce.reset(*starts)), ops.ones_like(starts[1]))
        start += (ops.zeros((steps, games), "int32"), ops.zeros(games))
        loop = ops.while_loop(lambda t, *_: t < steps, one_step, start, maximum_iterations=steps)
        taken, reward = ops.reshape(ops.take(loop[3], decisions, axis=0), [-1]), loop[4]
        returns = ops.broadcast_to(reward - ops.mean(reward), (len(decisions), games))
        counts = tf.math.unsorted_segment_sum(ops.reshape(returns, [-1]), taken, ce.BOARDS * 3)
        ones = ops.ones_like(taken, "float32")
        visits = tf.math.unsorted_segment_sum(ones, taken // 3, ce.BOARDS)
        with tf.GradientTape() as tape:
            tape.watch(theta)
            log_p = ops.log_softmax(scores(theta))
            loss = -ops.sum(ops.reshape(counts, (ce.BOARDS, 3)) * log_p) / games
            entropy = ops.sum(visits * -ops.sum(ops.exp(log_p) * log_p, axis=-1))
            loss -= config.reinforce_entropy * entropy / (len(decisions) * games)
        return tape.gradient(loss, theta), reward

    return gradient


# %%
BLOCKS = 4  # measurements, each with the updates after it, in one compiled call


class Reinforce:
    """REINFORCE's network, Adam and compiled training for one game; `start(seed)` readies a run."""

    def __init__(self, config):
        self.config, model = config, ce.build_policy(config.hidden_units)
        self.theta = ce.keras.Variable(ce.flatten_weights(model))
        size = self.theta.shape[0]
        self.optimizer = ce.keras.optimizers.Adam(config.reinforce_learning_rate)
        self.optimizer.build([self.theta])
        self.fresh = [variable.numpy() for variable in self.optimizer.variables]
        games = ce.START_COUNT * config.reinforce_games_per_start
        self.updates = -(-CADENCE // games)  # updates between two measurements
        self.games_per_block, steps = self.updates * games, ce.GAME_LENGTH * config.fall_every
        gradient = reinforce_gradient(model, config)
        measure, starts = ce.population_games(model, game_of(config)), ce.starts_for(1)

        @tf.function(jit_compile=True, autograph=False)
        def call(seed, number):  # per block: theta before it, its rewards, mean rewards
            def one_block(b, found):
                thetas, rewards, means = found
                theta = self.theta.value[None]
                thetas = ops.slice_update(thetas, [b, 0], theta)
                rewards = ops.slice_update(rewards, [b, 0], measure(theta, *starts))

                def one_update(u, means):
                    key = ops.stack([seed, (number * BLOCKS + b) * self.updates + u])
                    grad, reward = gradient(self.theta, uniforms(key, (steps, games)))
                    self.optimizer.apply([grad], [self.theta])
                    return ops.slice_update(means, [b, u], ops.mean(reward)[None, None])

                return thetas, rewards, ops.fori_loop(0, self.updates, one_update, means)

            found = [ops.zeros((BLOCKS, n)) for n in (size, ce.START_COUNT, self.updates)]
            return ops.fori_loop(0, BLOCKS, one_block, tuple(found))

        self.blocks = lambda seed, n: [a.numpy() for a in call(np.int32(seed), np.int32(n))]

    def start(self, seed):
        """The ES's initial weights for this seed, and a fresh Adam; nothing compiled again."""
        ce.keras.utils.set_random_seed(seed)
        self.theta.assign(ce.flatten_weights(ce.build_policy(self.config.hidden_units)))
        for variable, value in zip(self.optimizer.variables, self.fresh):
            variable.assign(value)


# %%
def train_reinforce(config, measured=None, progress=None, learner=None, watch=None):
    """REINFORCE from the seed's initial weights until `measured` says it is done: a TrainingResult
    with the network last measured; `watch(catches, theta)` sees each one that counts."""
    measured = measured or Measurements(config.compare_games)
    learner = learner or Reinforce(config)
    progress = progress or ce.Progress(config, label="update")
    learner.start(config.seed)
    history, start = [], time.perf_counter()
    for number in itertools.count():
        thetas, rewards, means = learner.blocks(config.seed, number)
        for block in range(BLOCKS):
            done = number * BLOCKS + block
            catches, games = ce.count_catches(rewards[block]), done * learner.games_per_block
            if measured.see(games, catches) and watch:
                watch(catches, thetas[block])
            history.append(
                dict(generation=done * learner.updates, mean_reward=float(means[block].mean()),
                     catch_rate=catches / ce.START_COUNT, games=games,
                     seconds=round(time.perf_counter() - start, 4))
            )  # fmt: skip
            progress(history, measured.done)
            if measured.done:
                model = ce.build_policy(config.hidden_units)
                ce.set_flat_weights(model, thetas[block])
                status = "solved" if measured.solved_at is not None else "limit"
                return ce.TrainingResult(model, history, status, None)


# %% [markdown]
"""
## Side by side

The ES is `catch_es.run_training` (Part I's `evolve`, with restarts) with a player of its own:
each candidate plays `es_starts` of the 80 start states, drawn from the seed and the generation
and the same for both members of a mirrored pair, while theta plays all 80 to be measured.
`race` trains the ES with restarts and without (so that "the same initial weights" is true of
one ES run), then REINFORCE, each within the same budget and rule of measurement.
"""


# %%
def pair_starts(strategy, count):
    """Each candidate's `count` start states this generation, a row per candidate of the largest
    population: (fruit columns, basket centres)."""
    rng = np.random.default_rng([int(strategy.key[0]), strategy.generation, 1])
    picks = rng.permuted(np.tile(np.arange(ce.START_COUNT), (strategy.largest // 2, 1)), axis=1)
    return [states[picks[:, :count].repeat(2, axis=0)] for states in ce.start_states()]


def es_player(config):
    """The ES's generation for the study's game: catch_es's own (`play_here`) if each candidate
    plays all 80 start states, else one whose candidates play `es_starts` each."""
    model = ce.build_policy(config.hidden_units)
    if config.es_starts == ce.START_COUNT:
        return ce.play_here(model, game_of(config))
    play_population = ce.population_games(model, game_of(config))

    @tf.function(jit_compile=True, autograph=False)
    def generation(strategy, own_starts, starts):
        before = strategy.state()
        own = play_population(before.theta[None], *own_starts)[0]  # theta: all 80, measured
        size, pairs = strategy.batch, strategy.batch // 2

        def play_batch(batch, found):  # as play_here's: a batch's totals, into `found`
            mine = [ops.slice(s, [batch * size, 0], [size, config.es_starts]) for s in starts]
            totals = ops.sum(play_population(strategy.ask(batch * pairs, pairs), *mine), axis=1)
            return ops.slice_update(found, [batch * size], totals)

        totals = ops.fori_loop(0, strategy.batches, play_batch, ops.zeros(strategy.largest))
        strategy.tell(totals)
        return own, totals, before

    def play_generation(strategy):
        starts = pair_starts(strategy, config.es_starts)
        own, totals, before = generation(strategy, ce.starts_for(1), starts)
        rewards = totals.numpy()[: strategy.population_size] / config.es_starts
        return ce.count_catches(own), rewards, before.numpy()

    return play_generation


# %%
LEARNERS = ("ES", "ES, no restarts", "REINFORCE")


def race(config, play_generation=None, learner=None, show=True, target=ce.START_COUNT,
         watch=None, learners=LEARNERS):  # fmt: skip
    """The learners on the run's game from the same initial weights: {name: (result, measured)}.
    `play_generation` and `learner`, built once per game, spare compiling again for every seed;
    `watch(name, catches, theta)` sees each measured network that counts."""
    es = any(name.startswith("ES") for name in learners)
    play_generation, runs = play_generation or (es_player(config) if es else None), {}
    quiet = None if show else (lambda history, done: None)
    for name in [name for name in learners if name.startswith("ES")]:
        measured, played = Measurements(config.compare_games, target), [0]

        def play(strategy, name=name, measured=measured, played=played):
            catches, rewards, before = play_generation(strategy)
            if measured.see(played[0], catches) and watch:
                watch(name, catches, before.theta)
            played[0] += strategy.population_size * config.es_starts
            return min(catches, ce.START_COUNT - 1), rewards, before  # the measurements decide

        patience = config.patience if name == "ES" else sys.maxsize  # no run waits that long
        mine = dataclasses.replace(config, patience=patience, generations=sys.maxsize)
        result = ce.run_training(
            mine, attempt=ce.played_by(play, mine), progress=quiet or ce.Progress(mine),
            keep_going=lambda strategy, history, measured=measured: not measured.done,
        )  # fmt: skip
        runs[name] = result, measured
    if "REINFORCE" in learners:
        measured = Measurements(config.compare_games, target)
        watched = watch and functools.partial(watch, "REINFORCE")
        runs["REINFORCE"] = train_reinforce(config, measured, quiet, learner, watched), measured
    return runs


# %% [markdown]
"""
## Measuring the claims

`python es_vs_rl.py claims` trains the learners on ten games, 30 seeds each (1000 to 1029: no
setting was chosen on them): catch_es's (T = 9); the same with a linear policy (303 weights, for
Mania et al. 2018); M = 4 with slack at K = 1 to 4 (frame-skip, as Salimans et al. 2017, §4.4);
and without slack at M = 4, 8, 16, 32 (T = 36 to 288, the same 9 moves that count). One budget
of 3,000,000 training games for every learner and seed, no clock; one rule of measurement;
compiling done before the first seed; equal tuning on other seeds (`tune`, below).

Without slack the ES's deterministic policy sees one board on all the steps between two falls,
and only the move on the falling step counts: every candidate scores as at T = 9, so the ES's
runs are those of T = 9, seed for seed, at every M. The study checks that on all 30 seeds at
M = 4 and on the first `ES_CHECKED` at M ≥ 8, where it compares REINFORCE with the ES's T = 9
runs. It measures the noise of one update's gradient, as each learner takes it, at the initial
networks and at the real stalls of runs without restarts; the exploration claim is not tested.
"""

# %%
ORDER = "1x1,1x1linear,4x1,4x2,4x3,4x4,4x1noslack,8x1noslack,16x1noslack,32x1noslack"
FIRST_SEED = 1000  # the claims' seeds: 1000, 1001, ...
ES_CHECKED = 3  # seeds the ES runs at M >= 8 without slack (its runs are T = 9's, by construction)


def knobs(game):
    """'8x1noslack' -> (8, 1, False, False): M, K, slack, a linear policy."""
    numbers = game.removesuffix("linear").removesuffix("noslack").split("x")
    if len(numbers) != 2 or not all(n.isdigit() and int(n) >= 1 for n in numbers):
        raise argparse.ArgumentTypeError(f"{game!r}: expected MxK games such as 1x1,8x1noslack")
    return int(numbers[0]), int(numbers[1]), "noslack" not in game, game.endswith("linear")


def game_name(game):
    fall_every, action_repeat, slack, linear = knobs(game)
    name = f"M={fall_every}, K={action_repeat}" + ", no slack" * (not slack)
    return name + ", linear policy" * linear + f" (T = {9 * fall_every})"


def config_for(game, **settings):
    fall_every, action_repeat, slack, linear = knobs(game)
    return StudyConfig(fall_every=fall_every, action_repeat=action_repeat, slack=slack,
                       render=False, **({"hidden_units": 0} if linear else {}), **settings)  # fmt: skip


def order_key(game):  # ORDER's games in its order, any others after them
    return ORDER.split(",").index(game) if game in ORDER.split(",") else len(ORDER)


def parse_games(text):  # '1x1,8x1noslack', each game checked
    return [game for game in text.split(",") if knobs(game)]


# %%
def parse(argv, prog, options):
    """The options of `claims` or `tune`: {name: (type, default, default with --quick, help)}."""
    parser = argparse.ArgumentParser(prog=f"{PROG} {prog}", description=f"es_vs_rl.py's {prog}")
    parser.error = functools.partial(ce.usage_error, prog=PROG)  # one line, exit status 2
    parser.add_argument("--quick", action="store_true", help="a small run, in minutes")
    for name, (kind, full, quick, text) in options.items():
        flag = dict(action="store_true") if kind is bool else dict(type=kind)
        parser.add_argument(f"--{name}", **flag, help=f"{text} (default {full}; --quick {quick})")
    args = parser.parse_args(argv)
    for name, (kind, full, quick, _) in options.items():
        if getattr(args, name.replace("-", "_")) is None:
            setattr(args, name.replace("-", "_"), kind(quick if args.quick else full))
    return args, parser.error


def parse_claims_args(argv=None):
    args, error = parse(argv, "claims", {
        "seeds": (int, 30, 2, "seeds per game"), "first-seed": (int, FIRST_SEED, FIRST_SEED, "the first"),
        "games": (int, 3_000_000, 300_000, "games to learn, per seed"),
        "snr-repeats": (int, 200, 16, "estimates of each gradient"),
        "snr-networks": (int, 3, 1, "initial networks, seeds 0 .. N-1"),
        "settings": (parse_games, ORDER, "1x1,4x2", "the games"),
        "out": (str, "benchmarks/claims", "runs/claims-quick", "the folder"),
        "plot-only": (bool, False, False, "the tables and figure again from the files"),
    })  # fmt: skip
    if min(args.seeds, args.games, args.snr_networks) <= 0 or args.snr_repeats < 2:
        error("--seeds, --games, --snr-networks must be > 0, --snr-repeats >= 2")
    if args.first_seed < 0:
        error("--first-seed must be >= 0")
    return args


# %% [markdown]
"""
### The gradients' noise

`Game` compiles a game's ES generation and REINFORCE's training once, and two estimators of one
update's gradient at any weights: REINFORCE's (80 sampled games) and the ES's centred-rank step
(one generation, as the ES plays it). From n independent estimates, `|mean|²` less the mean's
own noise, trace Cov / n, estimates the signal `|E g|²` without bias (it can come out below zero
when the signal is lost in the noise); the ratio to trace Cov g is the signal-to-noise ratio.
"""


# %%
class Game:
    """One game's compiled ES player, REINFORCE and gradient estimators, compiled up front."""

    def __init__(self, config):
        start, self.config = time.perf_counter(), config
        self.learner = Reinforce(config)
        self.learner.start(0)
        self.learner.blocks(0, 0)  # compiled now
        self.play_generation = es_player(config)
        self.play_generation(ce.fast_attempt(config, 0)[1])  # compiled now: any population
        model, steps = ce.build_policy(config.hidden_units), ce.GAME_LENGTH * config.fall_every
        games = ce.START_COUNT * config.reinforce_games_per_start
        gradient, shape = reinforce_gradient(model, config), (steps, games)
        estimate = lambda theta, key: gradient(theta, uniforms(key, shape))[0]  # noqa: E731
        self.reinforce = tf.function(estimate, jit_compile=True, autograph=False)
        self.strategy = ce.BatchedStrategy(ce.flatten_weights(model), config.population_size,
                                           config.sigma, config.learning_rate, config.weight_decay)  # fmt: skip
        play = ce.population_games(model, game_of(config))
        self.play = tf.function(play, jit_compile=True, autograph=False)
        self.compile_seconds = time.perf_counter() - start

    def estimates(self, theta, seed, repeats):
        """{estimator: `repeats` estimates at theta}, each from random numbers of its own."""
        found = {"ES": [], "REINFORCE": []}
        for repeat in range(repeats):
            self.strategy.load(ce.State(theta, repeat, self.strategy.fresh_adam), seed)
            starts = pair_starts(self.strategy, self.config.es_starts)
            totals = self.play(self.strategy.ask(), *starts).numpy().sum(axis=1)
            found["ES"].append(np.asarray(self.strategy.tell(totals)))
            key = np.array([seed, repeat], "int32")
            found["REINFORCE"].append(self.reinforce(theta, key).numpy())
        return found


# %%
def curve(measured, budget):
    """The catches at 2,000 · 2^(k/2) games up to the budget: at each, the last measurement so far
    (a solved run counted as solved from then on)."""
    points, row = {}, 0
    for k in itertools.count():
        at = round(CADENCE * 2 ** (k / 2))
        if at > budget:
            return points
        while row + 1 < len(measured.rows) and measured.rows[row + 1][0] <= at:
            row += 1
        solved = measured.solved_at is not None and measured.solved_at <= at
        points[f"g{at}"] = measured.target if solved else measured.rows[row][1]


def config_key(config):
    key = f"{config.fall_every}x{config.action_repeat}" + "noslack" * (not config.slack)
    return key + "linear" * (config.hidden_units == 0)


def run_row(config, name, result, measured):
    """A run's row: its game and seed, whether and when it solved, and its curve."""
    return dict(game=config_key(config), steps=ce.GAME_LENGTH * config.fall_every,
                seed=config.seed, learner=name, target=measured.target,
                solved=measured.solved_at is not None, games=measured.games,
                stalled=measured.stalled() if name != "ES" else "",  # after a restart, no stall
                seconds=round(measured.seconds, 3), played=measured.last[0],
                restarts=result.history[-1].get("restarts", 0), final_catches=measured.last[1],
                **curve(measured, config.compare_games))  # fmt: skip


# %%
def measure_game(game, args, target, es_seeds):
    """Every seed's race on one game: the runs' rows, and the networks to measure the noise at:
    the initial ones, and the last networks of up to two stalled runs of each learner."""
    runs, networks = [], []
    for seed in range(args.snr_networks):
        ce.keras.utils.set_random_seed(seed)
        theta = ce.flatten_weights(ce.build_policy(game.config.hidden_units))
        networks.append((f"initial, seed {seed}", "initial", theta))
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        config, last = dataclasses.replace(game.config, seed=seed), {}
        learners = LEARNERS if seed < args.first_seed + es_seeds else ("REINFORCE",)
        watch = lambda name, catches, theta: last.__setitem__(name, np.array(theta))  # noqa: E731
        raced = race(config, game.play_generation, game.learner, False, target, watch, learners)
        for name, (result, measured) in raced.items():
            runs.append(run_row(config, name, result, measured))
            if runs[-1]["stalled"] and sum(n[0].startswith(name) for n in networks) < 2:
                networks.append(
                    (f"{name} stalled at {measured.last[1]}/80, seed {seed}", "stall", last[name])
                )
        said = [f"{r['learner']} {r['final_catches']}/80" for r in runs[-len(raced) :]]
        print(f"  seed {seed}: " + ", ".join(said), flush=True)
    return runs, networks


def measure_noise(game, args, networks):
    """Each estimator's signal-to-noise ratio at each network, and the network's weight norm."""
    rows = []
    for number, (network, where, theta) in enumerate(networks):
        for estimator, estimates in game.estimates(theta, number, args.snr_repeats).items():
            played = game.config.population_size * game.config.es_starts
            rows.append(
                dict(game=config_key(game.config), network=network, where=where, estimator=estimator,
                     estimates=len(estimates), snr=snr_of(estimates),
                     games=played if estimator == "ES" else 80 * game.config.reinforce_games_per_start,
                     norm=round(float(np.linalg.norm(theta)), 3))
            )  # fmt: skip
    return rows


# %% [markdown]
"""
### What the files say

Each game's rows go to `games/<MxK>.csv` (its noise to `-snr.csv`), with the settings that made
them in `.json`; `claims.csv` and `snr.csv` join the games. `tables.txt` says what they show: a
table per game, then a line per claim, which `benchmarks/claims/README.md` quotes, with the
intervals and paired tests of `study_stats.py` (Wilson's, bootstrapped medians, McNemar's and
sign tests, Newcombe's). REINFORCE is measured every 2,000 games (the ES every generation, 2,000
games or more), so its games to solve are upper bounds, coarse at a few thousand: each ratio of
the ES's games to REINFORCE's, if anything, understates REINFORCE's lead.
`claims_curves.png`, per game: the median and interquartile range over the seeds of each
learner's catch rate against the games it played.
"""


# %%
def on(rows, game, learner=None):
    return [r for r in rows if r["game"] == game and learner in (None, r["learner"])]


def solved_text(runs):
    """'k/n [low, high], median games [low, high]' of some runs."""
    solved, seeds = sum(r["solved"] for r in runs), len(runs)
    low, high = wilson(solved, seeds)
    games = "{} [{}, {}]".format(*map(as_text, median_interval([r["games"] for r in runs])))
    return f"{solved}/{seeds} [{low:.2f}, {high:.2f}], median {games} games"


def paired_text(runs, first, second):
    """A paired comparison of two learners in a line, on both outcomes."""
    test = paired(runs, first, second)
    text = "{} against {}: solved {} and {} of {}, by one only {} and {} (McNemar p = {:.2g}; "
    text += "difference {:+.2f} [{:+.2f}, {:+.2f}]); fewer games on {} and {} seeds (sign test "
    text = text.format(first, second, *test["solved"], test["seeds"], *test["only"], test["p"],
                       *test["difference"], *test["fewer"])  # fmt: skip
    text += f"p = {test['p_games']:.2g})"
    if test["ratio"]:
        ratio = "{:.3g} [{:.3g}, {:.3g}]".format(*test["ratio"])
        text += f"; {second}'s games / {first}'s: median {ratio}"
    return text


def game_lines(game, runs):
    """A game's table: each learner's runs, and the paired comparisons."""
    mine, lines = on(runs, game), [f"{game_name(game)}:"]
    for learner in [name for name in LEARNERS if on(mine, game, name)]:
        ours = on(mine, game, learner)
        seconds = [r["seconds"] for r in ours if r["solved"]] or [math.inf]
        restarts = sum(r["restarts"] for r in ours)
        stalled = sum(r["stalled"] is True for r in ours)
        lines.append(f"  {learner:<16} solved {solved_text(ours)}; {as_text(statistics.median(seconds))} s "
                     f"by median over the seeds it solved; "
                     f"{restarts} restarts; {stalled} stalled")  # fmt: skip
    for first, second in itertools.combinations(LEARNERS[::-1], 2):
        if {first, second} <= {r["learner"] for r in mine}:
            lines.append("  " + paired_text(mine, first, second))
    return lines


# %%
def snr_line(rows, what):
    """'SNR per update, what: ES median (low to high, n networks); REINFORCE ...'."""
    parts = []
    for estimator in ("ES", "REINFORCE"):
        values = [r["snr"] for r in rows if r["estimator"] == estimator]
        middle, low, high = statistics.median(values), min(values), max(values)
        parts.append(f"{estimator} {middle:.2e} ({low:.2e} to {high:.2e}, {len(values)} networks)")
    return f"SNR per update, {what}: " + "; ".join(parts)


def noise_lines(snr):
    """The gradients' noise by policy and kind of network, by game, and the networks' weight norms."""
    lines = []
    for hidden, policy in ((True, "with the hidden layer"), (False, "a linear policy")):
        mine = [r for r in snr if r["game"].endswith("linear") != hidden]
        for kind in ("initial", "ES, no restarts stalled", "REINFORCE stalled"):
            rows = [r for r in mine if r["network"].startswith(kind)]
            if {r["estimator"] for r in rows} == {"ES", "REINFORCE"}:
                where = "initial networks" if kind == "initial" else f"the stalls of {kind[:-8]}"
                lines.append(snr_line(rows, f"{policy}, at {where}"))
    for game in sorted({r["game"] for r in snr}, key=order_key):  # each game's initial networks
        rows = [r for r in snr if r["game"] == game and r["where"] == "initial"]
        lines.append(snr_line(rows, f"{game_name(game)}, at initial networks"))
    for kind, linear in itertools.product(("initial", *LEARNERS[1:]), (False, True)):
        mine = [r["norm"] for r in snr if r["network"].startswith(kind) and r["game"].endswith("linear") == linear]  # fmt: skip
        where = "initial networks" if kind == "initial" else f"the stalls of {kind}"
        low, high = (min(mine), max(mine)) if mine else (math.nan, math.nan)
        lines.append(f"|theta|, {'a linear policy' if linear else 'hidden layer'}, at {where}: {low:.1f} to {high:.1f}")  # fmt: skip
    return lines


# %%
def claim_lines(runs):
    """The claims, each as what the files say of it: the lines the README quotes."""
    lines, own = [], [r for r in runs if r["learner"] == "REINFORCE"]  # each run once, below
    for game in sorted({r["game"] for r in runs}, key=order_key):
        mine, name, (_, action_repeat, slack, linear) = on(runs, game), game_name(game), knobs(game)
        base = [r for r in on(runs, "1x1" + "linear" * linear) if r["learner"] != "REINFORCE"]
        es, t9 = (
            {(r["seed"], r["learner"]): (r["games"], r["played"], r["final_catches"]) for r in rows}
            for rows in ([r for r in mine if r["learner"] != "REINFORCE"], base)
        )
        fewer_decisions = not slack and action_repeat == 1  # the ES's runs T = 9's, seed for seed?
        same = fewer_decisions and es and all(t9.get(k) == v for k, v in es.items())
        if fewer_decisions:
            lines.append(f"{name}: the ES's {len(es)} runs are {'' if same else 'NOT '}T = 9's, seed "
                         "for seed (games to solve, games played, final catches)")  # fmt: skip
        mine = on(runs, game, "REINFORCE") + base if same else mine
        own += [] if same else [r for r in mine if r["learner"] != "REINFORCE"]
        lines.append(f"{name}: " + paired_text(mine, "REINFORCE", "ES"))
        if not same and {"ES", "ES, no restarts"} <= {r["learner"] for r in mine}:
            lines.append(f"Restarts, {name}: " + paired_text(mine, "ES", "ES, no restarts"))
    for learner in ("ES, no restarts", "REINFORCE"):  # over the games, each run once
        unsolved = [r for r in own if r["learner"] == learner and not r["solved"]]
        stalled = sum(r["stalled"] is True for r in unsolved)
        lines.append(f"{learner}: {len(unsolved)} runs unsolved, {stalled} of them stalled")
    both = {}
    for r in on(runs, "1x1"):
        if r["learner"] in ("ES", "REINFORCE") and r["solved"]:
            both.setdefault(r["seed"], {})[r["learner"]] = r["seconds"]
    slower = [s["ES"] / s["REINFORCE"] for s in both.values() if len(s) == 2]
    if slower:
        lines.append(f"Wall time to solve, T = 9: the ES's seconds / REINFORCE's on the {len(slower)} seeds both "
                     f"solved: median {statistics.median(slower):.3g}, range {min(slower):.3g} to {max(slower):.3g}")  # fmt: skip
    return lines


# %%
COLOURS = {"ES": "tab:blue", "ES, no restarts": "tab:green", "REINFORCE": "tab:orange"}


def plot_curves(runs, path, title):
    """Per game, each learner's catch rate against games: median and quartiles over the seeds."""
    games = sorted({r["game"] for r in runs}, key=order_key)
    columns = min(4, len(games))
    rows = -(-len(games) // columns)
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows + 0.6), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes, game in zip(grid, games):
        for learner in [name for name in LEARNERS if on(runs, game, name)]:
            mine = on(runs, game, learner)
            at = [int(key[1:]) for key in mine[0] if key[0] == "g" and key[1:].isdigit()]
            ends = [r["target"] if r["solved"] else r["final_catches"] for r in mine]  # at the end:
            rates = np.array([[r[f"g{g}"] for g in at] + [end] for r, end in zip(mine, ends)])
            at, rates = at + [max(at[-1], *(r["played"] for r in mine))], rates / ce.START_COUNT
            low, middle, high = np.quantile(rates, [0.25, 0.5, 0.75], axis=0)
            axes.plot(at, middle, color=COLOURS[learner], label=f"{learner} ({len(mine)} seeds)")
            axes.fill_between(at, low, high, color=COLOURS[learner], alpha=0.2)
        axes.set(xscale="log", ylim=(0, 1.02), title=game_name(game), xlabel="games played (log)")
        axes.set_ylabel("catch rate")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="x-small", loc="lower right")
    for axes in grid[len(games) :]:
        axes.set_visible(False)
    figure.suptitle(title)
    ce.write_atomically(path, figure.savefig)


# %%
def report(runs, snr, out):
    """tables.txt (a table per game, the claims' lines, the README's table) and the figures."""
    games = sorted({r["game"] for r in runs}, key=order_key)
    lines = sum((game_lines(game, runs) + [""] for game in games), ["Each game:"])
    lines += ["What the files say about each claim:"]
    lines += [f"* {line}" for line in claim_lines(runs) + noise_lines(snr)]
    ce.write_atomically(out / "tables.txt", lambda path: path.write_text("\n".join(lines) + "\n"))
    print("\n".join(lines))
    plot_curves(runs, out / "claims_curves.png", "Catch rate: median and quartiles over the seeds")


# %%
def claims(argv=None):
    """`python es_vs_rl.py claims`: every game, learner and seed; tables, CSV files, figures.
    Resumable: a game whose `.json` holds the same settings is read, not run again."""
    args, start = parse_claims_args(argv), time.perf_counter()
    out = Path(args.out)
    if args.plot_only:
        return report(read_csv(out / "claims.csv"), read_csv(out / "snr.csv"), out)
    (out / "games").mkdir(parents=True, exist_ok=True)
    made_with = {k: v for k, v in vars(args).items() if k not in ("out", "plot_only", "settings")}
    made_with["defaults"] = vars(StudyConfig())  # the tuned settings among them
    runs, snr = [], []
    for game in args.settings:
        key = out / "games" / game
        long = "noslack" in game and knobs(game)[0] >= 8 and knobs(game)[1] == 1
        settings = dict(made_with, es_seeds=ES_CHECKED if long else args.seeds)
        made = key.with_suffix(".json")
        if not made.exists() or json.loads(made.read_text()) != settings:
            config, target = (
                config_for(game, compare_games=args.games),
                most_caught(*knobs(game)[:3]),
            )
            print(f"\n{game_name(game)}: some sequence of actions wins {target} of 80", flush=True)
            compiled = Game(config)
            rows, networks = measure_game(compiled, args, target, settings["es_seeds"])
            ce.save_history(rows, key.with_name(game + ".csv"))
            ce.save_history(
                measure_noise(compiled, args, networks), key.with_name(game + "-snr.csv")
            )
            ce.write_atomically(made, lambda path: path.write_text(json.dumps(settings)))
            print(
                f"  {time.perf_counter() - start:.0f} s so far, {compiled.compile_seconds:.0f} s compiling"
            )
        runs += read_csv(key.with_name(game + ".csv"))
        snr += read_csv(key.with_name(game + "-snr.csv"))
    ce.save_history(runs, out / "claims.csv")
    ce.save_history(snr, out / "snr.csv")
    report(runs, snr, out)
    print(f"\nwrote claims.csv, snr.csv, tables.txt and claims_curves.png to {out}/")


# %% [markdown]
"""
### Tuning, the same for both learners

`python es_vs_rl.py tune` gives each learner the same effort: every setting of its grid on the
same 5 seeds (2000 to 2004: none of the claims', and none of 0 to 99, on which catch_es's
defaults were developed), on catch_es's game, within the same budget and rule of measurement.
The best solves the most seeds and among those needs the fewest games by median (solving none:
gets closest). `StudyConfig`'s defaults are the winners; a test checks them against `tune.csv`.
"""

# %%
TUNING = {
    "ES": {"sigma": (0.05, 0.1), "learning_rate": (0.02, 0.05), "population_size": (50, 100),
           "es_starts": (1, 5, 20, 80)},
    "REINFORCE": {"reinforce_learning_rate": (0.001, 0.003, 0.01, 0.03),
                  "reinforce_games_per_start": (1, 4), "reinforce_entropy": (0.0, 0.01)},
}  # fmt: skip
TUNE_SEED = 2000


def tune_score(rows, learner, setting):
    """(seeds solved, minus the median games, the mean final catches): the higher, the better."""
    mine = [r for r in rows if r["learner"] == learner and setting.items() <= r.items()]
    finals = float(np.mean([r["final_catches"] for r in mine]))
    return sum(r["solved"] for r in mine), -median_interval([r["games"] for r in mine])[0], finals


def parse_tune_args(argv=None):
    args, error = parse(argv, "tune", {
        "first-seed": (int, TUNE_SEED, TUNE_SEED, "the first seed"), "seeds": (int, 5, 2, "how many"),
        "games": (int, 3_000_000, 200_000, "games to learn, per seed"),
        "learners": (str, "ES,REINFORCE", "ES,REINFORCE", "whose settings"),
        "out": (str, "benchmarks/claims", "runs/tune-quick", "the folder for tune.csv"),
    })  # fmt: skip
    args.seeds, args.out = range(args.first_seed, args.first_seed + args.seeds), Path(args.out)
    args.learners = args.learners.split(",")
    if min(len(args.seeds), args.games) <= 0 or args.first_seed < 0 or set(args.learners) - set(TUNING):  # fmt: skip
        error("--seeds and --games must be > 0, --first-seed >= 0, --learners from ES,REINFORCE")
    if set(args.seeds) & set(range(FIRST_SEED, FIRST_SEED + 30)):
        error(
            f"--first-seed: tuning must not use the claims' seeds ({FIRST_SEED} to {FIRST_SEED + 29})"
        )
    return args


# %%
def tune(argv=None):
    """`python es_vs_rl.py tune`: every setting of TUNING on every seed; returns the best."""
    args, rows, best = parse_tune_args(argv), [], {}
    names = [name for grid in TUNING.values() for name in grid]
    args.out.mkdir(parents=True, exist_ok=True)
    for learner in args.learners:
        grid = TUNING[learner]
        settings = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
        for setting in settings:
            config = config_for("1x1", compare_games=args.games, **setting)
            built = (es_player(config), None) if learner == "ES" else (None, Reinforce(config))
            for seed in args.seeds:
                mine = dataclasses.replace(config, seed=seed)
                measured = race(mine, *built, False, learners=(learner,))[learner][1]
                rows.append(dict(learner=learner, **{n: setting.get(n, "") for n in names}, seed=seed,
                                 solved=measured.solved_at is not None, games=measured.games,
                                 played=measured.last[0], final_catches=measured.last[1]))  # fmt: skip
            mine = rows[-len(args.seeds) :]
            print(f"{learner}, {setting}: {solved_text(mine)}", flush=True)
            ce.save_history(rows, args.out / "tune.csv")
        best[learner] = max(settings, key=lambda setting: tune_score(rows, learner, setting))
        print(f"\n{learner}'s best: {best[learner]}\n")
    return best


# %% [markdown]
"""
## The command line

`python es_vs_rl.py [options]` races the learners on one seed of one game, prints its table and
draws their catch rates. Every setting of `StudyConfig` is an option, checked as catch_es.py's.
"""


# %%
def compare(config, folder, target=ce.START_COUNT):
    """The learners on one seed: the table, each history as CSV, the figure; the rows."""
    runs = race(config, target=target)
    rows = [run_row(config, name, result, measured) for name, (result, measured) in runs.items()]
    for name, (result, _) in runs.items():  # es_history.csv, es_no_restarts_history.csv, ...
        file = "_".join(name.lower().replace(",", "").split()) + "_history.csv"
        ce.save_history(result.history, folder / file)
    ce.save_history(rows, folder / "comparison.csv")
    print("\n".join(game_lines(config_key(config), rows)))
    plot_curves(rows, folder / "es_vs_reinforce.png", f"The learners from seed {config.seed}")
    return rows


# %%
def compare_main(argv=None):
    """`python es_vs_rl.py [options]`: both learners on one game; runs/compare-seed<SEED>-<time>/."""
    given, _, _ = ce.parse_args(argv, StudyConfig, ACCEPTS, PROG)
    try:
        config = ce.check(StudyConfig(**given), ACCEPTS)
        folder = Path(config.out or time.strftime(f"runs/compare-seed{config.seed}-%Y%m%d-%H%M%S"))
        # an update holds about 16 bytes for each step of each of its 80 · games-per-start games
        per_game = 11_520 * config.fall_every * config.reinforce_games_per_start
        ce.check_memory(config, also=0.8e9 + per_game)
        lock = ce.claim("--out", folder)  # noqa: F841 (held until we return)
    except ValueError as error:
        ce.usage_error(str(error), PROG)
    config = dataclasses.replace(config, out=str(folder))
    target = most_caught(config.fall_every, config.action_repeat, config.slack)
    print(f"some sequence of actions wins {target} of the 80 start states: the target")
    ce.write_atomically(folder / "config.json", lambda p: p.write_text(json.dumps(vars(config))))
    rows = compare(config, folder, target)
    print(f"wrote the table, the histories and es_vs_reinforce.png to {folder}/")
    return rows


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] in (["claims"], ["tune"]):
            return (claims if argv[0] == "claims" else tune)(argv[1:])
        return compare_main(argv[1:] if argv[:1] == ["compare"] else argv)
    except BrokenPipeError:
        raise
    except OSError as error:  # a full disk, the folder gone: one line, as catch_es.py says it
        sys.stderr.write(f"{PROG}: stopped: cannot write {error.filename}: {error.strerror}\n")
        sys.exit(74)


# %%
if __name__ == "__main__":
    ce.run_as_script(lambda: main([] if ce.NOTEBOOK else None))  # a notebook's argv is its kernel's
