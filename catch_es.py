# %% [markdown]
"""
# Playing Catch with Keras and an Evolution Strategy

**Description:** evolve a small Keras network that plays Catch, with no backpropagation,
by adding random noise to its weights and keeping what wins.

Run it with `python catch_es.py` (seconds on a 2-core CPU), read it top to bottom, change it;
`jupytext --to ipynb catch_es.py` makes it a notebook that trains while you read. What you read
is what the script runs. Two studies import it: `es_vs_rl.py` (ES against reinforcement
learning) and `scale_out.py` (on a Ray cluster).

## Introduction

This tutorial grows out of Eder Santana's blog post
[Playing Catch with Keras and an Evolution Strategy](https://medium.com/@edersantana/mve-series-playing-catch-with-keras-and-an-evolution-strategy-a005b75d0505)
(2018): three ways to teach a network fit in one line each, and side by side they show what
an evolution strategy (ES) is.

* **Supervised learning** has a target `y` for every input `x`. For the squared error
  `(y - f(x))²` a weight moves by `-2 (y - f(x)) · grad f(x)`: a *quality measure* (how
  wrong the output is) times a *sensitivity* (how the output changes with the weight).
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
(Salimans et al., 2017) ran it on a thousand CPUs. No backpropagation, so the network can be
anything that maps pixels to actions; every noisy copy plays on its own, so the work is
embarrassingly parallel. The price is compute, many games per step instead of one gradient,
which this tutorial pays by playing thousands of games in one compiled call.

## Setup

Keras 3 on TensorFlow, whose XLA compiler turns a whole generation into one fast call.
"""

# %%
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter
# NumPy's idle BLAS threads spin, stealing the compiled games' cores (a generation 50% slower here).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import csv
import dataclasses
import json
import fcntl
import signal
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure  # plots without a display: no pyplot, no backend to choose
from PIL import Image, ImageDraw

# TensorFlow writes lines about GPU drivers to file descriptor 2 whatever the setting: /dev/null it.
saved_stderr = os.dup(2)
os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
try:
    import keras
    import tensorflow as tf
    from keras import ops

    tf.config.list_physical_devices()  # the first look for a GPU writes one more such line
finally:
    os.dup2(saved_stderr, 2)
    os.close(saved_stderr)
NOTEBOOK = "ipykernel" in sys.modules  # read in a notebook: a few cells below show pictures and a run

# %% [markdown]
"""
## The game

A fruit falls down a 10×10 grid, one row per step, from any column of the top row. A basket
three cells wide sits on the bottom row (its centre in columns 1 to 8, so all of it is on the
grid); each step it moves left, stays or moves right. When the fruit reaches the bottom row the
game ends: +1 if the basket is under it, -1 if not, 0 for every step before. The game is
written with `keras.ops` on arrays with one entry per game, so it steps any number of games at
once and compiles together with the network. A policy maps a batch of states to actions.
"""

# %%
GRID_SIZE = 10
GAME_LENGTH = GRID_SIZE - 1  # steps until the fruit reaches the bottom row
LEFT, STAY, RIGHT = 0, 1, 2
ACTIONS = (LEFT, STAY, RIGHT)
FRUITS = GRID_SIZE * (GRID_SIZE - 2)  # 80 ways a game can start, so "80/80 fruits caught" is perfect play


class CatchState(NamedTuple):
    fruit_row: object  # int32 array, one entry per game
    fruit_column: object
    basket_centre: object


def start_states():  # the fruit column and basket centre of every start: 10 columns times 8 centres
    fruit_columns, basket_centres = np.meshgrid(np.arange(GRID_SIZE), np.arange(1, GRID_SIZE - 1), indexing="ij")
    return fruit_columns.ravel().astype("int32"), basket_centres.ravel().astype("int32")


def reset(fruit_columns, basket_centres):  # every fruit on the top row
    return CatchState(ops.zeros_like(fruit_columns), fruit_columns, basket_centres)


def step(state, actions):
    """Move every basket by its action, let every fruit fall one row, and score: (new state, rewards)."""
    basket_centre = ops.clip(state.basket_centre + actions - 1, 1, GRID_SIZE - 2)
    fruit_row = state.fruit_row + 1
    caught = ops.abs(state.fruit_column - basket_centre) <= 1
    reward = ops.where(fruit_row == GRID_SIZE - 1, ops.where(caught, 1.0, -1.0), 0.0)
    return CatchState(fruit_row, state.fruit_column, basket_centre), reward


def play(policy, fruit_columns, basket_centres):
    """Play whole games with `policy` (states -> actions); the reward of the last step is each game's score."""
    def one_step(t, game):
        state, _ = game
        return step(state, policy(state))

    start = (reset(fruit_columns, basket_centres), ops.zeros_like(fruit_columns, "float32"))
    return ops.fori_loop(0, GAME_LENGTH, one_step, start)[1]


# %% [markdown]
"""
`ops.fori_loop` is a loop that the compiler keeps as a loop. For nine steps a Python `for`,
which it unrolls, is as fast; for longer games it is not (18 steps: 190 against 17 ms). There
are only 80 start states, and a network that always picks its most likely action plays each
the same way every time, so its **exact catch rate** is how many of the 80 games it wins.

## The policy

The network sees the board, 100 pixels row by row with a 1 on the fruit and on the basket's
three cells, and scores the three actions; the highest score wins. Any Keras model with 100
inputs and 3 outputs could take its place: the evolution strategy never looks inside.
"""


# %%
def lit_cells(state):
    """The four cells that are 1 on each game's board, numbered row by row: the fruit, then the basket."""
    basket = (GRID_SIZE - 1) * GRID_SIZE + state.basket_centre
    return ops.stack([state.fruit_row * GRID_SIZE + state.fruit_column, basket - 1, basket, basket + 1], axis=-1)


def observe(state):  # the board: 100 numbers per game
    return ops.sum(ops.one_hot(lit_cells(state), GRID_SIZE * GRID_SIZE), axis=-2)


def build_policy(hidden_units=100):
    return keras.Sequential([keras.Input(shape=(GRID_SIZE * GRID_SIZE,)),
                             keras.layers.Dense(hidden_units, activation="relu"),
                             keras.layers.Dense(len(ACTIONS))])


def greedy(model):  # the policy of a model: on each board, the action with the highest score
    return lambda state: ops.cast(ops.argmax(model(observe(state)), axis=-1), "int32")


def count_catches(rewards):
    return int(np.sum(np.asarray(rewards) > 0))


# %% [markdown]
"""
## Weights as one vector

An evolution strategy sees one long vector of numbers, `theta`, and adds noise to it; these
functions go from a model's weights to that vector and back (10,403 for the default network).
"""


# %%
def flatten_weights(model):
    return np.concatenate([np.ravel(variable.numpy()) for variable in model.trainable_variables])


def unflatten_weights(flat, shapes):
    """Cut a flat vector back into arrays of the given shapes (works inside compiled code too)."""
    ends = np.cumsum([int(np.prod(shape)) for shape in shapes]).tolist()
    return [ops.reshape(flat[end - int(np.prod(shape)) : end], shape) for end, shape in zip(ends, shapes)]


def set_flat_weights(model, flat):
    shapes = [variable.shape for variable in model.trainable_variables]
    for variable, value in zip(model.trainable_variables, unflatten_weights(flat, shapes)):
        variable.assign(value)


# %% [markdown]
"""
## Playing many games at once

The blog post's code called `model.predict` once per step of one game: milliseconds of
overhead for microseconds of arithmetic, hours per run. Here one call plays *every game of
every candidate*: `model.stateless_call(weights, ...)` runs the model with weights we pass in;
`keras.ops.vectorized_map` maps one candidate's games over the population, turning the
per-candidate products into one batched product; `tf.function(jit_compile=True)` compiles it
all into one XLA program.

One more trick pays for itself. A board has only four lit cells out of 100, so the first
layer's product `board @ kernel` is the sum of four rows of its kernel. When the model
starts with a `Dense` layer, the policy looks those rows up (`tf.gather`) instead of
multiplying by 96 zeros: 25 times less arithmetic, and a generation played 3.0 times faster
(9.6 against 28.7 ms; `python benchmarks/benchmark.py --pieces` measures each trick of this
file against the plain way). Any other model runs whole on the board: the same function,
only the rounding of a sum can differ.
"""


# %%
def candidate_policy(model):  # weights -> the greedy policy of `model` with those flat weights, ready to be compiled
    shapes = [variable.shape for variable in model.trainable_variables]
    first = model.layers[0] if isinstance(model, keras.Sequential) and len(model.layers) > 1 else None
    lookup = isinstance(first, keras.layers.Dense)  # else the general road: the whole model on the whole board
    rest = keras.Sequential([keras.Input((first.units,)), *model.layers[1:]]) if lookup else model
    non_trainable = [variable.numpy() for variable in rest.non_trainable_variables]  # fixed: the ES never moves them
    split = len(first.trainable_variables) if lookup else 0  # the kernel, and the bias if it has one

    def policy(flat_weights):
        weights = unflatten_weights(flat_weights, shapes)

        def act(state):
            inputs = observe(state)
            if lookup:  # board @ kernel is the sum of the kernel's rows at the four lit cells
                hidden = ops.sum(tf.gather(weights[0], lit_cells(state)), axis=-2)
                inputs = first.activation(hidden + weights[1] if split == 2 else hidden)
            scores = rest.stateless_call(weights[split:], non_trainable, inputs)[0]
            return tf.argmax(scores, axis=-1, output_type="int32")  # ops.argmax vectorizes less well

        return act

    return policy


# %%
def population_games(model, game=play):
    """A whole population's games, to be compiled: flat weights (P, D), start states (P, 80) -> rewards (P, 80)."""
    policy = candidate_policy(model)

    def play_candidate(candidate):  # one candidate's weights, and its own copy of the start states
        return game(policy(candidate[0]), *candidate[1:])

    return lambda population, *starts: ops.vectorized_map(play_candidate, (population, *starts))


def starts_for(candidates):
    # Each candidate gets its own copy of the 80 start states, passed in at run time. Given one
    # shared constant copy, the compiler merges every candidate's first move into one product
    # whose rounding depends on the population: a score would depend on who shares the call.
    return [np.tile(states, (candidates, 1)) for states in start_states()]


def make_player(model, game=play):  # one compiled call: flat weights (P, D) -> rewards (P, 80) of `game`, as NumPy
    play_population = tf.function(population_games(model, game), jit_compile=True)
    return lambda population: play_population(population, *starts_for(len(population))).numpy()


# %% [markdown]
"""
`game` is `play` unless a study passes a longer one. Candidates never talk to each other, so
they are all computed side by side: the "embarrassingly parallel" of ES made concrete.

## The evolution strategy

Here is the heart of it, for any function of a flat vector, in the ask/tell style of pycma,
estool and evosax: `ask()` hands out candidates, you score them any way you like,
`tell(rewards)` moves `theta`. The noise comes from OpenAI's trick, a **shared noise table**:
one block of 4 million Gaussian numbers, the same for every run, each pair's noise a slice of
it at an offset drawn from `key = (seed, generation)` by TensorFlow's stateless generator. So
the noise of candidate `i` in generation `g` is a pure function of `(seed, g, i)`: `tell`
looks it up again instead of keeping it, a run can be replayed exactly, and workers on other
machines rebuild any candidate from a few integers. Everything is `keras.ops`, so that ask and
tell compile together with the games (Training, below).
"""

# %%
NOISE_TABLE_SIZE = 2**22  # 4 million floats, 16 MB, made in about 0.1 s


def noise_table(dimension):
    """One block of Gaussian noise, the same for every run: each candidate's noise is a slice of it."""
    return np.random.default_rng(0).standard_normal(max(NOISE_TABLE_SIZE, 10 * dimension), dtype="float32")


def pair_noise(table, key, pairs, dimension):
    """The noise n of each mirrored pair in `pairs` (a range) of a generation; `key` is (seed, generation)."""
    starts = tf.random.stateless_uniform([pairs.stop], key, 0, table.shape[0] - dimension + 1, tf.int32)
    return ops.take(table, starts[pairs.start :, None] + ops.arange(dimension))  # one row per pair


def mirrored(theta, sigma, noise):
    """The candidates theta + sigma·n and theta - sigma·n for each row n of `noise`, pair after pair."""
    return ops.reshape(ops.stack([theta + sigma * noise, theta - sigma * noise], axis=1), (-1, noise.shape[-1]))


# %% [markdown]
"""
The update is the blog's `grad ≈ R · n`, with four refinements, each a line or two:

* **Mirrored noise.** Candidates come in pairs `theta + sigma·n` and `theta - sigma·n`,
  which cancel whatever does not depend on the reward: half the noise in the estimate, free.
* **Centred ranks.** The rewards become their ranks, scaled to -0.5 … 0.5. One lucky
  candidate can no longer swamp the step, the step size no longer depends on the reward's
  scale, and when every candidate scores the same all ranks tie, so the step is exactly zero
  (the blog's code divided by the rewards' spread, zero then). Non-finite rewards rank worst.
* **Adam.** Keras's Adam adapts the step size per weight, exactly as it would for a
  backpropagated gradient.
* **Weight decay.** Adam turns even a noisy estimate into full-size steps, so the weights
  keep growing, until the network's choices are so firm that noise of size `sigma` changes
  no action: every candidate then plays alike and learning stalls. Adam's decoupled weight
  decay shrinks the weights a little each step and keeps the noise meaningful.
"""


# %%
def centred_ranks(rewards):
    """Ranks scaled to [-0.5, 0.5]; ties share their mean rank; NaN and ±inf rank worst."""
    rewards = ops.where(ops.isfinite(rewards), rewards, -np.inf)[:, None]
    below, ties = (ops.sum(ops.cast(compare(rewards, ops.transpose(rewards)), "float32"), axis=1)
                   for compare in (ops.greater, ops.equal))  # how many are smaller than each, how many equal
    return (below + (ties - 1) / 2) / max(rewards.shape[0] - 1, 1) - 0.5


class EvolutionStrategy:
    def __init__(self, theta, population_size=100, sigma=0.1, learning_rate=0.05, weight_decay=0.0, seed=0):
        self.population_size, self.sigma, self.table = population_size, sigma, ops.array(noise_table(len(theta)))
        self.variable = keras.Variable(np.asarray(theta, dtype="float32"), name="theta")
        self.key = keras.Variable([seed, 0], dtype="int32", trainable=False, name="seed_and_generation")
        self.optimizer = keras.optimizers.Adam(learning_rate, weight_decay=weight_decay or None)
        self.optimizer.build([self.variable])  # Adam's state must exist before its step is compiled
        self.fresh = [variable.numpy() for variable in self.optimizer.variables]  # Adam before any step

    theta = property(lambda self: self.variable.numpy())
    generation = property(lambda self: int(self.key[1]), lambda self, number: self.key.assign([self.key[0], number]))

    def noise(self, pairs=None):
        """This generation's noise n, one row per mirrored pair (of `pairs`, a range, or all)."""
        pairs = pairs or range(self.population_size // 2)
        return pair_noise(self.table, self.key, pairs, self.variable.shape[0])

    def ask(self, pairs=None):
        """Candidates theta + sigma·n and theta - sigma·n, pair after pair: +n0, -n0, +n1, -n1, ..."""
        return mirrored(self.variable, self.sigma, self.noise(pairs))

    def tell(self, rewards):
        advantages = centred_ranks(ops.reshape(ops.cast(rewards, "float32"), [self.population_size]))
        # grad ≈ R · n: each candidate's noise, weighted by how well it did, summed over the
        # population. Pair k played +n_k and -n_k, so together they add (R_2k - R_2k+1) · n_k.
        gradient = ops.matmul(advantages[0::2] - advantages[1::2], self.noise()) / (self.population_size * self.sigma)
        self.optimizer.apply([-gradient], [self.variable])  # Adam descends: minus the gradient
        self.key.assign_add([0, 1])  # the next generation
        return gradient

    def state(self):  # all the next generations depend on: theta, the generation, Adam's state
        return [self.variable, self.key[1], *self.optimizer.variables]

    def load(self, state, seed=None):  # into the same variables, so that what was compiled for them stays
        self.key.assign([self.key[0] if seed is None else seed, int(state[1])])
        for variable, value in zip([self.variable, *self.optimizer.variables], [state[0], *state[2:]]):
            variable.assign(value)


# %% [markdown]
"""
### A picture first: the ES on a hill in two dimensions

Before it moves 10,403 weights, watch it move two, drawn as in hardmaru's
[A Visual Guide to Evolution Strategies](https://blog.otoro.net/2017/10/29/visual-evolution-strategies/):
per generation, the candidates (dots) scatter around `theta` (the cross), the better half
pulls `theta` their way, and the cloud walks up a hill whose top is at (1, 1). (The script
draws it into its run folder, `es_on_a_hill.png`.)
"""


# %%
def es_on_a_hill(shown=(0, 4, 8, 12, 20), seed=0):
    """A figure of the ES climbing -|x - (1, 1)|² in 2-D: one panel per generation in `shown`."""
    height = lambda points: -np.sum((points - 1.0) ** 2, axis=-1)  # noqa: E731

    strategy = EvolutionStrategy([-1.5, -1.5], population_size=20, sigma=0.4, learning_rate=0.15, seed=seed)
    grid = np.stack(np.meshgrid(np.linspace(-2.5, 2.5, 101), np.linspace(-2.5, 2.5, 101)), axis=-1)
    figure = Figure(figsize=(2.6 * len(shown), 2.9), layout="constrained")
    panels = iter(figure.subplots(1, len(shown), sharey=True, subplot_kw=dict(aspect="equal")))
    for generation in range(max(shown) + 1):
        candidates = ops.convert_to_numpy(strategy.ask())
        if generation in shown:
            axes = next(panels)
            axes.contourf(grid[..., 0], grid[..., 1], height(grid), levels=15, cmap="Greys_r")
            axes.scatter(*candidates.T, s=8, color="tab:orange", label="candidates theta ± sigma·n")
            axes.scatter(*strategy.theta, marker="x", s=80, color="tab:blue", label="theta")
            axes.set(title=f"generation {generation}", xlabel="weight 1", ylabel="weight 2" * (not generation))
        strategy.tell(height(candidates))
    figure.suptitle("The ES climbing a hill whose top is at (1, 1); lighter is higher")
    figure.legend(*figure.axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return figure


# %%
# %matplotlib inline
if __name__ == "__main__" and NOTEBOOK:
    display(es_on_a_hill())  # noqa: F821 (a notebook's own function)

# %% [markdown]
"""
## Plateaus, and starting afresh

On Catch the ES has one way to fail. A network stuck at 72 of 80 misses all 8 games of one
fruit column, and no small change of its weights turns one of those misses into a catch: every
candidate misses the same games, and `R · n` carries no signal about that column: the weakness
named by notes that compare ES with RL (noise that changes no outcome gives no signal).

The cure is the one CMA-ES users know as IPOP: when the exact catch rate of `theta` has not
beaten its best for `patience` generations, start again from fresh weights with a population
`population_growth` times as large (up to `max_population_size`). A fresh start lands
elsewhere, and a bigger population sees more directions at once. Generations until 80/80 on
the seeds 0 to 99 (`python benchmarks/sweep.py SETTINGS 0-99`, before a generation became one
compiled call, which changed the noise and the rounding; today's defaults: the README):

| settings | solved | median | 90th percentile | most |
|---|---|---|---|---|
| no restarts (`patience=1000`) | 83 of 100 | 186.5 | never | never (17 seeds stay at 56 to 77 of 80) |
| restart after 100 generations, population doubled | 100 of 100 | 169 | 367 | 523 |
| restart after 60 generations, same population (`population_growth=1`) | 100 of 100 | 156 | 458 | 949 |
| **restart after 60 generations, population doubled (the defaults)** | 100 of 100 | 144 | 270 | 592 |
"""


# %%
def plateaued(catch_rates, patience):
    """Has theta caught no more fruits than its best for `patience` generations (of this attempt)?"""
    return len(catch_rates) > patience and max(catch_rates[-patience:]) <= max(catch_rates[:-patience])


# %% [markdown]
"""
## Settings

Every setting, now that each is explained, in one frozen dataclass; the command line at the
end of the file is built from it.
"""


# %%
@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0  # seeds the network's initial weights and all the noise
    population_size: int = 100  # noisy copies of the network per generation (even: mirrored pairs)
    sigma: float = 0.1  # standard deviation of the noise added to the weights
    learning_rate: float = 0.05  # Adam's step size
    weight_decay: float = 0.3  # shrinks the weights a little each step, so that the noise keeps mattering
    generations: int = 1000  # stop after this many generations if not solved
    hidden_units: int = 100  # width of the network's hidden layer
    patience: int = 60  # restart when theta's catch rate has not beaten its best for this many generations
    population_growth: int = 2  # each restart multiplies the population by this ...
    max_population_size: int = 1600  # ... up to this many, then restarts keep the population
    log_every: int = 10  # print a progress line every this many generations
    checkpoint_every: int = 25  # save a checkpoint every this many generations
    out: str = ""  # the run's folder (default: runs/seed<SEED>-<date>-<time>)
    render: bool = True  # show the trained network playing a few games in the terminal


# %% [markdown]
"""
The attempt after `k` restarts draws its weights from `(seed, k)`: as reproducible as the first.
"""


# %%
def population_of(config, restarts):
    """The population after `restarts` restarts: population_growth**restarts times the first, up to the cap."""
    return min(config.population_size * config.population_growth**restarts,
               max(config.population_size, config.max_population_size))


def new_strategy(config, restarts=0, generation=0, strategies=None):
    """The model and strategy of the attempt after `restarts` restarts: fresh weights from (seed, restarts)."""
    seed = config.seed if restarts == 0 else int(np.random.SeedSequence([config.seed, restarts]).generate_state(1)[0])
    keras.utils.set_random_seed(seed)  # the initial weights
    model, population = build_policy(config.hidden_units), population_of(config, restarts)
    strategies = {} if strategies is None else strategies  # one per population, kept: what is compiled for it stays
    if population not in strategies:
        strategies[population] = EvolutionStrategy(flatten_weights(model), population, config.sigma,
                                                   config.learning_rate, config.weight_decay)
    strategies[population].load([flatten_weights(model), generation, *strategies[population].fresh], config.seed)
    return model, strategies[population]  # with fresh weights and a fresh Adam


# %% [markdown]
"""
## Progress

Each generation leaves a row of history (rewards, theta's exact catch rate, games, seconds, a
restart announced, population, restarts before). `Progress` shows it: on a terminal one line
rewritten in place, elsewhere a line every `log_every` generations. (Keras's `Progbar` cannot
serve a log: it rewrites its line in any process that has loaded `posix`.)
"""


# %%
class Progress:
    def __init__(self, config, out=None, label="generation"):
        self.every, self.generations, self.out = config.log_every, config.generations, out or sys.stdout
        self.live, self.label = self.out.isatty(), label

    def __call__(self, history, done):
        row = history[-1]
        if row.get("event"):
            self.out.write(("\r\x1b[K" if self.live else "") + f"{self.label} {row['generation']}: {row['event']}\n")
        if not (self.live or done or row["generation"] % self.every == 0):
            return
        earlier = history[-11] if len(history) > 10 else dict(games=0, seconds=0.0)
        speed = (row["games"] - earlier["games"]) / (row["seconds"] - earlier["seconds"])
        line = (f"{self.label} {row['generation']:4d}  mean reward {row['mean_reward']:+.3f}  "
                f"catches {round(row['catch_rate'] * FRUITS):2d}/{FRUITS}  {speed:9,.0f} games/s  "
                f"{row['seconds']:6.1f} s")
        bar = "#" * (20 * (row["generation"] + 1) // self.generations)  # on a terminal, over the previous line
        self.out.write(f"\r\x1b[K[{bar:<20}] {line}" + "\n" * done if self.live else line + "\n")
        self.out.flush()


# %% [markdown]
"""
## Never losing a run: checkpoints

A checkpoint holds all the rest of a run depends on: theta, Adam's state, the generation, the
settings and the history. The noise is a pure function of `(seed, generation, pair)` and the
game draws nothing at random, so a resumed run ends with bit-identical weights. Every file is
written under a temporary name and renamed over the old one: a rename is atomic, so a kill at
any instant leaves the old file or the new one, never half of one.
"""


# %%
def write_atomically(path, write):
    temporary = path.with_name(path.stem + ".tmp" + path.suffix)  # keeps the suffix, which Keras checks
    try:
        write(temporary)
        os.replace(temporary, path)
    except OSError as error:  # a full disk, say: name the file meant, not the temporary one
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error
    finally:  # and leave no half-written file behind
        temporary.unlink(missing_ok=True)


def save_checkpoint(folder, config, strategy, history):
    """Save all the next generations depend on (theta, the generation, Adam's state), with the history so far."""
    arrays = {f"state_{index}": np.asarray(value) for index, value in enumerate(strategy.state())}
    settings, earlier = json.dumps(dataclasses.asdict(config)), json.dumps(history[: strategy.generation])
    write_atomically(folder / "checkpoint.npz", lambda path: np.savez(path, config=settings, history=earlier, **arrays))


class StopSignals:
    """Within `with`, the first Ctrl-C or SIGTERM asks to stop after the generation; a second one exits at once."""
    requested = False

    def __enter__(self):
        self.previous = {number: signal.signal(number, self.handle) for number in (signal.SIGINT, signal.SIGTERM)}
        return self

    def handle(self, number, frame):
        if self.requested:
            os._exit(128 + number)  # every file on disk is whole, thanks to write_atomically
        self.requested = number

    def __exit__(self, *exception):
        for number, handler in self.previous.items():
            signal.signal(number, handler)


# %% [markdown]
"""
## Training

The loop the introduction promised: ask for candidates, play their games, tell the strategy
how each did, as **one compiled call** (`play_here`): `theta` and Adam's state stay in
TensorFlow's variables between calls, and `theta` plays beside its candidates, so each
generation also measures its exact catch rate. Each strategy is compiled once: `new_strategy`
keeps one per population, and a restart loads fresh weights into it. Once a run is done, its
last step is taken back, so that the network kept is the one just measured. Around the loop:
restarts, checkpoints, and an early stop when every candidate has scored the same for
`STUCK_AFTER` generations: every step is then exactly zero (the weakness at its purest:
`--sigma 1e-8`).
"""


# %%
STUCK_AFTER = 10  # generations in a row without any signal


class TrainingResult(NamedTuple):
    model: keras.Model
    history: list  # one dict per generation
    status: str  # "solved", "limit" (the generation limit), "stuck" or "interrupted"


def play_here(model, game=play):
    """A generation in one compiled call: theta's catches, the candidates' mean rewards, the state before."""
    play_population = population_games(model, game)

    @tf.function(jit_compile=True)  # traced once per strategy: `new_strategy` keeps them, restarts reuse them
    def generation(strategy, *starts):
        before = [ops.copy(value) for value in strategy.state()]  # read before `tell` moves them
        rewards = play_population(ops.concatenate([before[0][None], strategy.ask()]), *starts)  # row 0: theta
        totals = ops.sum(rewards[1:], axis=1)  # whole numbers, exact in any order: ranked as the means are
        strategy.tell(totals)
        return rewards[0], totals, before

    def play_generation(strategy):
        own, totals, before = generation(strategy, *starts_for(strategy.population_size + 1))
        return count_catches(own), totals.numpy() / FRUITS, [value.numpy() for value in before]

    return play_generation


def restarts_before(history):
    """How many restarts came before the next generation: the newest row's, and one if it announced one."""
    return history[-1]["restarts"] + bool(history[-1]["event"]) if history else 0


def history_row(history, generation, rewards, catches, population_size, start):
    """One generation's record: its rewards, theta's exact catch rate, games and seconds so far, its attempt."""
    return dict(generation=generation, mean_reward=round(float(np.mean(rewards)), 6), min_reward=float(np.min(rewards)),
                max_reward=float(np.max(rewards)), catch_rate=catches / FRUITS,
                games=(history[-1]["games"] if history else 0) + (population_size + 1) * FRUITS,
                seconds=round(time.perf_counter() - start, 4), event="", population_size=population_size,
                restarts=restarts_before(history))


def stuck(history):
    """Did every candidate score the same for STUCK_AFTER generations? Then every step was exactly zero."""
    return len(history) >= STUCK_AFTER and all(row["min_reward"] == row["max_reward"] for row in history[-STUCK_AFTER:])


def plateau_event(history, config):
    """"" or, when theta has plateaued in this attempt, what the restart that follows will do."""
    attempt = [row["catch_rate"] for row in history if row["restarts"] == history[-1]["restarts"]]
    if not plateaued(attempt, config.patience):
        return ""
    return (f"no better than {round(max(attempt) * FRUITS)}/{FRUITS} for {config.patience} generations: "
            f"restarting with fresh weights and population {population_of(config, history[-1]['restarts'] + 1)}")


# %%
def train(config, progress=None, folder=None, resume=None, stop=None, play_generation=None, strategies=None):
    """Train until solved, stuck, the limit or `stop`, checkpointing into `folder`, from `resume`'s (state, history).

    `play_generation` plays a generation elsewhere (the scaling-out study's Ray workers); `strategies` (as
    `new_strategy` keeps them) are an earlier run's, with what was compiled for them."""
    progress, strategies = progress or Progress(config), {} if strategies is None else strategies
    state, history = resume or (None, [])
    history, status = list(history), "limit"
    model, strategy = new_strategy(config, restarts_before(history), strategies=strategies)
    play_generation = play_generation or play_here(model)
    if state is not None:  # a checkpoint's: theta, the generation, Adam's state
        strategy.load(state)
    start = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    for generation in range(strategy.generation, config.generations):
        status = "interrupted" if stop and stop.requested else status
        if folder and (status == "interrupted" or generation % config.checkpoint_every == 0):
            save_checkpoint(folder, config, strategy, history)
        if status == "interrupted":
            break
        catches, rewards, before = play_generation(strategy)  # ask, play, tell
        history.append(history_row(history, generation, rewards, catches, strategy.population_size, start))
        status = "solved" if catches == FRUITS else "stuck" if stuck(history) else "limit"
        done = status != "limit" or generation == config.generations - 1
        history[-1]["event"] = "" if done else plateau_event(history, config)
        progress(history, done)
        if done:  # take back the step: the theta returned is the one just measured, and a resume replays it
            strategy.load(before)
            break
        if not np.all(np.isfinite(strategy.theta)):
            raise FloatingPointError(f"theta is no longer finite after generation {generation}; "
                                     "try a smaller --learning-rate")
        if history[-1]["event"]:  # a plateau: start afresh
            _, strategy = new_strategy(config, restarts_before(history), strategy.generation, strategies)
    if folder and status != "interrupted":
        save_checkpoint(folder, config, strategy, history)  # resuming replays the last generation
    set_flat_weights(model, strategy.theta)
    return TrainingResult(model, history, status)


# %% [markdown]
"""
In a notebook the next cell trains the default network, mid-read (the script runs `train` from
`main`): seed 0 catches all 80 fruits after 296 generations, two restarts on the way.
"""

# %%
if __name__ == "__main__" and NOTEBOOK:
    result = train(Config())

# %% [markdown]
"""
## Watching the result

`replay` plays a few games and draws each step as text (`O` the fruit, `=` the basket);
`show_games` prints each game as a strip of frames, or on a terminal plays it in place.
"""


# %%
def draw(state, game=0):  # one game's board as lines of text
    fruit_row, fruit_column, basket = (int(np.asarray(a)[game]) for a in state)
    board = [["."] * GRID_SIZE for _ in range(GRID_SIZE)]
    board[GRID_SIZE - 1][basket - 1 : basket + 2] = ["="] * 3
    board[fruit_row][fruit_column] = "O"
    return ["".join(row) for row in board]


def replay(model, count, seed=0):
    """Play `count` games from start states picked by `seed`, step by step: per game its frames, and the rewards."""
    policy, picked = greedy(model), np.random.default_rng(seed).choice(FRUITS, count, replace=False)
    state = reset(*(states[picked] for states in start_states()))
    frames = [[draw(state, game)] for game in range(count)]
    for _ in range(GAME_LENGTH):
        state, reward = step(state, policy(state))
        for game, game_frames in enumerate(frames):
            game_frames.append(draw(state, game))
    return frames, np.asarray(reward)


def show_games(frames, rewards, out=None, seconds=1.0):
    """Each game as a strip of frames, left to right; on a terminal, animated in place, `seconds` per game."""
    out = out or sys.stdout
    for game_frames, reward in zip(frames, rewards):
        if not out.isatty():
            out.write("".join("  ".join(frame[line] for frame in game_frames) + "\n" for line in range(GRID_SIZE)))
        for index, frame in enumerate(game_frames if out.isatty() else []):
            out.write(f"\x1b[{GRID_SIZE}A" * bool(index) + "\n".join(frame) + "\n")  # back up over the last frame
            out.flush()
            time.sleep(seconds / len(game_frames))
        out.write(("caught!" if reward > 0 else "missed.") + "\n\n")


# %% [markdown]
"""
## Pictures

The learning curve: catch rate and mean reward against generations and wall time (dotted: the
compiling). The GIF, as in the blog post: six games, each frame of `replay` drawn as coloured
squares, a green (caught) or red (missed) border on each game's last frame.
"""


# %%
def plot_learning_curve(history):
    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, (x, label) in zip(figure.subplots(1, 2, sharey=True), [("generation", "generation"),
                                                                     ("seconds", "wall time (s)")]):
        for y, name in [("catch_rate", "exact catch rate of theta"), ("mean_reward", "mean reward of the candidates")]:
            line, = axes.plot([row[x] for row in history], [row[y] for row in history], label=name)
            if x == "seconds":  # from 0 to the first point: compiling, before the first measurement
                axes.plot([0, history[0][x]], [history[0][y]] * 2, ":", color=line.get_color(),
                          label=f"{name}: compiling, before the first measurement")
        axes.set(xlabel=label, ylim=(-1.05, 1.05))
        axes.grid(alpha=0.3)
    figure.axes[0].set_ylabel("catch rate (0 to 1) and mean reward (-1 to 1)")
    figure.suptitle("Learning curve of the evolution strategy")
    axes.legend(loc="lower right", fontsize="small")
    return figure


# A GIF holds at most 256 colours; giving it our own few spares Pillow choosing them per frame.
PALETTE = {"white": (255, 255, 255), ".": (235, 235, 235), "O": (230, 120, 20), "=": (40, 70, 160),
           "caught": (30, 170, 60), "missed": (210, 40, 40)}
COLOUR = {name: index for index, name in enumerate(PALETTE)}


def frame_image(frame, cell=32, border=None):
    image = Image.new("P", (GRID_SIZE * cell, GRID_SIZE * cell), COLOUR["white"])
    image.putpalette([value for rgb in PALETTE.values() for value in rgb])
    pen = ImageDraw.Draw(image)
    for row, line in enumerate(frame):
        for column, char in enumerate(line):
            pen.rectangle([column * cell + 1, row * cell + 1, (column + 1) * cell - 2, (row + 1) * cell - 2],
                          fill=COLOUR[char])
    if border:
        pen.rectangle([0, 0, image.width - 1, image.height - 1], outline=COLOUR[border], width=cell // 5)
    return image


def save_gif(frames, rewards, path, delay=150):  # milliseconds per frame
    images, durations = [], []
    for game_frames, reward in zip(frames, rewards):
        images += [frame_image(frame) for frame in game_frames[:-1]]
        images.append(frame_image(game_frames[-1], border="caught" if reward > 0 else "missed"))
        durations += [delay] * (len(game_frames) - 1) + [delay * 6]  # hold the verdict a moment
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)


# %%
if __name__ == "__main__" and NOTEBOOK:
    show_games(*replay(result.model, 3)), display(plot_learning_curve(result.history))  # noqa: F821 (a notebook's)

# %% [markdown]
"""
## A folder per run

Each run gets a folder under `runs/`, as in CleanRL, named after its seed and start time,
never one that holds files, and holds it with a lock on `run.lock`.
"""


# %%
def claim(option, folder):
    """Make `folder` this run's: a lock on its run.lock, which the system drops when the process ends, however."""
    try:
        if option == "--out" and folder.is_dir() and any(path.name != "run.lock" for path in folder.iterdir()):
            raise ValueError(f"{option} {folder} already holds files; choose an empty or new folder, or --resume it")
        folder.mkdir(parents=True, exist_ok=True)
        lock = os.fdopen(os.open(folder / "run.lock", os.O_CREAT | os.O_RDONLY))  # made if need be, held read-only
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # two runs may both find it empty; one gets the lock
    except BlockingIOError:
        raise ValueError(f"{option} {folder}: process {(folder / 'run.lock').read_text().strip()} runs in it") from None
    except OSError as error:  # a file in the way, no permission
        raise ValueError(f"{option} {folder}: cannot make it a run folder: {error.strerror} ({error.filename})")
    (folder / "run.lock").write_text(f"{os.getpid()}\n")  # for the message a second run gets
    return lock


def save_history(history, path):
    def write(path):
        with open(path, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)

    write_atomically(path, write)


def save_run(result, folder, config, pictures=True):
    write_atomically(folder / "policy.keras", result.model.save)
    if result.history:  # empty only if stopped before its first generation
        save_history(result.history, folder / "history.csv")
    if pictures:
        write_atomically(folder / "learning_curve.png", plot_learning_curve(result.history).savefig)
        write_atomically(folder / "es_on_a_hill.png", es_on_a_hill().savefig)
        frames, rewards = replay(result.model, 6, config.seed)
        write_atomically(folder / "catch.gif", lambda path: save_gif(frames, rewards, path))


# %% [markdown]
"""
## The command line

Every field of `Config` becomes an option, each value checked against what it really accepts.
`--resume FOLDER` carries on a run from its checkpoint with the same settings (only the limit
and what is shown may change); `--play PATH` measures a saved network and replays a few games.
Bad input (a setting out of range, a folder with no checkpoint, a file that is no Keras model,
a run too big for the memory) is one line, exit status 2, and nothing written.
"""

# %%
import argparse
import inspect

INTEGER = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731 (True is no 1 here)
NUMBER = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))  # noqa: E731
ACCEPTS = {  # what each setting accepts, checked by `check` and nowhere else
    "seed": (lambda v: INTEGER(v) and 0 <= v < 2**31, "an integer from 0 to 2147483647"),  # every generator's range
    **dict.fromkeys(["population_size", "max_population_size"],
                    (lambda v: INTEGER(v) and v >= 2 and v % 2 == 0, "an even integer >= 2")),
    **dict.fromkeys(["sigma", "learning_rate"], (lambda v: NUMBER(v) and v > 0, "a finite number > 0")),
    "weight_decay": (lambda v: NUMBER(v) and v >= 0, "a finite number >= 0"),
    **dict.fromkeys(["generations", "hidden_units", "patience", "population_growth", "log_every", "checkpoint_every"],
                    (lambda v: INTEGER(v) and v >= 1, "an integer >= 1")),
    "out": (lambda v: isinstance(v, str), "a path"), "render": (lambda v: isinstance(v, bool), "True or False"),
}


def check(config):
    """Return `config` if every value is one it accepts (a study adds its settings to ACCEPTS); else ValueError."""
    for field in dataclasses.fields(config):
        accepts, allowed = ACCEPTS[field.name]
        if not accepts(getattr(config, field.name)):
            raise ValueError(f"--{field.name.replace('_', '-')} must be {allowed}, got {getattr(config, field.name)!r}")
    return config


# %%
PROG = "catch_es.py"  # how errors name the program; a study that runs `main` names itself


def usage_error(message):  # as argparse refuses: one line, exit status 2
    sys.stderr.write(f"{PROG}: error: {message} (see --help)\n")
    sys.exit(2)


def parse_args(argv=None, settings=Config):
    """The command line: (the settings given, --play path or None, --resume folder or None)."""
    parser = argparse.ArgumentParser(prog=PROG, description="Evolve a Keras network that plays Catch with an ES.",
                                     argument_default=argparse.SUPPRESS)  # only the options given
    parser.error = usage_error  # one line and exit status 2 for argparse's own refusals too
    # Each field's help is the comment beside it, in the classes whose source is at hand (not a notebook's).
    source = "".join(inspect.getsource(kind) for kind in settings.__mro__[:-1] if kind.__module__ != "__main__" or
                     not NOTEBOOK).splitlines()
    helps = {line.split(":")[0].strip(): line.split("#", 1)[1].strip() for line in source if "  # " in line}
    for field in dataclasses.fields(settings):
        option, allowed = "--" + field.name.replace("_", "-"), ACCEPTS[field.name][1]
        help = f"{helps.get(field.name, '')} (default: {field.default!r}; {allowed})"
        if field.type is bool:
            parser.add_argument(option, action=argparse.BooleanOptionalAction, help=help)
        else:
            parser.add_argument(option, type=field.type, metavar=field.type.__name__.upper(), help=help)
    if settings is Config:  # (a study that reads its own settings here has modes of its own)
        modes = parser.add_mutually_exclusive_group()
        modes.add_argument("--play", metavar="PATH", help="replay a saved policy (a .keras file) instead of training")
        modes.add_argument("--resume", metavar="FOLDER", help="carry on the run saved in FOLDER from its checkpoint")
    given = vars(parser.parse_args(argv))
    return given, given.pop("play", None), given.pop("resume", None)


# %%
RESUMABLE = ("generations", "log_every", "checkpoint_every", "render")  # what a resumed run may change


def load_checkpoint(folder):
    """The settings, strategy state and history of a run folder; ValueError saying what is wrong."""
    path = Path(folder) / "checkpoint.npz"
    for wrong, what in [(Path(folder).is_file(), "is a file, not a run folder"), (not Path(folder).is_dir(),
                        "no such folder"), (not path.is_file(), "the folder holds no checkpoint.npz")]:
        if wrong:
            raise ValueError(f"--resume {folder}: {what}")
    try:
        with np.load(path, allow_pickle=False) as saved:
            config = check(Config(**json.loads(str(saved["config"]))))
            history = json.loads(str(saved["history"]))
            state = [saved[f"state_{index}"] for index in range(len(saved.files) - 2)]
    except Exception as error:  # a truncated or damaged file fails in many ways: zip, JSON, missing keys
        raise ValueError(f"--resume {folder}: checkpoint.npz is damaged ({type(error).__name__}: {error})")
    weights = (GRID_SIZE**2 + 1) * config.hidden_units + (config.hidden_units + 1) * len(ACTIONS)  # build_policy's
    expected = [(weights,), (), (), ()] + [(weights,)] * 2  # theta, generation, Adam's step, rate, two moments
    if [value.shape for value in state] != expected or len(history) != int(state[1]):
        raise ValueError(f"--resume {folder}: checkpoint.npz does not fit a network with "
                         f"{config.hidden_units} hidden units (holds {state[0].size if state else 0} weights)")
    return config, state, history


def resumed_config(saved, given, played):
    for name, value in given.items():
        if name not in RESUMABLE and value != getattr(saved, name):
            raise ValueError(f"--{name.replace('_', '-')} {value!r} differs from the run's {getattr(saved, name)!r}; a "
                             "resumed run keeps its settings, only its generation limit and what it shows may change")
    config = check(dataclasses.replace(saved, **{name: given[name] for name in RESUMABLE if name in given}))
    if config.generations <= played:
        raise ValueError(f"--generations must be more than the {played} the run has played, got {config.generations}")
    return config


# %%
def load_policy(path):  # a saved Keras model that can play Catch; ValueError saying why not
    for wrong, what in [(Path(path).is_dir(), "is a folder, not a saved network (a .keras file)"),
                        (not Path(path).is_file(), "no such file")]:
        if wrong:
            raise ValueError(f"--play {path}: {what}")
    try:
        model = keras.models.load_model(path)
    except Exception as error:  # Keras raises many kinds, all meaning "not a model I can read"
        raise ValueError(f"--play {path}: not a Keras model ({type(error).__name__})")
    if tuple(model.input_shape) != (None, GRID_SIZE * GRID_SIZE) or tuple(model.output_shape) != (None, len(ACTIONS)):
        raise ValueError(f"--play {path}: the model maps {model.input_shape} to {model.output_shape}, "
                         f"Catch needs (None, {GRID_SIZE * GRID_SIZE}) to (None, {len(ACTIONS)})")
    return model


# %%
def check_memory(config, available=None, also=0.0):
    """Refuse, before anything is allocated, a run whose arrays (or `also` bytes) cannot fit in the memory."""
    weights = (GRID_SIZE**2 + 1) * config.hidden_units + (config.hidden_units + 1) * len(ACTIONS)  # build_policy's
    population = population_of(config, config.generations)  # the biggest the run's restarts can reach
    # Peak memory measured with /usr/bin/time: about 0.8 GB for TensorFlow and the rest, plus the
    # noise table, plus about five float32 copies of the candidates (theta's row too); six leave a margin.
    needed = max(0.8e9 + 4 * max(NOISE_TABLE_SIZE, 10 * weights) + 6 * 4 * (population + 1) * weights, also)
    meminfo = Path("/proc/meminfo").read_text().split() if Path("/proc/meminfo").is_file() else []  # Linux
    free = 1024 * int(meminfo[meminfo.index("MemAvailable:") + 1]) if "MemAvailable:" in meminfo else \
        os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")  # elsewhere, free pages
    available = free if available is None else available
    if needed > available:
        raise ValueError(f"--population-size {config.population_size} (up to {population:,} with restarts, "
                         f"--max-population-size) and --hidden-units {config.hidden_units} ({weights:,} weights) "
                         f"need about {needed / 1e9:,.1f} GB of memory; this machine has {available / 1e9:.1f} GB "
                         "available")


# %% [markdown]
"""
`prepare` checks the command line. `play_on(config)`, if given, says where generations are
played (the scaling-out study's Ray workers), once the settings are checked, before any write.
"""


# %%
def prepare(argv=None, play_on=None):
    """(config, folder, checkpoint's (state, history), --play's (path, model), play_generation, the folder's lock)."""
    given, policy_path, resume = parse_args(argv)
    try:
        config = check(Config(**given))
        if policy_path:
            return config, None, None, (policy_path, load_policy(policy_path)), None, None
        folder, checkpoint = Path(resume or config.out or time.strftime(f"runs/seed{config.seed}-%Y%m%d-%H%M%S")), None
        if resume:
            saved, *checkpoint = load_checkpoint(resume)
            config = resumed_config(saved, given, len(checkpoint[1]))
        config = dataclasses.replace(config, out=str(folder))
        check_memory(config)
        play_generation = play_on(config) if play_on else None
        return config, folder, checkpoint, None, play_generation, claim("--resume" if resume else "--out", folder)
    except ValueError as error:
        usage_error(str(error))


# %%
def outcome(result, config):  # the run's result in a line
    last = result.history[-1] if result.history else dict(catch_rate=0.0, generation=0, games=0, seconds=0.0)
    caught = f"{round(last['catch_rate'] * FRUITS)}/{FRUITS} fruits caught"
    return {"solved": f"solved: all {FRUITS} fruits caught after {last['generation']} generations, {last['games']:,} "
                      f"games, {last['seconds']:.1f} s", "limit": f"not solved: {caught} after {config.generations} "
                      "generations", "interrupted": f"\ninterrupted before generation {len(result.history)}: saved a "
                      f"checkpoint, the network so far and its history to {config.out}/",
            "stuck": f"stuck: for {STUCK_AFTER} generations every candidate scored the same, so every step was "
                     f"exactly zero; --sigma {config.sigma} is too small to change a single action ({caught})"}[
        result.status]


# %%
def main(argv=None, play_on=None):
    config, folder, checkpoint, policy, play_generation, lock = prepare(argv, play_on)  # lock: held until we return
    if policy:  # --play
        path, model = policy
        catches = count_catches(play(greedy(model), *start_states()))
        print(f"{path} catches {catches}/{FRUITS} fruits: exact catch rate {catches / FRUITS:.1%}")
        return show_games(*replay(model, 3, config.seed)) if config.render else None
    with StopSignals() as stop:
        try:
            write_atomically(folder / "config.json", lambda path: path.write_text(json.dumps(vars(config))))
            result = train(config, folder=folder, resume=checkpoint, stop=stop, play_generation=play_generation)
            print(outcome(result, config))  # the pictures take a second: the result comes first
            save_run(result, folder, config, pictures=result.status != "interrupted")
        except FloatingPointError as error:
            sys.stderr.write(f"{PROG}: stopped: {error}; the last checkpoint is in {folder}/\n")
            sys.exit(1)
        except BrokenPipeError:  # (an OSError of the reader's, not of the disk: see the end of the file)
            raise
        except OSError as error:  # a full disk, the folder gone, no permission: stop; the last checkpoint is whole
            kept = (folder / "checkpoint.npz").is_file() and len(load_checkpoint(folder)[2])
            sys.stderr.write(f"{PROG}: stopped: cannot write {error.filename}: {error.strerror}; " + (
                "no checkpoint is kept" if kept is False else f"the checkpoint of generation {kept} is whole: "
                f"python {PROG} --resume {folder}") + "\n")
            sys.exit(74)
    if result.status == "interrupted":
        print(f"resume with: python {PROG} --resume {folder}")
        sys.exit(128 + stop.requested)
    print(f"saved the trained network, its settings, history and pictures to {folder}/\n"
          f"replay it with: python catch_es.py --play {folder / 'policy.keras'}")
    if config.render:
        show_games(*replay(result.model, 3, config.seed))
    return result


# %% [markdown]
"""
## Conclusion

On a 2-core CPU every one of the seeds 0 to 99 catches all 80 fruits (`python
benchmarks/benchmark.py --solve-only`, figures in the README): 10,403 weights, no gradient,
only noise, ranks and one matrix product, at the cost of many more games. Going further:

* **ES against reinforcement learning.** `python es_vs_rl.py` trains REINFORCE beside the ES
  from the same initial weights and measures the claims made for ES, on longer games too.
* **Bigger problems on a cluster.** `python scale_out.py --workers 4` plays each generation on
  Ray workers, only a few numbers travelling, bit-identical to a run here.
* **Other networks.** Change `build_policy`: the ES only ever sees a flat vector.
"""

# %%
def run_as_script(main):
    """Run `main`; if whoever read the output left (`| head`), stop quietly, as other tools do."""
    try:
        main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__" and not NOTEBOOK:
    run_as_script(main)
