# %% [markdown]
"""
# Playing Catch with Keras and an Evolution Strategy

**Description:** evolve a small Keras network that plays Catch, with no backpropagation,
by adding random noise to its weights and keeping what wins.

Run it with `python catch_es.py`, read it top to bottom, change it;
`jupytext --to ipynb catch_es.py` makes it a notebook that trains while you read. **Part I**
is the lesson: the game, the network, the evolution strategy and why it works, training a
perfect catcher, watching it play, a conclusion; you may stop there. **Part II**, "Going
faster", makes the same games several times quicker, each trick checked against Part I's
plain code. **Part III** turns it all into the program the command runs.

## Introduction

This tutorial grows out of Eder Santana's blog post
[Playing Catch with Keras and an Evolution Strategy](https://medium.com/@edersantana/mve-series-playing-catch-with-keras-and-an-evolution-strategy-a005b75d0505)
(2018): each of three ways to teach a network fits in one line, and side by side they show
what an evolution strategy (ES) is.

* **Supervised learning** has a target `y` for every input `x`. The squared error
  `(y - f(x))²` has the gradient `-2 (y - f(x)) · grad f(x)`, and each weight moves against
  it: a *quality measure* (how wrong the output is) times a *sensitivity* (how the output
  changes with the weight).
* **REINFORCE**, the simplest reinforcement-learning rule, has only a reward `R` at the end
  of a game. The policy samples its actions, and the weights move by `R · grad log p(action)`:
  a quality measure times the sensitivity of the probability of the action taken.
* **An evolution strategy** keeps the quality measure and drops the sensitivity. It adds
  Gaussian noise `n` to all the weights at once, plays, and moves the weights by the
  reward-weighted sum of the noise: `grad ≈ R · n`. No gradient has to be computed.

That last line is the whole algorithm: Andrej Karpathy's
[25-line NES example](https://gist.github.com/karpathy/77fbb6a8dac5395f1b73e7a89300318d)
writes it in NumPy, and OpenAI's
[Evolution Strategies as a Scalable Alternative to Reinforcement Learning](https://arxiv.org/abs/1703.03864)
(Salimans et al., 2017) ran it on 1,440 CPU cores. No backpropagation, so the network can be
anything that maps pixels to actions; every noisy copy plays on its own, so the work is
embarrassingly parallel. The price is compute, many games per step instead of one gradient,
paid here by playing thousands of games at once: Keras 3 on TensorFlow, whose XLA compiler
makes a whole generation one call. On the way we see *why* `R · n` points uphill, and
measure how well.
"""

# %%
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # Keras 3, on TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ log: quiet

import collections, dataclasses, functools, sys, time, typing

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from matplotlib.figure import Figure  # plots without a display

# %% [markdown]
"""
## The game

A fruit falls down a 10×10 grid, one row per step, from any column of the top row. A basket
three cells wide sits on the bottom row (its centre in columns 1 to 8); each step it moves
left, stays or moves right. When the fruit reaches the bottom row the game ends: +1 if the
basket is under it, -1 if not. The game is written with `keras.ops` on arrays with one entry
per game, of any shape, so it steps any number of games at once and compiles with the network.
"""

# %%
GRID_SIZE = 10
GAME_LENGTH = GRID_SIZE - 1  # steps until the fruit reaches the bottom row
ACTIONS = LEFT, STAY, RIGHT = 0, 1, 2  # an action moves the basket by action - 1
START_COUNT = GRID_SIZE * (GRID_SIZE - 2)  # 80 ways to start: "80/80 caught" is perfect play


CatchState = collections.namedtuple("CatchState", "fruit_row fruit_column basket_centre")  # arrays


def start_states():  # every start: each of the 10 fruit columns with each of the 8 basket centres
    columns, centres = np.meshgrid(np.arange(GRID_SIZE), np.arange(1, GRID_SIZE - 1), indexing="ij")
    return columns.ravel().astype("int32"), centres.ravel().astype("int32")


def reset(fruit_columns, basket_centres):  # every fruit on the top row
    return CatchState(ops.zeros_like(fruit_columns), fruit_columns, basket_centres)


def step(state, actions):  # move each basket, let each fruit fall a row: (next state, rewards)
    basket_centre = ops.clip(state.basket_centre + actions - 1, 1, GRID_SIZE - 2)
    fruit_row = state.fruit_row + 1
    caught = ops.abs(state.fruit_column - basket_centre) <= 1
    reward = ops.where(fruit_row == GRID_SIZE - 1, ops.where(caught, 1.0, -1.0), 0.0)
    return CatchState(fruit_row, state.fruit_column, basket_centre), reward


def play_games(policy, fruit_columns, basket_centres):  # whole games of `policy`: their rewards
    # game: (the state, the last step's rewards); only the last step scores, so these are the game's
    def one_step(t, game):
        return step(game[0], policy(game[0]))

    start = (reset(fruit_columns, basket_centres), ops.zeros_like(fruit_columns, "float32"))
    return ops.fori_loop(0, GAME_LENGTH, one_step, start)[1]


# %% [markdown]
"""
`ops.fori_loop` is a loop that the compiler keeps as a loop rather than 9 copies of its body.
A network that always picks its highest-scoring action plays each of the 80 starts the same
way every time, so its **exact catch rate** is how many of the 80 it wins.

## The policy

The network sees the board, 100 pixels with a 1 on the fruit and on the basket's three
cells, and scores the three actions; the highest wins. Any Keras model with 100 inputs and 3
outputs could take its place: the ES sees only one long vector of numbers, `theta` (10,403
weights for the default network).
"""


# %%
def observe(state):  # the board: 100 numbers per game, cells numbered row by row
    basket = (GRID_SIZE - 1) * GRID_SIZE + state.basket_centre  # its centre's cell
    lit = [state.fruit_row * GRID_SIZE + state.fruit_column, basket - 1, basket, basket + 1]
    return ops.sum(ops.one_hot(ops.stack(lit, axis=-1), GRID_SIZE * GRID_SIZE), axis=-2)


def build_policy(hidden_units=100):  # 0 hidden units: a linear policy
    hidden = [keras.layers.Dense(hidden_units, activation="relu")] if hidden_units else []
    return keras.Sequential([keras.Input((GRID_SIZE**2,)), *hidden, keras.layers.Dense(3)])


def greedy(model):  # the policy of a model: on each board, the action with the highest score
    return lambda state: ops.cast(ops.argmax(model(observe(state)), axis=-1), "int32")


def flatten_weights(model):  # a model's weights as one vector
    return np.concatenate([np.ravel(variable.numpy()) for variable in model.trainable_variables])


def unflatten_weights(flat, shapes):  # ... and back: arrays of these shapes (in compiled code too)
    ends = np.cumsum([int(np.prod(shape)) for shape in shapes])
    return [ops.reshape(flat[end - np.prod(s) : end], s) for end, s in zip(ends, shapes)]


def set_flat_weights(model, flat):
    variables = model.trainable_variables
    for variable, value in zip(variables, unflatten_weights(flat, [v.shape for v in variables])):
        variable.assign(value)


# %% [markdown]
"""
## Every candidate at once

The blog post's code called `model.predict` once per step of one game: milliseconds of
overhead for microseconds of arithmetic, hours per run. Here one call plays *every game of
every candidate*. `model.stateless_call` runs the model with weights we pass in rather than
its own, and `keras.ops.vectorized_map` maps that over the candidates, each with its own
weights and its own 80 boards. The states have a row per candidate and a column per game.
"""


# %%
def population_policy(model, population):  # each candidate's actions: states (P, n) -> (P, n)
    shapes = [variable.shape for variable in model.trainable_variables]
    fixed = [variable.value for variable in model.non_trainable_variables]  # (none in ours)

    def scores(candidate):  # one candidate's flat weights and its boards -> its scores
        flat_weights, boards = candidate
        return model.stateless_call(unflatten_weights(flat_weights, shapes), fixed, boards)[0]

    return lambda state: ops.argmax(ops.vectorized_map(scores, (population, observe(state))), -1)


def play_population(model, population):  # flat weights (P, D) -> rewards (P, 80): all 80 games each
    starts = [np.tile(states, (population.shape[0], 1)) for states in start_states()]
    return play_games(population_policy(model, population), *starts)


# %% [markdown]
"""
## The evolution strategy

The heart of it, for any function of a flat vector, in the ask/tell style of pycma and
evosax: `ask()` hands out candidates, you score them any way you like, `tell(rewards)` moves
`theta`. The noise is OpenAI's **shared noise table**: 4 million Gaussian numbers, made once,
the same for every run; each pair's noise is a slice of it at an offset drawn from
`(seed, generation)`, so `tell` draws the same noise again instead of keeping it, and a run
replays exactly. The update is the blog's `grad ≈ R · n`, refined:

* **Mirrored noise:** candidates come in pairs `theta + sigma·n` and `theta - sigma·n`.
* **Centred ranks:** the rewards become their ranks, scaled to -0.5 … 0.5, so one lucky
  candidate cannot swamp the step; when all score the same, all ranks tie and the estimate is
  exactly zero (the blog's code divided by the rewards' spread, which is zero then: 0 / 0).
* **Adam**, from Keras, adapts the step size per weight, as for a backpropagated gradient.
* **Weight decay:** Adam makes even a noisy estimate a full-size step, so the weights grow
  until noise of size `sigma` changes no action; Adam's decoupled weight decay shrinks them by
  `learning_rate · weight_decay` of themselves each step.

All the next generation depends on, besides the settings, is a `State`: theta, the
generation's number and Adam's variables. Why each refinement works comes after the code.
"""

# %%
NOISE_TABLE_SIZE = 2**22  # 4 million floats, 16 MB


@functools.cache  # made once per size, shared by every strategy, as OpenAI's workers shared theirs
def noise_table(size=NOISE_TABLE_SIZE):
    return ops.convert_to_tensor(np.random.default_rng(0).standard_normal(size, dtype="float32"))


def centred_ranks(rewards):  # scaled to [-0.5, 0.5]; ties share their mean rank; NaN ranks worst
    rewards = ops.where(ops.isfinite(rewards), rewards, -np.inf)[:, None]
    below = ops.sum(ops.cast(rewards > ops.transpose(rewards), "float32"), axis=1)  # how many less
    ties = ops.sum(ops.cast(rewards == ops.transpose(rewards), "float32"), axis=1)  # how many equal
    return (below + (ties - 1) / 2) / max(rewards.shape[0] - 1, 1) - 0.5


class State(typing.NamedTuple):
    theta: object  # the weights, one flat vector
    generation: object  # the next generation's number: with the seed, the key of its noise
    adam: tuple  # Adam's own variables, in Keras's order: step count, rate, momentum, velocity

    def numpy(self):  # the same, as NumPy arrays
        return State(*map(np.asarray, self[:2]), tuple(map(np.asarray, self.adam)))


# %%
class EvolutionStrategy:
    def __init__(self, theta, population_size=100, sigma=0.1, learning_rate=0.05,
                 weight_decay=0.0, seed=0, shaping=centred_ranks):  # fmt: skip
        self.population_size, self.sigma, self.shaping = population_size, sigma, shaping
        self.theta = keras.Variable(np.asarray(theta, "float32"), name="theta")
        self.key = keras.Variable([seed, 0], dtype="int32", trainable=False, name="seed_generation")
        # (for long vectors a longer table, so that slices still start anywhere in 9/10 of it)
        self.table = noise_table(max(NOISE_TABLE_SIZE, 10 * self.theta.shape[0]))
        self.optimizer = keras.optimizers.Adam(learning_rate, weight_decay=weight_decay or None)
        self.optimizer.build([self.theta])  # Adam's variables exist before any step

    generation = property(lambda self: int(self.key.numpy()[1]))

    def noise(self):  # this generation's noise n: a row per mirrored pair, slices of the table
        size, pairs = self.theta.shape[0], self.population_size // 2
        last = self.table.shape[0] - size  # the last offset at which a whole slice fits
        offsets = tf.random.stateless_uniform([pairs], self.key, 0, last + 1, "int32")
        return ops.take(self.table, offsets[:, None] + ops.arange(size))

    def ask(self, n=None):  # the candidates theta + sigma·n and theta - sigma·n, pair by pair
        n = self.noise() if n is None else n  # (n: this generation's noise, or some of its rows)
        pairs = ops.stack([self.theta + self.sigma * n, self.theta - self.sigma * n], 1)
        return ops.reshape(pairs, (-1, n.shape[-1]))

    def tell(self, rewards):  # rewards in ask's order: moves theta one step up the estimate
        grad = self.estimate(ops.cast(rewards, "float32"), self.noise())
        self.optimizer.apply([-grad], [self.theta])  # Adam descends: minus the gradient
        self.key.assign_add([0, 1])  # the next generation, and its noise
        return grad

    def estimate(self, rewards, n):  # of the gradient, from P rewards and their pairs' noise n
        A, P = self.shaping(rewards), rewards.shape[0]  # the advantages
        # grad ≈ R · n: pair k played +n_k and -n_k, so together they add (A[2k] - A[2k+1])·n_k
        return ops.matmul(A[0::2] - A[1::2], n) / (P * self.sigma)

    def state(self):  # a copy of it: what the next generations depend on
        adam = tuple(ops.copy(variable) for variable in self.optimizer.variables)
        return State(ops.copy(self.theta), ops.copy(self.key[1]), adam)

    def load(self, state):  # carry on from a State
        self.key.assign([self.key[0], state.generation])
        variables = [self.theta, *self.optimizer.variables]
        for variable, value in zip(variables, [state.theta, *state.adam]):
            variable.assign(value)


# %% [markdown]
"""
### Why `R · n` is a gradient

Call `F(theta)` the score of the weights `theta` (on Catch, the mean reward of the 80 games).
`F` is a step function: a small change of the weights changes no action until it changes one,
so its gradient is zero almost everywhere. The ES climbs a smoothed `F` instead, the mean
score of a Gaussian cloud of radius `sigma` around `theta`:

    J(theta) = E[ F(theta + sigma·n) ],   n ~ N(0, I)

Write the mean as an integral over the candidates `x = theta + sigma·n`: only their density
`p(x) ∝ exp(-|x - theta|² / (2·sigma²))` depends on `theta`, and its gradient is
`p(x) · (x - theta) / sigma² = p(x) · n / sigma`. So, with no derivative of `F`,

    grad J(theta) = E[ F(theta + sigma·n) · n ] / sigma

the blog's `R · n`. Averaged over `P` candidates the estimate is `sum_i R_i n_i / (P · sigma)`:
the `1 / (P · sigma)` in `tell`. `sigma` is the smoothing radius: a wide cloud feels slopes from
afar but climbs a blurred `F` (whose top may lie elsewhere); a narrow one climbs `F` itself,
until no candidate's action differs, every `R_i` is the same and the estimate is zero.

* **Mirrored pairs** are antithetic sampling: pair `k` adds
  `(F(theta + sigma·n) - F(theta - sigma·n)) · n`; in a Taylor expansion around `theta` (of a
  smooth `F`) the two cancel every term that does not change sign with `n`: the baseline
  `F(theta)`, which alone adds noise of size `|F|` to each sample, and all even-order terms.
* **Centred ranks** are fitness shaping: each noise is weighted by its rank, not its reward,
  so the estimate is no longer an unbiased one of `grad J`, but it is bounded, and the same
  whatever increasing change is made to the reward (`R`, `10·R` or `exp(R)`: the same step).

How can 100 samples say anything about 10,403 weights? Measure it. On a quadratic hill the
exact gradient of `J` is the gradient of `F`, so we can watch the ES climb it in 2 dimensions
(as in hardmaru's [visual guide](https://blog.otoro.net/2017/10/29/visual-evolution-strategies/):
the better half of the candidates pulls `theta` their way), and compare what `tell` returns
with the truth as the population grows, in 2 dimensions and in 10,403:
"""


# %%
def hill(points):  # -|x - 1|²: highest where every weight is 1; its gradient is -2 (x - 1)
    return -np.sum((np.asarray(points) - 1.0) ** 2, axis=-1)


def climb_a_hill(axes, shown=(0, 5, 10, 20)):  # the ES in 2 dimensions, candidates drawn
    strategy = EvolutionStrategy([-1.5, -1.5], population_size=20, sigma=0.4, learning_rate=0.15)
    grid = np.stack(np.meshgrid(np.linspace(-2.5, 2.5, 41), np.linspace(-2.5, 2.5, 41)), -1)
    axes.contourf(grid[..., 0], grid[..., 1], hill(grid), levels=15, cmap="Greys_r")
    for generation in range(max(shown) + 1):
        candidates = np.asarray(strategy.ask())
        if generation in shown:
            axes.scatter(*candidates.T, s=8, label=f"generation {generation}: theta ± sigma·n")
        strategy.tell(hill(candidates))
    axes.set(aspect="equal", title="the ES climbing a hill, top at (1, 1)")
    axes.legend(fontsize="x-small", loc="lower right")


# fmt: off
SHAPINGS = {"raw rewards, sigma 0.1": (lambda rewards: rewards, 0.1),  # what R becomes, and sigma
            "ranks, sigma 0.1": (centred_ranks, 0.1), "ranks, sigma 30": (centred_ranks, 30)}
# fmt: on


def cosine_with_truth(dimension, population, shaping, sigma, seed):  # one estimate's, at theta = 0
    strategy = EvolutionStrategy(np.zeros(dimension), population, sigma, seed=seed, shaping=shaping)
    estimate, truth = np.asarray(strategy.tell(hill(strategy.ask()))), np.full(dimension, 2.0)
    return estimate @ truth / np.linalg.norm(estimate) / np.linalg.norm(truth)


def es_on_a_hill(populations=(4, 16, 64, 256, 1024), repeats=4, shown=(0, 5, 10, 20)):
    figure = Figure(figsize=(14, 4), layout="constrained")  # the climb, and the estimates
    climb, *panels = figure.subplots(1, 3)
    climb_a_hill(climb, shown)
    for axes, dimension in zip(panels, (2, 10_403)):
        for label, (shaping, sigma) in SHAPINGS.items():
            found = [[cosine_with_truth(dimension, population, shaping, sigma, seed)
                      for seed in range(repeats)] for population in populations]  # fmt: skip
            axes.plot(populations, np.mean(found, axis=1), "o-", label=label)
        axes.axhline(dimension**-0.5, color="grey", ls=":", label="a random direction, ~1/√D")
        axes.set(xscale="log", xlabel="population P", ylabel="cosine with the true gradient",
                 title=f"tell's estimate in {dimension:,} dimensions", ylim=(0, None))  # fmt: skip
        axes.legend(fontsize="small")
    return figure


# %%
# %matplotlib inline
if __name__ == "__main__" and "ipykernel" in sys.modules:  # read as a notebook
    display(es_on_a_hill())  # noqa: F821 (a notebook's own function)

# %% [markdown]
"""
In 2 dimensions a handful of candidates finds the slope almost exactly. In 10,403 the cosine
at the default population of 100 is small, about 0.07, yet seven times a random direction's:
each step climbs, a little, and more as the population P grows (as its square root, while P is
far below 10,403). Ranks point nearly as well as raw rewards, even at `sigma = 30`, where the
hill's curvature swamps each reward: that term is the same for both candidates of a pair, so
the pair's ranks still differ by the sign of the slope along its noise. (A quadratic has no
steps to smooth; on Catch a `sigma` too small changes no action.)

## Plateaus, and starting afresh

On Catch the ES has one common way to fail. A network stuck at 72 of 80 typically misses all
8 games of one fruit column, and if no small change of its weights turns one of those misses
into a catch, `R · n` carries no signal about that column: noise that changes no outcome gives
none. The cure is the one CMA-ES users know as IPOP (increasing-population restarts): when
theta's exact catch rate has not beaten its best for `patience` generations, start again from
fresh weights, drawn from `(seed, restarts)`, with a population `population_growth` times as
large (up to `max_population_size`): a fresh start lands elsewhere, and a bigger population
sees more. The settings, in one place:
"""


# %%
@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0  # seeds the network's initial weights and all the noise
    population_size: int = 100  # noisy copies of the network per generation (even: mirrored pairs)
    sigma: float = 0.1  # standard deviation of the noise added to the weights
    learning_rate: float = 0.05  # Adam's step size
    weight_decay: float = 0.3  # shrinks the weights each step, so that the noise keeps mattering
    generations: int = 1000  # stop after this many generations if not solved
    hidden_units: int = 100  # width of the network's hidden layer
    patience: int = 60  # restart when theta's catch rate has not beaten its best for this many
    population_growth: int = 2  # each restart multiplies the population by this ...
    max_population_size: int = 1600  # ... up to this many, then restarts keep the population
    log_every: int = 10  # print a progress line every this many generations


def population_of(config, restarts):  # growth**restarts times the first, in whole multiples, capped
    most = max(1, config.max_population_size // config.population_size)
    # (min(restarts, 64): growth**64 is past any cap, so no bigger power is ever computed)
    return config.population_size * min(config.population_growth ** min(restarts, 64), most)


def fresh_network(config, restarts):  # its weights drawn from the seed and the restarts so far
    # A restart's seed: a number of its own, drawn from the run's seed and the restarts so far.
    after = np.random.SeedSequence([config.seed, restarts]).generate_state(1)[0]
    keras.utils.set_random_seed(int(after) if restarts else config.seed)
    return build_policy(config.hidden_units)


# %% [markdown]
"""
## Training

The loop of the introduction's third line: ask for candidates, play their games, tell the
strategy how each did. `compile_generation` makes that **one compiled call**
(`tf.function(jit_compile=True)` hands the whole generation to XLA, which compiles it into
one program for this CPU). `theta` plays beside its candidates, so each generation also
measures its exact catch rate, and returns the `State` from before its step: when a run ends,
the step is taken back and the network kept is the one measured.
"""


# %%
def compile_generation(model):  # ask, play, tell in one call: (catches, rewards, State before)
    # (autograph=False: the Python is traced as it is written, its loops and ifs not rewritten)
    @tf.function(jit_compile=True, autograph=False)
    def generation(strategy):
        before = strategy.state()
        rewards = play_population(model, ops.concatenate([before.theta[None], strategy.ask()]))
        totals = ops.sum(rewards[1:], axis=1)  # whole numbers: ranked as the mean rewards are
        strategy.tell(totals)
        return rewards[0], totals, before

    def play_generation(strategy):  # the same, in NumPy
        own, totals, before = generation(strategy)
        return int(np.sum(own.numpy() > 0)), totals.numpy() / START_COUNT, before.numpy()

    return play_generation


def new_attempt(config, restarts, generation=0):  # a fresh network, its strategy, its generation
    model, population = fresh_network(config, restarts), population_of(config, restarts)
    settings = config.sigma, config.learning_rate, config.weight_decay, config.seed
    strategy = EvolutionStrategy(flatten_weights(model), population, *settings)
    strategy.key.assign([config.seed, generation])
    return model, strategy, compile_generation(model)


# %% [markdown]
"""
A run stops when theta catches all 80, at the generation limit, when a step leaves theta no
longer finite (a learning rate far too large), or when every candidate has scored the same for
`STUCK_AFTER` generations: the estimate is then exactly zero, and only Adam's momentum and
weight decay still move theta (try `sigma=1e-8`: the weakness at its purest). Each generation
leaves a row of history.
"""

# %%
STUCK_AFTER = 10  # generations in a row without any signal


def restarts_before(history):  # before the next generation: the last row's, +1 if it restarts
    return history[-1]["restarts"] + bool(history[-1]["event"]) if history else 0


def history_row(history, rewards, catches, population_size, clock):  # one generation's record
    games = (history[-1]["games"] if history else 0) + (population_size + 1) * START_COUNT
    return dict(generation=len(history), mean_reward=round(float(np.mean(rewards)), 6),
                min_reward=float(np.min(rewards)), max_reward=float(np.max(rewards)),
                catch_rate=catches / START_COUNT, games=games,
                seconds=round(time.perf_counter() - clock, 4), event="",
                population_size=population_size, restarts=restarts_before(history))  # fmt: skip


def stuck(history):  # every candidate scored the same for STUCK_AFTER generations: zero estimates
    last = history[-STUCK_AFTER:]
    return len(last) == STUCK_AFTER and all(row["min_reward"] == row["max_reward"] for row in last)


def plateau_event(history, config):  # "" or, if theta has plateaued in this attempt, what follows
    attempt = [row["catch_rate"] for row in history if row["restarts"] == history[-1]["restarts"]]
    recent, earlier = attempt[-config.patience :], attempt[: -config.patience]
    # A plateau: for `patience` generations, no better than its best before them.
    if not earlier or max(recent) > max(earlier):
        return ""
    population = population_of(config, history[-1]["restarts"] + 1)
    best = f"{round(max(attempt) * START_COUNT)}/{START_COUNT}"
    return (f"no better than {best} for {config.patience} generations: "
            f"restarting with fresh weights and population {population}")  # fmt: skip


# %% [markdown]
"""
`evolve` is that loop, one generation at a time: a generator that hands back the strategy,
the history and how the run stands (`""` while it goes on, then `"solved"`, `"stuck"`,
`"diverged"` or `"limit"`) after each generation, so that whoever runs it may print, save or
stop between two generations. It may carry on from an earlier run's history, and `attempt`
builds what each attempt plays with (a later part passes its own). `train` runs it and prints
its progress.
"""


# %%
def evolve(config, history=(), attempt=new_attempt):  # yields (strategy, history, status)
    history, clock = list(history), time.perf_counter() - (history[-1]["seconds"] if history else 0)
    _, strategy, play_generation = attempt(config, restarts_before(history), len(history))
    status = ""
    while not status:
        catches, rewards, before = play_generation(strategy)  # ask, play, tell: one call
        history.append(history_row(history, rewards, catches, strategy.population_size, clock))
        ended = {"solved": catches == START_COUNT, "stuck": stuck(history),
                 "diverged": not np.all(np.isfinite(strategy.theta.numpy())),
                 "limit": strategy.generation >= config.generations}  # fmt: skip
        status = next((name for name, this in ended.items() if this), "")
        if status:
            strategy.load(before)  # take back the step: keep the theta just measured
        else:
            history[-1]["event"] = plateau_event(history, config)
        yield strategy, history, status
        if history[-1]["event"]:  # a plateau: a fresh network and a bigger population
            _, strategy, play_generation = attempt(config, restarts_before(history), len(history))


# %%
def train(config):  # the whole run, printed as it goes: (the trained network, history, status)
    for strategy, history, status in evolve(config):
        row = history[-1]
        if status or row["event"] or row["generation"] % config.log_every == 0:
            # fmt: off
            print(f"generation {row['generation']:4d}  mean reward {row['mean_reward']:+.3f}  "
                  f"catches {row['catch_rate'] * START_COUNT:2.0f}/{START_COUNT}  {row['event']}")
            # fmt: on
    model = build_policy(config.hidden_units)
    set_flat_weights(model, strategy.theta)
    return model, history, status


# %% [markdown]
"""
In a notebook the next cell trains the default network, mid-read: seed 0 catches all 80
fruits after 297 generations, with two restarts on the way.
"""

# %%
if __name__ == "__main__" and "ipykernel" in sys.modules:  # read as a notebook
    model, history, status = train(Config())

# %% [markdown]
"""
## Watching the result

`replay` plays a few games and draws each step as text (`O` the fruit, `=` the basket), and
`show_games` prints each game as a strip of frames. The learning curve shows theta's catch
rate and the candidates' mean reward by generation, each restart a dotted line.
"""


# %%
def draw(state, game=0):  # one game's board as lines of text
    fruit_row, fruit_column, basket = (int(np.asarray(a)[game]) for a in state)
    board = np.full((GRID_SIZE, GRID_SIZE), ".")
    board[-1, basket - 1 : basket + 2], board[fruit_row, fruit_column] = "=", "O"
    return ["".join(row) for row in board]


def replay(model, count, seed=0):  # `count` games from starts picked by `seed`: frames, rewards
    picked = np.random.default_rng(seed).choice(START_COUNT, count, replace=False)
    states = [reset(*(starts[picked] for starts in start_states()))]
    for _ in range(GAME_LENGTH):
        next_state, rewards = step(states[-1], greedy(model)(states[-1]))
        states.append(next_state)
    return [[draw(state, game) for state in states] for game in range(count)], np.asarray(rewards)


def show_games(frames, rewards, out=None):  # each game as a strip of frames, and its verdict
    for game, reward in zip(frames, rewards):
        strip = ["  ".join(frame[line] for frame in game) for line in range(GRID_SIZE)]
        print(*strip, "caught!\n" if reward > 0 else "missed.\n", sep="\n", file=out)


# %%
def plot_learning_curve(history):  # catch rate and mean reward by generation; restarts dotted
    axes = Figure(figsize=(7, 4), layout="constrained").subplots()
    for key, name in [("catch_rate", "exact catch rate of theta"), ("mean_reward", "mean reward")]:
        axes.plot([row[key] for row in history], label=name)
    for restart in [row["generation"] for row in history if row["event"]]:
        axes.axvline(restart, color="grey", ls=":")
    axes.set(xlabel="generation", ylim=(-1.05, 1.05), title="Learning curve (restarts dotted)")
    axes.legend(loc="lower right")
    return axes.figure


# %%
if __name__ == "__main__" and "ipykernel" in sys.modules:  # read as a notebook
    show_games(*replay(model, 3))
    display(plot_learning_curve(history))  # noqa: F821

# %% [markdown]
"""
## Conclusion

A network of 10,403 weights learned to catch every fruit with no gradient, at the cost of
many more games than a gradient method plays; every one of the seeds 0 to 99 gets there
(`benchmarks/README.md` has the figures). `R · n` estimates the gradient of a
Gaussian-smoothed score; mirrored pairs and ranks make the estimate steadier; Adam and weight
decay turn it into steps that keep the noise meaningful; restarts escape plateaus where no
small change catches a missed fruit; one compiled call plays every game of a generation.

What each refinement buys on Catch, each taken away in turn on seeds 0 to 29
(`benchmarks/refinements.txt`): without mirrored pairs every seed still solves, with 2.7 times
the games; raw rewards instead of ranks, 1.3 times; without restarts 5 of the 30 seeds never
catch every fruit; plain steps of `0.05 · grad` instead of Adam solved none of the seeds tried.
Weight decay did not help here: all 30 solve without it too, with 0.86 times the games. Going
further:

* **Going faster:** Part II, next, makes a generation several times quicker, each trick tested
  to play exactly the moves of the code above.
* **ES against reinforcement learning:** `python es_vs_rl.py` trains REINFORCE beside the ES
  from the same initial weights and measures the claims made for ES.
* **A cluster:** `python scale_out.py --workers 4` plays each generation on Ray workers.
* **Other networks, other problems:** change `build_policy`, or score `EvolutionStrategy`'s
  candidates with a function of your own: the ES only ever sees a flat vector.
"""


# %% [markdown]
"""
# Part II: Going faster

The lesson ends above; what follows is for the curious and for the command. Part I plays each
generation in one compiled call, and that call is plain: every candidate runs the whole network
on every board of every step. Going faster looks at what that call repeats and does the same
work once. Each trick below keeps Part I's answer: a test (`tests/test_fast.py`) holds it to the
moves Part I's plain code plays, on random candidates and on a trained network, and its gain is
measured by `python benchmarks/benchmark.py --pieces`. On a 2-core AMD EPYC
(`benchmarks/pieces-2026-12-07-bfc.txt`, medians of 60), Part I's plain player plays theta and
100 candidates in 38 ms, the fast one in 7.6 ms: 5.0 times faster. The command takes this fast
path where it applies, a network that starts with a `Dense` layer on Part I's boards, and Part
I's plain path where it does not.

## Memory kept between calls

The first trick is not in the arithmetic. A generation's compiled call needs 34 MB of scratch
memory, 8,380 pages of 4 KB (most of it the hidden layer: 100 numbers for each board the game
can show, for each of 101 candidates). TensorFlow's default CPU allocator takes it from
`malloc`, which maps so big a block fresh from the operating system and hands it back when the
call ends, so every call the kernel finds and zeroes the same 8,380 pages again. TensorFlow's
other CPU allocator, BFC (best fit with coalescing, the one it uses on GPUs), keeps freed blocks
for the next call. `python benchmarks/benchmark.py --generation` (AMD EPYC,
`benchmarks/generation-2026-12-07.txt`) timed a run's generations at populations 100, 200 and
400: with `malloc`, 25.5, 34.0 and 48.2 ms, a fixed 17.7 ms a generation and 7.6 ms for each 100
candidates; with BFC, 10.2, 17.8 and 32.5 ms, a fixed 2.1 ms and the same 7.6 ms, and no page
fault. Telling glibc itself to keep freed memory (`MALLOC_MMAP_MAX_=0`) does as well, but only
from outside the process, before it starts, and only with glibc; BFC is TensorFlow's own choice.
It changes where the numbers are stored, never their arithmetic: seeds 0 to 4 train to the same
bits (`benchmarks/weights-0-4-2026-12-07.txt`), and a process's peak memory is about the same
(780 MB against 775 MB). The cell below chooses it when the file is imported: TensorFlow reads
the choice once, at its first allocation, which Part I's cells (only definitions, when the file
runs as a script or is imported) have not yet made. In a notebook that has already run Part I
the choice comes too late and changes nothing in that session: its generations stay slower. A
user's own `TF_CPU_ALLOCATOR_USE_BFC` wins.
"""

# %%
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")  # before TensorFlow allocates

# %% [markdown]
"""
## A table of moves

A greedy network plays the same move whenever it sees the same board, and a game moves on only
720 boards: a fruit in one of the 90 cells above the bottom row (where the game ends) times a
basket centre of 8, as many as the 80 games' 9 steps (80 × 9). So each candidate scores all
720 boards before the games begin, as one batch, and each step only looks its moves up
(`tf.gather(table, board, batch_dims=1)`: row `i` of the table, entry `board[i]`): the same
moves, with as much arithmetic, in one big product instead of nine small ones (1.5 times
faster than scoring each game's board at each step: 6.5 against 9.4 ms).

## The kernel's rows summed

A board has four lit cells out of 100, so the first layer's `board @ kernel` is the sum of
four rows of its kernel: on every board at once, the kernel's row at each fruit cell plus,
for each basket centre, its three rows on the bottom row. That skips the multiplications by 96
zeros: with the table, most of the 5.0 times. It adds the same numbers in another order, so a
score may differ in its last bit; the tests check that no move does. It needs a network that
starts with a `Dense` layer and a board that is Part I's: `fast_path_applies` checks both, on
every board, when it is asked.
"""


# %%
def count_catches(rewards):  # games won
    return int(np.sum(np.asarray(rewards) > 0))


BOARDS = (GRID_SIZE - 1) * GRID_SIZE * (GRID_SIZE - 2)  # a fruit above the bottom row, a centre


def board_of(state):  # each game's board as a number, 0 to 719: its fruit cell × 8 + centre - 1
    return (
        (state.fruit_row * GRID_SIZE + state.fruit_column) * (GRID_SIZE - 2)
        + state.basket_centre
        - 1
    )


def every_board():  # the 720 boards' states, in board_of's order
    cells, centres = np.divmod(np.arange(BOARDS, dtype="int32"), GRID_SIZE - 2)
    return CatchState(cells // GRID_SIZE, cells % GRID_SIZE, centres + 1)


def fast_path_applies(model):  # a Sequential that starts with a Dense, on Part I's boards
    if not isinstance(model, keras.Sequential) or not isinstance(
        model.layers[0], keras.layers.Dense
    ):
        return False
    state, cells = every_board(), GRID_SIZE * GRID_SIZE
    basket = (GRID_SIZE - 1) * GRID_SIZE + state.basket_centre  # as the sums below assume it
    lit = [state.fruit_row * GRID_SIZE + state.fruit_column, basket - 1, basket, basket + 1]
    assumed = sum(np.eye(cells, dtype="float32")[cell] for cell in lit)
    return np.array_equal(np.asarray(observe(state), "float32"), assumed)


# %%
def scores_of(model):  # to be compiled: one candidate's flat weights -> its scores on every board
    first, shapes = model.layers[0], [variable.shape for variable in model.trainable_variables]
    rest = model.layers[1:]  # the layers after the first, run as they are
    split = len(first.trainable_variables)  # the kernel, and the bias if it has one
    fixed = [[variable.value for variable in layer.non_trainable_variables] for layer in rest]

    def scores(flat_weights):
        weights = unflatten_weights(flat_weights, shapes)
        kernel, bottom = weights[0], (GRID_SIZE - 1) * GRID_SIZE  # the bottom row starts at 90
        fruit = kernel[:bottom, None]  # (90, 1, units): each fruit cell's row
        # (1, 8, units) each: for the centres 1 to 8, the rows of the cells left, on and right
        left, middle, right = (
            kernel[None, bottom + i : bottom + i + GRID_SIZE - 2] for i in range(3)
        )
        hidden = ops.reshape(fruit + left + middle + right, (BOARDS, -1))  # in board_of's order
        outputs, weights = (
            first.activation(hidden + weights[1] if split == 2 else hidden),
            weights[split:],
        )
        for layer, layer_fixed in zip(rest, fixed):
            count = len(layer.trainable_variables)
            outputs = layer.stateless_call(weights[:count], layer_fixed, outputs)[0]
            weights = weights[count:]
        return outputs  # (720, 3), in board_of's order

    return scores


def moves_of(model):  # ... and its move on every board
    scores = scores_of(model)
    # (tf's argmax vectorizes better than ops')
    return lambda flat_weights: tf.argmax(scores(flat_weights), axis=-1, output_type="int32")


# to be compiled: weights (P, D), starts (P, n) -> rewards
def population_games(model, game=play_games):
    if not fast_path_applies(model):  # Part I's plain way: the whole network on each step's boards
        return lambda population, *starts: game(population_policy(model, population), *starts)
    moves = moves_of(model)

    def games(population, *starts):
        # (P, 720): each candidate's move on each board
        table = ops.vectorized_map(moves, population)
        return game(lambda state: tf.gather(table, board_of(state), batch_dims=1), *starts)

    return games


@functools.cache  # made once for each count, outside compiled code, and passed in
def starts_for(candidates):  # the 80 start states, a row for each of `candidates`
    # Each row its own copy: built into the program as one shared copy, it once let the compiler
    # merge all rows' first moves into one product, which rounds differently.
    return [ops.convert_to_tensor(np.tile(states, (candidates, 1))) for states in start_states()]


# %% [markdown]
"""
## Batches: a restart compiles nothing

A compiled program has fixed shapes, so Part I compiles again for each bigger population after
a restart. `BatchedStrategy` plays a bigger population as more batches of the first one's size,
`batch`, in a loop whose count is a value, not a shape, so one program serves every
population. It asks and estimates with Part I's own `ask` and `estimate`, a batch at a time
(change those, and the fast path changes with them). Its noise offsets are drawn for the
`largest` population the run may reach and sliced, so a pair's noise is Part I's whatever the
population. **This one changes results:** each batch is ranked on its own, and the step is the
mean of the batches' estimates, where Part I ranks the whole population at once. With one batch
(every run until its first restart) the two are the same to the bit; after a restart the ranks
are coarser. On seeds 0 to 29 it cost nothing measurable: both ways solve all 30 at the same
median, 884,760 games; of the 11 seeds that restart, Part I's way needed fewer games on 5 and
more on 6 (`benchmarks/refinements.txt`, from `benchmarks/refinements.py --variants plain`).
"""


# %%
class BatchedStrategy(EvolutionStrategy):  # a population of batches of the first one's size
    def __init__(self, theta, population_size=100, sigma=0.1, learning_rate=0.05, weight_decay=0.0,
                 seed=0, shaping=centred_ranks, largest=None):  # fmt: skip
        super().__init__(theta, population_size, sigma, learning_rate, weight_decay, seed, shaping)
        self.batch, self.largest = population_size, max(largest or population_size, population_size)
        self.batches = keras.Variable(1, dtype="int32", trainable=False, name="batches")
        self.fresh_adam = tuple(variable.numpy() for variable in self.optimizer.variables)

    def noise(self, first=0, count=None):  # `count` pairs' noise from pair `first`, as Part I's
        count, size = count or self.population_size // 2, self.theta.shape[0]
        most = self.table.shape[0] - size
        offsets = tf.random.stateless_uniform([self.largest // 2], self.key, 0, most + 1, "int32")
        return ops.take(
            self.table, ops.slice(offsets, [first], [count])[:, None] + ops.arange(size)
        )

    def ask(self, first=0, count=None):  # Part I's candidates for `count` pairs from pair `first`
        return super().ask(self.noise(first, count))

    # Part I's `tell` calls this with all the rewards (at least the population's: the rest unused).
    def estimate(
        self, rewards, n=None
    ):  # Part I's estimate of each batch, ranked on its own: the mean
        def add(batch, grad):
            mine = ops.slice(rewards, [batch * self.batch], [self.batch])
            pairs = self.noise(batch * (self.batch // 2), self.batch // 2)
            return grad + EvolutionStrategy.estimate(self, mine, pairs)

        grad = ops.fori_loop(0, self.batches, add, ops.zeros_like(self.theta))
        return grad / ops.cast(self.batches, "float32")

    def load(self, state, seed=None, population_size=None):  # into the same variables
        super().load(state)  # (its generation, and the seed the strategy has unless given another)
        if seed is not None:
            self.key.assign([seed, int(state.generation)])
        self.population_size = population_size or self.population_size
        self.batches.assign(self.population_size // self.batch)


# %%
def play_here(model, game=play_games):  # Part I's compiled generation, batch by batch
    play_population = population_games(model, game)

    # traced once per strategy, whatever its population
    @tf.function(jit_compile=True, autograph=False)
    def generation(strategy, *starts):
        before, pairs = strategy.state(), strategy.batch // 2

        def play_batch(batch, found):  # a batch beside theta (row 0): theta's rewards, the totals
            candidates = ops.concatenate([before.theta[None], strategy.ask(batch * pairs, pairs)])
            rewards = play_population(candidates, *starts)
            totals = ops.sum(rewards[1:], axis=1)  # whole numbers: ranked as the means are
            return rewards[0], ops.slice_update(found[1], [batch * strategy.batch], totals)

        zeros = (ops.zeros(START_COUNT), ops.zeros(strategy.largest))
        own, totals = ops.fori_loop(0, strategy.batches, play_batch, zeros)
        strategy.tell(totals)
        return own, totals, before

    def play_generation(strategy):
        own, totals, before = generation(strategy, *starts_for(strategy.batch + 1))
        rewards = totals.numpy()[: strategy.population_size] / START_COUNT
        return count_catches(own), rewards, before.numpy()

    return play_generation


# %% [markdown]
"""
## Kept for the process

`tf.function` keeps one trace per strategy object, so `fast_attempt` keeps the strategies, one
for each set of settings that shapes a compiled generation, and their compiled generations: a
restart, or a second run in the same process (a study's next seed), loads fresh weights and a
fresh Adam into the same variables and compiles nothing: a second seed trained in the same
process took a median 1.3 s against evosax's 7.2 s (`python benchmarks/benchmark.py --peer`,
`benchmarks/peer-evosax-2026-12-07-bfc.txt`, AMD EPYC). `attempt_for` is what the command passes
to Part I's `evolve`.
"""

# %%
KEPT = {}  # by the settings that shape a compiled generation: (strategy, its compiled generation)


def largest_population(config):  # the most any run of these settings reaches (2**64 passes any cap)
    return population_of(config, 64)


# As Part I's new_attempt; `make` builds the strategy (a study may pass a variant of its own).
def fast_attempt(config, restarts, generation=0, game=play_games, make=BatchedStrategy):
    model, largest = fresh_network(config, restarts), largest_population(config)
    settings = (config.hidden_units, config.population_size, largest, config.sigma,
                config.learning_rate, config.weight_decay, game, make)  # fmt: skip
    if settings not in KEPT:
        strategy = make(flatten_weights(model), config.population_size, config.sigma,
                        config.learning_rate, config.weight_decay, largest=largest)  # fmt: skip
        KEPT[settings] = strategy, play_here(model, game)
    strategy, play_generation = KEPT[settings]
    fresh = State(flatten_weights(model), generation, strategy.fresh_adam)
    strategy.load(fresh, config.seed, population_of(config, restarts))
    return model, strategy, play_generation


def attempt_for(config):  # the fast path where it applies, else Part I's plain one
    return fast_attempt if fast_path_applies(build_policy(config.hidden_units)) else new_attempt


# %% [markdown]
"""
## Compiled once per machine

Compiling a generation takes seconds; loading a compiled one takes milliseconds. TensorFlow
can keep what XLA compiled on disk for the next run (`TF_XLA_FLAGS`). The cache folder is
named for this CPU and these versions, `~/.cache/catch_es/<fingerprint>/`, since a program
compiled for one CPU must never run on another. A cache is a speed-up and must never cost a
run more than that, so TensorFlow never writes to it: it works in a private folder of its own
(in memory, `/dev/shm`, where there is one), which starts with the cache's programs, and at
the end of the run the new ones are copied into the cache, each under a temporary name and
renamed, with their SHA-256 digests. A full disk, a read-only disk or a missing folder then
costs only that copy. The programs are native code that this process will run, so the cache
is used only in folders that belong to this user and that nobody else may write to (as `ssh`
treats `~/.ssh`), and only the files whose digests it wrote itself. `CATCH_ES_CACHE=off`: no
cache.
"""


# %%
import contextlib, gc, hashlib, json, platform, shutil, stat, tempfile
from pathlib import Path


def cache_folder(environ):  # this CPU's and these versions' folder, and the cache's root
    cpu = (
        Path("/proc/cpuinfo").read_text()
        if Path("/proc/cpuinfo").is_file()
        else platform.processor()
    )
    features = [line for line in cpu.splitlines() if line.startswith(("model name", "flags"))][
        :2
    ] or cpu
    machine = repr([features, platform.machine(), tf.__version__, keras.__version__])
    root = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "catch_es"
    return root / hashlib.sha256(machine.encode()).hexdigest()[:16], root


def private(path):  # a real folder (not a link) of this user's that nobody else may write to
    status = path.lstat()
    mine = stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid()
    return mine and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def replace_in(folder, name, write):  # a file of the cache, written under a temporary name
    temporary = folder / f".{name}.{os.getpid()}.tmp"
    try:
        write(temporary)
        os.replace(temporary, folder / name)
    finally:
        temporary.unlink(missing_ok=True)


def known_digests(folder):  # the digests this user's runs wrote (none if the list is damaged)
    try:
        known = json.loads((folder / "digests.json").read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def digests(folder):  # each compiled program's file in `folder`, and the SHA-256 of its bytes
    files = folder.glob("xla_compile_cache*.pb")
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


# %%
class CompileCache:  # the cache's folder, and TensorFlow's private one, which starts as its copy
    def __init__(self, folder, work):
        self.folder, self.work, known = folder, work, known_digests(folder)
        self.loaded = {}  # the programs copied in, whole: name -> digest
        for name, digest in digests(folder).items():
            mine = (folder / name).lstat().st_uid == os.getuid()  # (another user's file: never)
            if mine and known.get(name) == digest:
                shutil.copyfile(folder / name, work / name)
                self.loaded[name] = digest

    def kept(self, name, make):  # a file only this machine and these versions change: made once
        path = self.folder / name
        if path.is_file() and path.lstat().st_uid == os.getuid() and os.access(path, os.R_OK):
            return path.read_bytes()
        made = make()
        with contextlib.suppress(OSError):
            for older in self.folder.glob(f"{name.split('-')[0]}-*{path.suffix}"):
                older.unlink()  # (what an earlier version of the file drew)
            replace_in(self.folder, name, lambda temporary: temporary.write_bytes(made))
        return made

    def keep(self):  # at the end: the new programs into the cache, quietly, or not at all
        try:
            new = {
                name: digest
                for name, digest in digests(self.work).items()
                if name not in self.loaded
            }
            for name in new:
                replace_in(
                    self.folder,
                    name,
                    lambda path, name=name: shutil.copyfile(self.work / name, path),
                )
            if new:
                listed = json.dumps({**known_digests(self.folder), **self.loaded, **new})
                replace_in(self.folder, "digests.json", lambda path: path.write_text(listed))
        except OSError:
            pass  # a full or read-only disk: the next run compiles again, and that is all
        finally:
            shutil.rmtree(self.work, ignore_errors=True)


# %%
def use_compile_cache(environ=os.environ):  # before TensorFlow compiles: a CompileCache, or None
    folder, root = cache_folder(environ)
    if environ.get("CATCH_ES_CACHE") == "off" or "persistent_cache" in environ.get(
        "TF_XLA_FLAGS", ""
    ):
        return None  # turned off, or the user's own cache
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        for path in (root, folder):
            path.mkdir(mode=0o700, exist_ok=True)
        if not (private(root) and private(folder)):  # another user could have put a program there
            sys.stderr.write(f"{sys.argv[0]}: not using the compile cache {folder}: "
                             "others may write to it (chmod 700 it, and the folder above)\n")  # fmt: skip
            return None
        memory = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else Path(tempfile.gettempdir())
        for old in memory.glob("catch_es-compiled-*"):  # left by runs that were killed
            if not Path(f"/proc/{old.name.split('-')[2]}").exists() and private(old):
                shutil.rmtree(old, ignore_errors=True)
        work = tempfile.mkdtemp(prefix=f"catch_es-compiled-{os.getpid()}-", dir=memory)
        cache = CompileCache(folder, Path(work))
    except (OSError, ValueError, IndexError):  # no folder we can use: as if there were no cache
        return None
    flags = environ.get("TF_XLA_FLAGS", "")
    environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={work}".strip()
    return cache


# %% [markdown]
"""
TensorFlow reads each cached program first as text, then as the binary it is, and logs the
first attempt's failure as an error (`Error parsing text-format tensorflow.XlaSerializedCacheEntry`):
at `TF_CPP_MIN_LOG_LEVEL=2`, a setting many TensorFlow users keep, every run that loads a program
would print it. `cache_parse_errors_dropped` holds stderr aside while the run trains and gives
back every line but that one (and absl's notice that comes before it). At level 3 (ours, unless
the user sets another) TensorFlow prints neither; at 0 or 1 the user asked for all of it.
"""


# %%
@contextlib.contextmanager
def cache_parse_errors_dropped():
    try:
        caught = tempfile.TemporaryFile() if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "2" else None
    except OSError:  # nowhere to hold it: as it comes
        caught = None
    if caught is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(caught.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        caught.seek(0)
        noise = (
            "Error parsing text-format tensorflow.XlaSerializedCacheEntry",
            "before absl::InitializeLog()",
        )
        lines = caught.read().decode(errors="replace").splitlines(keepends=True)
        sys.stderr.write("".join(line for line in lines if not any(text in line for text in noise)))
        caught.close()


# %% [markdown]
"""
# Part III: the program

What follows makes Part I's code, with Part II's speed, the tool `python catch_es.py` is, with
no second version of anything: `main` runs Part I's `evolve` with Part II's `attempt_for`,
and between two generations saves checkpoints, hears Ctrl-C and watches the weights. A run
gets a folder of its own, resumes bit-identically, and refuses bad input in one line.
"""

# %%
import argparse, csv, fcntl, inspect, io, re, signal

NOTEBOOK = "ipykernel" in sys.modules  # read as a notebook: no command line, and no file of its own


@dataclasses.dataclass(frozen=True)
class RunConfig(Config):
    checkpoint_every: int = 25  # save a checkpoint every this many generations
    out: str = ""  # the run's folder (default: runs/seed<SEED>-<date>-<time>)
    render: bool = True  # show the trained network playing a few games in the terminal


# %% [markdown]
"""
## A folder per run

Each run gets a folder under `runs/`, as in CleanRL, never one that holds files, and holds it
with a lock on `run.lock`. Every file is written under a temporary name and renamed into
place: a rename is atomic, so a kill at any instant leaves the old file or the new, whole.
Beside the network and its history go three pictures: the learning curve, the hill climbed
with the estimates' cosines, and a GIF of the trained network catching.
"""


# %%
# make `folder` this run's: a lock on its run.lock, dropped when the process ends, however
def claim(option, folder):
    try:
        if (
            option == "--out"
            and folder.is_dir()
            and any(path.name != "run.lock" for path in folder.iterdir())
        ):
            raise ValueError(
                f"{option} {folder} already holds files; choose an empty or new folder, or --resume it"
            )
        folder.mkdir(parents=True, exist_ok=True)
        # made if need be, held read-only
        lock = os.fdopen(os.open(folder / "run.lock", os.O_CREAT | os.O_RDONLY))
        # two runs may both find it empty; one gets the lock
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ValueError(
            f"{option} {folder}: process {(folder / 'run.lock').read_text().strip()} runs in it"
        ) from None
    except OSError as error:  # a file in the way, no permission
        raise ValueError(
            f"{option} {folder}: cannot make it a run folder: {error.strerror} ({error.filename})"
        )
    (folder / "run.lock").write_text(f"{os.getpid()}\n")  # for the message a second run gets
    return lock


# %%
def write_atomically(path, write):
    # keeps the suffix, which Keras checks
    temporary = path.with_name(path.stem + ".tmp" + path.suffix)
    try:
        write(temporary)
        os.replace(temporary, path)
    except OSError as error:  # a full disk, say: name the file meant, not the temporary one
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error
    finally:  # and leave no half-written file behind
        temporary.unlink(missing_ok=True)


def save_history(history, path):  # one row per generation, as CSV
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_atomically(path, lambda path: path.write_text(text.getvalue()))


# %%
def save_gif(frames, rewards, path, cell=16):  # replay's games one after another, as an animation
    from PIL import Image  # (matplotlib's own dependency)

    colours = {".": (245, 245, 245), "O": (220, 60, 40), "=": (40, 90, 200)}
    images, durations = [], []  # each frame 120 ms, a game's last one 600 ms
    for game in frames:
        for index, frame in enumerate(game):
            pixels = np.array([[colours[c] for c in line] for line in frame], "uint8")
            images.append(Image.fromarray(pixels.repeat(cell, 0).repeat(cell, 1)))
            durations.append(600 if index == len(game) - 1 else 120)
    images[0].save(path, "GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)


# The same for every run of this file on a machine: drawn once, kept in the compile cache's
# folder under a name that this file's text decides (change the file, and it is drawn again).
def hill_picture(cache=None):
    def draw():
        picture = io.BytesIO()
        # One estimate a point, up to P = 256: 1 s (the notebook's, to 1,024 and 4 a point: 7 s)
        es_on_a_hill(populations=(4, 16, 64, 256), repeats=1).savefig(picture, format="png")
        return picture.getvalue()

    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return cache.kept(f"es_on_a_hill-{source}.png", draw) if cache else draw()


def save_run(result, folder, config, pictures=True, cache=None):
    write_atomically(folder / "policy.keras", result.model.save)
    if result.history:  # empty only if stopped before its first generation
        save_history(result.history, folder / "history.csv")
    if pictures:
        write_atomically(folder / "learning_curve.png", plot_learning_curve(result.history).savefig)
        hill = hill_picture(cache)
        write_atomically(folder / "es_on_a_hill.png", lambda path: path.write_bytes(hill))
        frames, rewards = replay(result.model, 6, config.seed)
        write_atomically(folder / "catch.gif", lambda path: save_gif(frames, rewards, path))


# %% [markdown]
"""
## Checkpoints, signals and the weights' health

A checkpoint holds the `State`, the settings and the history; the noise is a pure function of
`(seed, generation, pair)`, so a resumed run ends with bit-identical weights. `keep_going`,
run between two generations, saves one every `checkpoint_every` generations and when Ctrl-C
or SIGTERM asks the run to stop. A run whose weights stop being finite keeps the checkpoint
from before the step that overflowed.
"""


# %%
def save_checkpoint(folder, config, state, history):  # a State, the settings, the history before it
    arrays = dict(
        theta=state.theta,
        generation=state.generation,
        **{f"adam_{i}": v for i, v in enumerate(state.adam)},
    )
    settings, earlier = (
        json.dumps(dataclasses.asdict(config)),
        json.dumps(history[: int(state.generation)]),
    )
    write_atomically(
        folder / "checkpoint.npz",
        lambda path: np.savez(path, config=settings, history=earlier, **arrays),
    )


class StopSignals:  # within `with`, the first Ctrl-C or SIGTERM asks for a stop; a second one exits at once
    requested = False

    def __enter__(self):
        self.previous = {
            number: signal.signal(number, self.handle) for number in (signal.SIGINT, signal.SIGTERM)
        }
        return self

    def handle(self, number, frame):
        if self.requested:
            os._exit(128 + number)  # every file on disk is whole, thanks to write_atomically
        self.requested = number

    def __exit__(self, *exception):
        for number, handler in self.previous.items():
            signal.signal(number, handler)


# %%
def keep_going(folder, config, stop):  # between two generations: a checkpoint when due, a stop
    def between_generations(strategy, history):
        # The stop request read once: a signal landing between two reads stopped runs with no checkpoint.
        if (stopping := stop.requested) or strategy.generation % config.checkpoint_every == 0:
            save_checkpoint(folder, config, strategy.state().numpy(), history)
        return not stopping

    return between_generations


# %% [markdown]
"""
## Training, as the program runs it

`run_training` runs Part I's `evolve` with Part II's attempt (the first one loaded with a
checkpoint's `State`, when the run resumes), shows each generation with
`Progress` (on a terminal, one line rewritten in place), and asks `keep_going` between two
generations whether to go on. It returns the trained network, its history, how it ended and
the strategy's `State` (a stopped run's, after its last step; any other's, before it, so that
carrying on replays the last generation).
"""


# %%
class Progress:  # shows each row of history: on a terminal one line rewritten in place, elsewhere now and then
    def __init__(self, config, out=None, label="generation"):
        self.config, self.label, self.out = config, label, out or sys.stdout

    def __call__(self, history, done):
        row, live = history[-1], self.out.isatty()
        if row.get("event"):
            self.out.write(
                "\r\x1b[K" * live + f"{self.label} {row['generation']}: {row['event']}\n"
            )
        if live or done or row["generation"] % self.config.log_every == 0:
            earlier = history[-11] if len(history) > 10 else dict(games=0, seconds=0.0)
            speed = (row["games"] - earlier["games"]) / (row["seconds"] - earlier["seconds"])
            line = (
                f"{self.label} {row['generation']:4d}  mean reward {row['mean_reward']:+.3f}  catches "
                f"{round(row['catch_rate'] * START_COUNT):2d}/{START_COUNT}  {speed:9,.0f} games/s  {row['seconds']:6.1f} s"
            )
            # over the previous line
            bar = "#" * (20 * (row["generation"] + 1) // self.config.generations)
            self.out.write(f"\r\x1b[K[{bar:<20}] {line}" + "\n" * done if live else line + "\n")
            self.out.flush()


class TrainingResult(typing.NamedTuple):
    model: keras.Model  # with the weights last measured ("stopped": after the last step)
    history: list  # one dict per generation
    status: str  # "solved", "limit" (the generation limit), "stuck" or "stopped" (by keep_going)
    state: State  # the strategy's as it ended, in NumPy


# %%
def resuming(attempt, state):  # `attempt`, its first strategy carrying on from a checkpoint's State
    pending = [state]

    def first_carries_on(*args):
        model, strategy, play_generation = attempt(*args)
        if pending:
            strategy.load(pending.pop())
        return model, strategy, play_generation

    return first_carries_on


# %%
def run_training(config, start=None, attempt=None, keep_going=None, progress=None):
    state, history = start or (None, [])
    attempt, progress, status = (
        attempt or attempt_for(config),
        progress or Progress(config),
        "stopped",
    )
    attempt = attempt if state is None else resuming(attempt, state)
    for strategy, history, status in evolve(config, history, attempt):
        # (the check first: once a generation is shown, its checkpoint, if one is due, is on disk)
        going = bool(status) or keep_going is None or keep_going(strategy, history)
        progress(history, bool(status))
        if not going:
            status = "stopped"
            break
    model = build_policy(config.hidden_units)
    set_flat_weights(model, strategy.theta)
    return TrainingResult(model, history, status, strategy.state().numpy())


# %% [markdown]
"""
## The command line, and main

Every field of `RunConfig` becomes an option, each value checked against what it accepts;
`--resume FOLDER` carries on a run with its settings (only the limit and what is shown may
change); `--play PATH` replays a saved network. Bad input is one line, exit status 2, and
nothing written. A study passes its own settings, checks and program name. Then `main`:
`prepare` checks the command line and says what to do, a `Job`; `play_on(config)`, if given,
says where generations are played (the scaling-out study's Ray workers).
"""

# %%
INTEGER = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731 (True is no 1 here)
NUMBER = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))  # noqa: E731
ACCEPTS = {  # what each setting accepts, checked by `check` and nowhere else
    "seed": (
        lambda v: INTEGER(v) and 0 <= v < 2**31,
        "an integer from 0 to 2147483647",
    ),  # every generator's range
    **dict.fromkeys(
        ["population_size", "max_population_size"],
        (lambda v: INTEGER(v) and v >= 2 and v % 2 == 0, "an even integer >= 2"),
    ),
    **dict.fromkeys(
        ["sigma", "learning_rate"], (lambda v: NUMBER(v) and v > 0, "a finite number > 0")
    ),
    "weight_decay": (lambda v: NUMBER(v) and v >= 0, "a finite number >= 0"),
    **dict.fromkeys(
        [
            "generations",
            "hidden_units",
            "patience",
            "population_growth",
            "log_every",
            "checkpoint_every",
        ],
        (lambda v: INTEGER(v) and v >= 1, "an integer >= 1"),
    ),
    "out": (lambda v: isinstance(v, str), "a path"),
    "render": (lambda v: isinstance(v, bool), "True or False"),
}
PROG = "catch_es.py"  # how errors name the program


# %%
# `config` if every value is one `accepts` allows (a study adds its own)
def check(config, accepts=ACCEPTS):
    for field in dataclasses.fields(config):
        allows, allowed = accepts[field.name]
        if not allows(getattr(config, field.name)):
            raise ValueError(
                f"--{field.name.replace('_', '-')} must be {allowed}, got {getattr(config, field.name)!r}"
            )
    return config


def usage_error(message, prog=PROG):  # as argparse refuses: one line, exit status 2
    sys.stderr.write(f"{prog}: error: {message} (see --help)\n")
    sys.exit(2)


# %%
# each field's comment in its class's source (read as text: inspect.getsource parses it, 0.1 s)
def field_helps(cls):
    body = re.search(
        rf"^class {cls.__name__}\b.*?\n(?=\S)",
        Path(inspect.getsourcefile(cls)).read_text(),
        re.M | re.S,
    )
    # (none if the source is not where the class says, as under `python -m cProfile`)
    return dict(re.findall(r"^ +(\w+): \w+ = .*?  # (.*)$", body.group(), re.M)) if body else {}


# %%
# (settings given, --play, --resume)
def parse_args(argv=None, settings=RunConfig, accepts=ACCEPTS, prog=PROG):
    description = "Evolve a Keras network that plays Catch with an ES."
    # argument_default: only the options given, so that --resume can compare them
    parser = argparse.ArgumentParser(
        prog, description=description, argument_default=argparse.SUPPRESS
    )
    # one line and exit status 2 for argparse's own too
    parser.error = functools.partial(usage_error, prog=prog)
    # Each field's help is the comment beside it, in the classes whose source is at hand (not a notebook's).
    helps = {
        name: text
        for cls in settings.__mro__[-2::-1]
        if cls.__module__ != "__main__" or not NOTEBOOK
        for name, text in field_helps(cls).items()
    }
    for field in dataclasses.fields(settings):
        help = f"{helps.get(field.name, '')} (default: {field.default!r}; {accepts[field.name][1]})"
        kind = (
            dict(action=argparse.BooleanOptionalAction)
            if field.type is bool
            else dict(type=field.type)
        )
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            metavar=field.type.__name__.upper(),
            help=help,
            **kind,
        )
    if settings is RunConfig:  # (a study that reads its own settings here has modes of its own)
        modes = parser.add_mutually_exclusive_group()
        modes.add_argument("--play", metavar="PATH", help="replay a saved network (a .keras file)")
        modes.add_argument("--resume", metavar="FOLDER", help="carry on the run saved in FOLDER")
    given = vars(parser.parse_args(argv))
    return given, given.pop("play", None), given.pop("resume", None)


# %%
# what a resumed run may change
RESUMABLE = ("generations", "log_every", "checkpoint_every", "render")


def weights_of(config):  # the weights of the network build_policy makes: counted, never allocated
    with tf.Graph().as_default():  # (a graph's variables are described, not made, until it runs)
        return sum(
            int(np.prod(v.shape)) for v in build_policy(config.hidden_units).trainable_variables
        )


# %%
# the settings, State and history of a run folder; ValueError saying what is wrong
def load_checkpoint(folder):
    path = Path(folder) / "checkpoint.npz"
    wrong = {
        "is a file, not a run folder": Path(folder).is_file(),
        "no such folder": not Path(folder).is_dir(),
        "the folder holds no checkpoint.npz": not path.is_file(),
    }
    if any(wrong.values()):
        raise ValueError(f"--resume {folder}: {next(what for what, this in wrong.items() if this)}")
    try:
        with np.load(path, allow_pickle=False) as file:
            config = check(RunConfig(**json.loads(str(file["config"]))))
            history = json.loads(str(file["history"]))
            state = State(
                file["theta"], file["generation"], tuple(file[f"adam_{i}"] for i in range(4))
            )
    # a truncated or damaged file fails in many ways: zip, JSON, missing keys
    except Exception as error:
        raise ValueError(
            f"--resume {folder}: checkpoint.npz is damaged ({type(error).__name__}: {error})"
        )
    weights = weights_of(config)
    shapes = (state.theta.shape, state.generation.shape, *[adam.shape for adam in state.adam])
    if shapes != ((weights,), (), (), (), (weights,), (weights,)) or len(history) != int(
        state.generation
    ):
        raise ValueError(
            f"--resume {folder}: checkpoint.npz holds {state.theta.size} weights, and the network "
            f"build_policy makes with {config.hidden_units} hidden units has {weights}"
        )
    return config, state, history


# %%
def resumed_config(saved, given, played):
    for name, value in given.items():
        if name not in RESUMABLE and value != getattr(saved, name):
            raise ValueError(
                f"--{name.replace('_', '-')} {value!r} differs from the run's {getattr(saved, name)!r}; a "
                "resumed run keeps its settings, only its generation limit and what it shows may change"
            )
    config = check(
        dataclasses.replace(saved, **{name: given[name] for name in RESUMABLE if name in given})
    )
    if config.generations <= played:
        raise ValueError(
            f"--generations must be more than the {played} the run has played, got {config.generations}"
        )
    return config


# %%
def load_policy(path):  # a saved Keras model that can play Catch; ValueError saying why not
    if not Path(path).is_file():
        raise ValueError(
            f"--play {path}: "
            + (
                "is a folder, not a saved network (a .keras file)"
                if Path(path).is_dir()
                else "no such file"
            )
        )
    try:
        model = keras.models.load_model(path)
    except Exception as error:  # Keras raises many kinds, all meaning "not a model I can read"
        raise ValueError(f"--play {path}: not a Keras model ({type(error).__name__})")
    if tuple(model.input_shape) != (None, GRID_SIZE * GRID_SIZE) or tuple(model.output_shape) != (
        None,
        len(ACTIONS),
    ):
        raise ValueError(
            f"--play {path}: the model maps {model.input_shape} to {model.output_shape}, "
            f"Catch needs (None, {GRID_SIZE * GRID_SIZE}) to (None, {len(ACTIONS)})"
        )
    return model


# %%
# refuse, before any allocation, a run too big for memory
def check_memory(config, available=None, also=0.0):
    # (a restart's bigger population: batch by batch)
    weights, batch = (weights_of(config), config.population_size)
    # Peak memory measured with /usr/bin/time: about 0.8 GB for TensorFlow and the rest, plus the
    # noise table, plus about five float32 copies of a batch's candidates (and theta); six leave a margin.
    needed = max(
        0.8e9 + 4 * max(NOISE_TABLE_SIZE, 10 * weights) + 6 * 4 * (batch + 1) * weights, also
    )
    # Linux's
    meminfo = Path("/proc/meminfo").read_text().split() if Path("/proc/meminfo").is_file() else []
    if available is None:  # (where there is no MemAvailable, not checked)
        available = (
            1024 * int(meminfo[meminfo.index("MemAvailable:") + 1])
            if "MemAvailable:" in meminfo
            else np.inf
        )
    if needed > available:
        raise ValueError(
            f"--population-size {batch} and --hidden-units {config.hidden_units} ({weights:,} weights) "
            f"need about {needed / 1e9:,.1f} GB of memory; this machine has {available / 1e9:.1f} GB "
            "available"
        )


# %%
class Job(typing.NamedTuple):
    config: RunConfig
    folder: Path = None  # the run's folder, locked
    start: tuple = None  # a checkpoint's (State, history) to carry on from
    policy: tuple = None  # --play: (path, model)
    where: object = None  # where generations are played (play_on's), or None: here
    lock: object = None  # held until the job is done


# the Job the command line asks for; bad input ends here, in a line
def prepare(argv=None, play_on=None, prog=PROG):
    given, policy_path, resume = parse_args(argv, prog=prog)
    try:
        config = check(RunConfig(**given))
        if policy_path:
            return Job(config, policy=(policy_path, load_policy(policy_path)))
        folder, start = (
            Path(resume or config.out or time.strftime(f"runs/seed{config.seed}-%Y%m%d-%H%M%S")),
            None,
        )
        if resume:
            saved, *start = load_checkpoint(resume)
            config = resumed_config(saved, given, len(start[1]))
        config = dataclasses.replace(config, out=str(folder))
        check_memory(config)
        where = play_on and play_on(config)  # (before the folder is claimed: nothing written yet)
        return Job(
            config, folder, start, None, where, claim("--resume" if resume else "--out", folder)
        )
    except ValueError as error:
        usage_error(str(error), prog)


# %%
def outcome(result, config):  # the result of a run that played at least one generation, in a line
    last = result.history[-1]
    caught = f"{round(last['catch_rate'] * START_COUNT)}/{START_COUNT} fruits caught"
    if result.status == "solved":
        return (
            f"solved: all {START_COUNT} fruits caught after {last['generation']} generations, {last['games']:,} games, "
            f"{last['seconds']:.1f} s"
        )
    if result.status == "stuck":
        return (
            f"stuck: for {STUCK_AFTER} generations every candidate scored the same, so every estimate was exactly "
            f"zero; --sigma {config.sigma} is too small to change a single action ({caught})"
        )
    return f"not solved: {caught} after {config.generations} generations"


# %%
# one line that names what is kept, and exit: a full disk, a lost cluster
def stop_run(why, folder, prog, status):
    kept = (folder / "checkpoint.npz").is_file() and len(load_checkpoint(folder)[2])
    resume = f"the checkpoint of generation {kept} is whole: python {prog} --resume {folder}"
    sys.stderr.write(
        f"{prog}: stopped: {why}; {'no checkpoint is kept' if kept is False else resume}\n"
    )
    sys.exit(status)


def played_by(play_generation, config):  # Part II's attempt, its generations played elsewhere
    attempt = attempt_for(config)
    return lambda *args: attempt(*args)[:2] + (play_generation,)


# %%
def replay_saved(path, model, config):  # --play: a saved network's catch rate, and a few games
    catches = count_catches(play_games(greedy(model), *start_states()))
    print(
        f"{path} catches {catches}/{START_COUNT} fruits: exact catch rate {catches / START_COUNT:.1%}"
    )
    if config.render:
        show_games(*replay(model, 3, config.seed))


# %%
def run(job, prog, cache=None):
    config, folder = job.config, job.folder
    if job.policy:
        return replay_saved(*job.policy, config)
    with StopSignals() as stop:
        try:
            write_atomically(
                folder / "config.json", lambda path: path.write_text(json.dumps(vars(config)))
            )
            attempt = played_by(job.where, config) if job.where else attempt_for(config)
            with cache_parse_errors_dropped():
                result = run_training(config, job.start, attempt, keep_going(folder, config, stop))
            if result.status != "stopped":  # (a stopped run saved its checkpoint as it stopped)
                # Its State from before the last step: resuming replays the last generation.
                save_checkpoint(folder, config, result.state, result.history)
            if result.status == "diverged":
                raise FloatingPointError(f"theta is no longer finite after generation "
                                         f"{len(result.history) - 1}; try a smaller --learning-rate")  # fmt: skip
            if result.status != "stopped":
                print(outcome(result, config))  # the pictures take a moment: the result first
            save_run(result, folder, config, result.status != "stopped", cache)
        except FloatingPointError as error:
            stop_run(error, folder, prog, 1)
        except BrokenPipeError:  # (an OSError of the reader's, not of the disk: see run_as_script)
            raise
        except OSError as error:
            stop_run(f"cannot write {error.filename}: {error.strerror}", folder, prog, 74)
    if result.status == "stopped":
        print(
            f"\ninterrupted before generation {len(result.history)}: saved a checkpoint, the network so far and its "
            f"history to {folder}/\nresume with: python {prog} --resume {folder}"
        )
        sys.exit(128 + stop.requested)
    print(
        f"saved the trained network, its settings, history and pictures to {folder}/\n"
        f"replay it with: python catch_es.py --play {folder / 'policy.keras'}"
    )
    if config.render:
        show_games(*replay(result.model, 3, config.seed))
    return result


# %%
# %%
def main(argv=None, play_on=None, prog=PROG):
    gc.freeze()  # the libraries' objects, made at import, live as long as we do: no collection walks them
    cache = use_compile_cache()  # before TensorFlow compiles anything
    try:
        job = prepare(argv, play_on, prog)
        try:
            return run(job, prog, cache)
        finally:  # the folder is free again, even for a next run in this process
            if job.lock:
                job.lock.close()
    finally:
        if cache:
            cache.keep()  # what this run compiled, for the next run to load


# %%
# run `main`; if whoever read the output left (`| head`), stop quietly, as other tools do
def run_as_script(main):
    try:
        main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    # nobody listens
    if sys.gettrace() is None and sys.getprofile() is None and "coverage" not in sys.modules:
        sys.stdout.flush()
        os._exit(0)  # every file is written and closed: skip TensorFlow's second of teardown


if __name__ == "__main__" and not NOTEBOOK:
    run_as_script(main)
