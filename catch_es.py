# %% [markdown]
"""
# Playing Catch with Keras and an Evolution Strategy

**Description:** evolve a small Keras network that plays Catch, with no backpropagation,
by adding random noise to its weights and keeping what wins.

Run it with `python catch_es.py` (seconds on a 2-core CPU), read it top to bottom, change it;
`jupytext --to ipynb catch_es.py` makes it a notebook that trains while you read. Part I is
the lesson: the game, the network, the evolution strategy and why it works, training a
perfect catcher, watching it play, a conclusion; you may stop there. Part II turns the same
code into the program the command runs.

## Introduction

This tutorial grows out of Eder Santana's blog post
[Playing Catch with Keras and an Evolution Strategy](https://medium.com/@edersantana/mve-series-playing-catch-with-keras-and-an-evolution-strategy-a005b75d0505)
(2018): each of three ways to teach a network fits in one line, and side by side they show what
an evolution strategy (ES) is.

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
(Salimans et al., 2017) ran it on a thousand CPUs. No backpropagation, so the network can be
anything that maps pixels to actions; every noisy copy plays on its own, so the work is
embarrassingly parallel. The price is compute, many games per step instead of one gradient,
paid here by playing thousands of games at once (Keras 3 on TensorFlow, whose XLA compiler
makes a whole generation one call). On the way we see *why* `R · n` points
uphill, and measure how well.
"""

# %%
import dataclasses, functools, gc, os, random, sys, time, typing

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hide TensorFlow's C++ log (errors still raise in Python)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # NumPy's idle threads spin on our cores: a generation 50% slower

# Collecting garbage frees memory and changes no result. The imports below make 580,000 Python objects, and checking
# them as they came took 0.38 s of the imports' 2.2 s (a full collection later walks them all again: 0.14 s). So no
# collections during the imports; then `gc.freeze` hides their objects from the collector (4,400 garbage: never freed).
gc.disable()
import numpy as np
from matplotlib.figure import Figure  # plots without a display: no pyplot, no backend to choose

saved_stderr = os.dup(2)  # TensorFlow's import writes GPU-driver lines to stderr whatever the setting: hide them
os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
try:
    import keras
    import tensorflow as tf
    from keras import ops
finally:
    os.dup2(saved_stderr, 2)
    os.close(saved_stderr)
    gc.freeze()
    gc.enable()
NOTEBOOK = "ipykernel" in sys.modules  # read in a notebook: a few cells below show pictures and a run

# %% [markdown]
"""
## The game

A fruit falls down a 10×10 grid, one row per step, from any column of the top row. A basket
three cells wide sits on the bottom row (its centre in columns 1 to 8); each step it moves
left, stays or moves right. When the fruit reaches the bottom row the game ends: +1 if the
basket is under it, -1 if not. The game is written with `keras.ops` on arrays with one entry
per game, so it steps any number of games at once and compiles together with the network.
"""

# %%
GRID_SIZE = 10
GAME_LENGTH = GRID_SIZE - 1  # steps until the fruit reaches the bottom row
ACTIONS = LEFT, STAY, RIGHT = 0, 1, 2  # an action moves the basket by action - 1 (`step`, below)
FRUITS = GRID_SIZE * (GRID_SIZE - 2)  # 80 ways a game can start, so "80/80 fruits caught" is perfect play


class CatchState(typing.NamedTuple):
    fruit_row: object  # int32 array, one entry per game
    fruit_column: object
    basket_centre: object


def start_states():  # the fruit column and basket centre of every start: 10 columns times 8 centres
    fruit_columns, basket_centres = np.meshgrid(np.arange(GRID_SIZE), np.arange(1, GRID_SIZE - 1), indexing="ij")
    return fruit_columns.ravel().astype("int32"), basket_centres.ravel().astype("int32")


def reset(fruit_columns, basket_centres):  # every fruit on the top row
    return CatchState(ops.zeros_like(fruit_columns), fruit_columns, basket_centres)


def step(state, actions):  # move every basket by its action, let every fruit fall one row, score: (state, rewards)
    basket_centre = ops.clip(state.basket_centre + actions - 1, 1, GRID_SIZE - 2)
    fruit_row = state.fruit_row + 1
    caught = ops.abs(state.fruit_column - basket_centre) <= 1
    reward = ops.where(fruit_row == GRID_SIZE - 1, ops.where(caught, 1.0, -1.0), 0.0)
    return CatchState(fruit_row, state.fruit_column, basket_centre), reward


def play(policy, fruit_columns, basket_centres):  # whole games of `policy` (states -> actions): each one's score
    one_step = lambda t, game: step(game[0], policy(game[0]))  # noqa: E731 (game: the state, the last rewards)
    start = (reset(fruit_columns, basket_centres), ops.zeros_like(fruit_columns, "float32"))
    return ops.fori_loop(0, GAME_LENGTH, one_step, start)[1]


# %% [markdown]
"""
`ops.fori_loop` is a loop that the compiler keeps as a loop (a generation of games twice as
long, 18 steps, took 17 ms so, 190 unrolled). A network that always picks its highest-scoring action plays
each of the 80 starts the same way every time, so its **exact catch rate** is how many it wins.

## The policy

The network sees the board, 100 pixels with a 1 on the fruit and on the basket's three
cells, and scores the three actions; the highest wins. Any Keras model with 100 inputs and 3
outputs could take its place: the ES sees only one long vector of numbers, `theta` (10,403
weights for the default network).
"""

# %%
def lit_cells(state):  # the four cells that are 1 on each game's board, numbered row by row: fruit, then basket
    basket = (GRID_SIZE - 1) * GRID_SIZE + state.basket_centre
    return ops.stack([state.fruit_row * GRID_SIZE + state.fruit_column, basket - 1, basket, basket + 1], axis=-1)


def observe(state):  # the board: 100 numbers per game
    return ops.sum(ops.one_hot(lit_cells(state), GRID_SIZE * GRID_SIZE), axis=-2)


def build_policy(hidden_units=100):
    layers = [keras.layers.Dense(hidden_units, activation="relu")] if hidden_units else []  # 0: a linear policy
    return keras.Sequential([keras.Input(shape=(GRID_SIZE * GRID_SIZE,)), *layers, keras.layers.Dense(len(ACTIONS))])


def greedy(model):  # the policy of a model: on each board, the action with the highest score
    return lambda state: ops.cast(ops.argmax(model(observe(state)), axis=-1), "int32")


def count_catches(rewards):
    return int(np.sum(np.asarray(rewards) > 0))


def flatten_weights(model):  # a model's weights as one vector
    return np.concatenate([np.ravel(variable.numpy()) for variable in model.trainable_variables])


def unflatten_weights(flat, shapes):  # ... and back: arrays of the given shapes (inside compiled code too)
    ends = np.cumsum([int(np.prod(shape)) for shape in shapes]).tolist()
    return [ops.reshape(flat[end - int(np.prod(shape)) : end], shape) for end, shape in zip(ends, shapes)]


def set_flat_weights(model, flat):
    variables = model.trainable_variables
    for variable, value in zip(variables, unflatten_weights(flat, [variable.shape for variable in variables])):
        variable.assign(value)


# %% [markdown]
"""
## Playing many games at once

The blog post's code called `model.predict` once per step of one game: milliseconds of overhead
for microseconds of arithmetic, hours per run. Here one call plays *every game of every
candidate*. A greedy network plays the same move whenever it sees the same board, and a game
moves on only 720 boards (a fruit in one of the 90 cells above the bottom row, where the game
ends, times a basket centre of 8), as many as the 80 games' 9 steps (80 × 9). So each
candidate scores all 720 before the games begin, as one batch (`model.stateless_call` runs the
model with weights we pass in, `keras.ops.vectorized_map` maps that over the candidates), and
each step only looks its moves up: the same moves, with as much arithmetic, as scoring each
board as it comes, 1.2 times faster (theta and 100 candidates: 5.1 against 6.1 ms, by
`benchmarks/benchmark.py --pieces`). `tf.function(jit_compile=True)` compiles it all into one
XLA program. Candidates never talk to each other: ES's "embarrassingly parallel" made concrete.

One more trick: a board has four lit cells out of 100, so the first layer's `board @ kernel` is
the sum of four rows of its kernel (the same sums in another order: a score may differ in its
last bit); on every board at once, the kernel's row at each fruit cell plus, for each basket
centre, its three rows on the bottom row. When a `Sequential` model starts with a `Dense` layer
and has more, its table is made so instead of multiplying by 96 zeros: 2.2 times faster (5.3
against 11.9 ms, timed in turns); others, and a lone `Dense` (the linear policy), run whole.
"""

# %%
BOARDS = (GRID_SIZE - 1) * GRID_SIZE * (GRID_SIZE - 2)  # boards to move on: a fruit above the bottom row, a centre


def board_of(state):  # each game's board as a number, 0 to 719 (its fruit cell times 8, plus centre - 1) till it ends
    return (state.fruit_row * GRID_SIZE + state.fruit_column) * (GRID_SIZE - 2) + state.basket_centre - 1


def population_games(model, game=play):  # to be compiled: P rows of flat weights, starts (P, 80) -> rewards (P, 80)
    shapes = [variable.shape for variable in model.trainable_variables]
    first = model.layers[0] if isinstance(model, keras.Sequential) and len(model.layers) > 1 else None
    lookup = isinstance(first, keras.layers.Dense)  # else the general road: the whole model on the whole board
    rest = keras.Sequential([keras.Input((first.units,)), *model.layers[1:]]) if lookup else model
    non_trainable = [variable.numpy() for variable in rest.non_trainable_variables]  # fixed: the ES never moves them
    split = len(first.trainable_variables) if lookup else 0  # the kernel, and the bias if it has one

    def moves(flat_weights):  # one candidate's move on each of the 720 boards, in board_of's order
        weights = unflatten_weights(flat_weights, shapes)
        if lookup:  # board @ kernel: the kernel's row at the fruit's cell plus its rows at the basket's three cells
            kernel, bottom = weights[0], (GRID_SIZE - 1) * GRID_SIZE  # the bottom row starts at cell 90
            fruit = kernel[:bottom, None]  # (90, 1, hidden): the row of each fruit cell above the bottom row
            # (1, 8, hidden) each: for the centres 1 to 8, the rows of the cells centre - 1, centre and centre + 1
            left, middle, right = (kernel[None, bottom + i : bottom + i + GRID_SIZE - 2] for i in range(3))
            hidden = ops.reshape(fruit + left + middle + right, (BOARDS, -1))  # (720, hidden), in board_of's order
            inputs = first.activation(hidden + weights[1] if split == 2 else hidden)
        else:
            cells, centres = np.divmod(np.arange(BOARDS, dtype="int32"), GRID_SIZE - 2)
            inputs = observe(CatchState(cells // GRID_SIZE, cells % GRID_SIZE, centres + 1))
        scores = rest.stateless_call(weights[split:], non_trainable, inputs)[0]
        return tf.argmax(scores, axis=-1, output_type="int32")  # ops.argmax vectorizes less well

    def games(population, *starts):
        table = ops.vectorized_map(moves, population)  # (P, 720): each candidate's move on every board
        return game(lambda state: tf.gather(table, board_of(state), batch_dims=1), *starts)

    return games


@functools.cache  # made once for each count, as tensors, outside compiled code (made anew: 1.5% of a run's time)
def starts_for(candidates):  # the 80 start states for each of `candidates` rows: theta's and its candidates'
    # Each row gets its own copy, passed in at run time: built into the program as one shared copy, it once let the
    # compiler merge all rows' first moves into one product, and a candidate's score depended on who shared its batch.
    return [ops.convert_to_tensor(np.tile(states, (candidates, 1))) for states in start_states()]


# %% [markdown]
"""
## The evolution strategy

The heart of it, for any function of a flat vector, in the ask/tell style of pycma and evosax:
`ask()` hands out candidates, you score them any way you like, `tell(rewards)` moves `theta`.
From plain Python both speak NumPy; in compiled code, tensors. The noise is OpenAI's **shared
noise table**: 4 million Gaussian numbers, the same for every run, each pair's noise a slice
at an offset drawn from `(seed, generation)`; so `tell` looks it up again instead of keeping
it, and a run replays exactly. The update is the blog's `grad ≈ R · n`, refined (why each
refinement works comes after the code):

* **Mirrored noise:** candidates come in pairs `theta + sigma·n` and `theta - sigma·n`.
* **Centred ranks:** the rewards become their ranks, scaled to -0.5 … 0.5, so one lucky
  candidate cannot swamp the step; when all score the same, all ranks tie and the estimate is
  exactly zero (the blog's code divided by the rewards' spread, zero then).
* **Adam**, from Keras, adapts the step size per weight, as for a backpropagated gradient.
* **Weight decay:** Adam makes even a noisy estimate a full-size step, so the weights grow
  until noise of size `sigma` changes no action; Adam's decoupled weight decay shrinks them
  by `learning_rate · weight_decay` of themselves each step.
* **Batches:** a compiled program has fixed shapes, so a bigger population (a restart, below)
  is played as more batches of the first one's size, `batch`; `tell` ranks each batch on its
  own and steps by the mean of their estimates: `sum_i A_i n_i / (P · sigma)` with ranks `A`
  taken within each batch, coarser than one ranking of all `P` but no worse on average.

Besides the seed and the population, all the next generations depend on is a `State`: theta,
the generation, Adam's variables. The offsets are drawn for the `largest` population the strategy will
play, so that their shape, and so the program, never changes; a pair's offset is the same
whatever the population.
"""

# %%
NOISE_TABLE_SIZE = 2**22  # 4 million floats, 16 MB, made in about 0.1 s


@functools.cache  # made once per process for each size, as a tensor (making it one takes another 0.04 s)
def noise_table(size):
    return ops.array(np.random.default_rng(0).standard_normal(size, dtype="float32"))


def centred_ranks(rewards):  # ranks scaled to [-0.5, 0.5]; ties share their mean rank; NaN and ±inf rank worst
    rewards = ops.where(ops.isfinite(rewards), rewards, -np.inf)[:, None]
    below = ops.sum(ops.cast(ops.greater(rewards, ops.transpose(rewards)), "float32"), axis=1)  # how many smaller
    ties = ops.sum(ops.cast(ops.equal(rewards, ops.transpose(rewards)), "float32"), axis=1)  # how many equal
    return (below + (ties - 1) / 2) / max(rewards.shape[0] - 1, 1) - 0.5


def plain(tensor):  # NumPy for a caller in plain Python; inside compiled code, the tensor itself
    return tensor.numpy() if tf.executing_eagerly() else tensor


class State(typing.NamedTuple):
    theta: object  # the weights, one flat vector
    generation: object  # the next generation's number: with the seed, the key of its noise
    adam: tuple  # Adam's own variables, as Keras orders them: its step count, rate, momentum, velocity


# %%
class EvolutionStrategy:
    def __init__(self, theta, population_size=100, sigma=0.1, learning_rate=0.05, weight_decay=0.0, seed=0,
                 shaping=centred_ranks, largest=None):
        self.batch, self.sigma = population_size, sigma  # a bigger population (`load`) is batches of this many
        self.largest = max(largest or population_size, population_size)  # the biggest population `load` may ask for
        self.batches = keras.Variable(1, dtype="int32", trainable=False, name="batches")
        self.shaping = shaping  # what the rewards become before R · n: centred ranks, or anything else
        self.table = noise_table(max(NOISE_TABLE_SIZE, 10 * len(theta)))  # the one table, longer for long vectors
        self.variable = keras.Variable(np.asarray(theta, dtype="float32"), name="theta")
        self.key = keras.Variable([seed, 0], dtype="int32", trainable=False, name="seed_and_generation")
        self.optimizer = keras.optimizers.Adam(learning_rate, weight_decay=weight_decay or None)
        self.optimizer.build([self.variable])  # Adam's state must exist before its step is compiled
        self.fresh_adam = tuple(variable.numpy() for variable in self.optimizer.variables)  # before any step

    theta = property(lambda self: self.variable.numpy())
    generation = property(lambda self: int(self.key[1]))
    population_size = property(lambda self: int(self.batches) * self.batch)

    def noise(self, first=0, count=None):  # this generation's noise n, a row per mirrored pair: `count` from `first`
        count, size = count or self.population_size // 2, self.variable.shape[0]
        starts = tf.random.stateless_uniform([self.largest // 2], self.key, 0, self.table.shape[0] - size + 1, tf.int32)
        return ops.take(self.table, ops.slice(starts, [first], [count])[:, None] + ops.arange(size))

    def ask(self, first=0, count=None):  # 2·count candidates theta ± sigma·n, pairs from `first`: +n0, -n0, ...
        noise = self.noise(first, count)
        candidates = ops.stack([self.variable + self.sigma * noise, self.variable - self.sigma * noise], axis=1)
        return plain(ops.reshape(candidates, (-1, noise.shape[-1])))

    def tell(self, rewards):  # rewards: any array-like, in ask's order (or more: the rest unused); moves theta
        def add(batch, grad):  # grad ≈ R · n, one batch ranked on its own: each noise weighted by how well it did
            advantages = self.shaping(ops.cast(ops.slice(rewards, [batch * self.batch], [self.batch]), "float32"))
            # Pair k played +n_k and -n_k, so together they add (A[2k] - A[2k+1]) · n_k.
            noise = self.noise(batch * (self.batch // 2), self.batch // 2)
            return grad + ops.matmul(advantages[0::2] - advantages[1::2], noise) / (self.batch * self.sigma)

        grad = ops.fori_loop(0, self.batches, add, ops.zeros_like(self.variable)) / ops.cast(self.batches, "float32")
        self.optimizer.apply([-grad], [self.variable])  # Adam descends: minus the gradient (the batches' mean)
        self.key.assign_add([0, 1])  # the next generation
        return plain(grad)

    def state(self):
        return State(self.variable, self.key[1], tuple(self.optimizer.variables))

    def load(self, state, seed=None, population_size=None):  # into the same variables: what was compiled stays
        self.key.assign([self.key[0] if seed is None else seed, int(state.generation)])
        self.batches.assign((population_size or self.population_size) // self.batch)
        for variable, value in zip([self.variable, *self.optimizer.variables], [state.theta, *state.adam]):
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
the `1 / (P · sigma)` in `tell` (there: `1 / (batch · sigma)` per batch, then the batches'
mean). `sigma` is the smoothing radius: a wide cloud feels slopes from afar but climbs a
blurred `F` (whose top may lie elsewhere); a narrow one climbs `F` itself, until no
candidate's action differs, every `R_i` is the same and the estimate is zero.

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
    return -np.sum((points - 1.0) ** 2, axis=-1)


def es_on_a_hill(shown=(0, 5, 10, 20), populations=(4, 16, 64, 256, 1024), repeats=4, estimates=True):  # a figure
    figure = Figure(figsize=(14 if estimates else 5, 4), layout="constrained")
    climb, *cosines = figure.subplots(1, 3 if estimates else 1, squeeze=False)[0]  # the climb, then the estimates
    strategy = EvolutionStrategy([-1.5, -1.5], population_size=20, sigma=0.4, learning_rate=0.15)
    grid = np.stack(np.meshgrid(np.linspace(-2.5, 2.5, 41), np.linspace(-2.5, 2.5, 41)), axis=-1)
    climb.contourf(grid[..., 0], grid[..., 1], hill(grid), levels=15, cmap="Greys_r")
    for generation in range(max(shown) + 1):
        candidates = strategy.ask()
        if generation in shown:
            climb.scatter(*candidates.T, s=8, label=f"generation {generation}: candidates theta ± sigma·n")
        strategy.tell(hill(candidates))
    climb.set(aspect="equal", title="the ES climbing a hill, top at (1, 1)", xlabel="weight 1", ylabel="weight 2")
    climb.legend(fontsize="x-small", loc="lower right")
    shapings = {"rewards as they are, sigma 0.1": (lambda rewards: rewards, 0.1),
                "centred ranks, sigma 0.1": (centred_ranks, 0.1), "centred ranks, sigma 30": (centred_ranks, 30.0)}
    for axes, dimension in zip(cosines, (2, 10_403)):
        for label, (shaping, sigma) in shapings.items():
            found = np.zeros((len(populations), repeats))
            for row, population in enumerate(populations):
                strategy = EvolutionStrategy(np.zeros(dimension), population, sigma, seed=dimension, shaping=shaping)
                for column in range(repeats):
                    truth = -2 * (strategy.theta - 1.0)  # read before tell moves theta
                    estimate = strategy.tell(hill(strategy.ask()))
                    found[row, column] = estimate @ truth / np.linalg.norm(estimate) / np.linalg.norm(truth)
            axes.plot(populations, found.mean(axis=1), "o-", label=label)
        axes.axhline(dimension**-0.5, color="grey", ls=":", label="a random direction's, 1/√dimensions")
        axes.set(xscale="log", xlabel=f"population P (each point: the mean of {repeats} generations)", ylim=(0, None),
                 title=f"tell's estimate in {dimension:,} dimensions", ylabel="cosine with the true gradient")
        axes.legend(fontsize="small")
    return figure


# %%
# %matplotlib inline
if __name__ == "__main__" and NOTEBOOK:
    display(es_on_a_hill())  # noqa: F821 (a notebook's own function)

# %% [markdown]
"""
In 2 dimensions a handful of candidates finds the slope almost exactly. In 10,403 the cosine at
the default population of 100 is small, about 0.07, yet seven times a random direction's: each
step climbs, a little, and more as the population P grows (as its square root, while P is far
below 10,403). Ranks point nearly as well as raw rewards, even at `sigma = 30`, where the
hill's curvature swamps each reward: that term is the same for both candidates of a pair, so
the pair's ranks still differ by the sign of the slope along its noise. (A quadratic has no
steps to smooth; on Catch a `sigma` too small changes no action.)

## Plateaus, and starting afresh

On Catch the ES has one common way to fail. A network stuck at 72 of 80 typically misses all 8
games of one fruit column, and if no small change of its weights turns one of those misses into
a catch, `R · n` carries no signal about that column: noise that changes no outcome gives none.

The cure is the one CMA-ES users know as IPOP (increasing-population restarts): when the exact
catch rate of `theta` has not beaten its best for `patience` generations, start again from
fresh weights, drawn from `(seed, restarts)`, with a population `population_growth` times as
large (up to `max_population_size`): a fresh start lands elsewhere, and a bigger population
sees more. It is played as that many batches of the first population, so the compiled program
stays the same (compiling takes most of a second, a generation about 5 ms): a restart compiles
nothing. Without restarts, 22 of the seeds 0 to 99 stay at 64 to 72 of 80 for 1,000
generations (15 at 72); with them, every seed catches every fruit (the README has the figures).
"""

# %%
@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0  # seeds the network's initial weights and all the noise
    population_size: int = 100  # noisy copies of the network per generation (even: mirrored pairs), and the batch
    sigma: float = 0.1  # standard deviation of the noise added to the weights
    learning_rate: float = 0.05  # Adam's step size
    weight_decay: float = 0.3  # shrinks the weights a little each step, so that the noise keeps mattering
    generations: int = 1000  # stop after this many generations if not solved
    hidden_units: int = 100  # width of the network's hidden layer
    patience: int = 60  # restart when theta's catch rate has not beaten its best for this many generations
    population_growth: int = 2  # each restart multiplies the population by this ...
    max_population_size: int = 1600  # ... up to this many, then restarts keep the population
    log_every: int = 10  # print a progress line every this many generations


def population_of(config, restarts):  # population_growth**restarts times the first, in whole batches, up to the cap
    batches = max(1, config.max_population_size // config.population_size)  # the most it may reach
    # (min(restarts, ...): growth**restarts is past the cap long before; a huge restarts count costs nothing)
    return config.population_size * min(config.population_growth ** min(restarts, batches.bit_length()), batches)


STRATEGIES = {}  # by their settings, kept for the process: a rerun in it compiles nothing


def fresh_weights(model, seed):  # the flat weights a new `model` built after set_random_seed(seed) starts with
    # Keras's initializers seed themselves from Python's `random` when made: seeding it, then making each layer's anew
    # in order, draws what a network built after set_random_seed(seed) has (which also seeds TensorFlow: 10 ms more)
    random.seed(seed)
    drawn = []
    for layer in model.layers:
        made = {key: keras.initializers.get(value) for key, value in layer.get_config().items() if "initializer" in key}
        drawn += [made[f"{weight.name}_initializer"](weight.shape, weight.dtype) for weight in layer.trainable_weights]
    return np.concatenate([np.ravel(weights) for weights in drawn])  # 5 ms; a new network, 20 (tested: Dense)


def new_strategy(config, restarts=0, generation=0, strategies=STRATEGIES, state=None, model=None):  # after `restarts`
    # The network (`model`, or a new one) and the strategy kept in `strategies` for these settings, with fresh
    # weights for the network and a fresh Adam loaded into it (or `state`); train sets the network's own at the end.
    seed = config.seed if restarts == 0 else int(np.random.SeedSequence([config.seed, restarts]).generate_state(1)[0])
    # `largest`: the population after `generations` restarts, more than any run can reach.
    model, largest = model or build_policy(config.hidden_units), population_of(config, config.generations)
    theta = fresh_weights(model, seed)
    settings = (config.hidden_units, config.population_size, largest, config.sigma, config.learning_rate,
                config.weight_decay)  # all that shapes its compiled generation: not the seed, not the population
    if settings not in strategies:
        strategies[settings] = EvolutionStrategy(theta, config.population_size, config.sigma,
                                                 config.learning_rate, config.weight_decay, largest=largest)
    strategy = strategies[settings]
    strategy.load(state or State(theta, generation, strategy.fresh_adam), config.seed, population_of(config, restarts))
    return model, strategy


# %% [markdown]
"""
## Training

The loop of the introduction's third line: ask for candidates, play their games, tell the strategy
how each did, as **one compiled call** (built by `play_here`), looping over the population's
batches inside it (`ops.fori_loop` again, so that their number is a value, not a new program;
theta replays beside each batch, its games counted once). `tf.function` keeps one trace per
strategy object, so `STRATEGIES` keeps the objects and `PLAYERS` their compiled generations:
a restart, or a second run in the same process, compiles nothing. `theta` and Adam's state stay in
TensorFlow's variables between calls, and `theta` plays beside its candidates, so each
generation also measures its exact catch rate; it returns the state from before its step, so
that once a run is done the step can be taken back and the network kept is the one measured.
Each generation leaves a row of history, which `Progress` shows.
"""

# %%
def play_here(model, game=play):  # a generation, one call: theta's catches, the candidates' mean rewards, State before
    play_population = population_games(model, game)

    @tf.function(jit_compile=True, autograph=False)  # traced once per strategy, whatever its population
    def generation(strategy, *starts):
        before = keras.tree.map_structure(ops.copy, strategy.state())  # read before `tell` moves them
        pairs = strategy.batch // 2

        def play_batch(batch, found):  # a batch of candidates beside theta (row 0): their totals, into found[1]
            candidates = ops.concatenate([before.theta[None], strategy.ask(batch * pairs, pairs)])
            rewards = play_population(candidates, *starts)
            totals = ops.sum(rewards[1:], axis=1)  # whole numbers, exact in any order: ranked as the means are
            return rewards[0], ops.slice_update(found[1], [batch * strategy.batch], totals)

        own, totals = ops.fori_loop(0, strategy.batches, play_batch, (ops.zeros(FRUITS), ops.zeros(strategy.largest)))
        strategy.tell(totals)
        return own, totals, before

    def play_generation(strategy):
        own, totals, before = generation(strategy, *starts_for(strategy.batch + 1))
        rewards = totals.numpy()[: strategy.population_size] / FRUITS
        return count_catches(own), rewards, keras.tree.map_structure(np.asarray, before)

    return play_generation


class Progress:  # shows each row of history: on a terminal one line rewritten in place, elsewhere now and then
    def __init__(self, config, out=None, label="generation"):
        self.config, self.label, self.out = config, label, out or sys.stdout

    def __call__(self, history, done):
        row, live = history[-1], self.out.isatty()
        if row.get("event"):
            self.out.write("\r\x1b[K" * live + f"{self.label} {row['generation']}: {row['event']}\n")
        if live or done or row["generation"] % self.config.log_every == 0:
            earlier = history[-11] if len(history) > 10 else dict(games=0, seconds=0.0)
            speed = (row["games"] - earlier["games"]) / (row["seconds"] - earlier["seconds"])
            line = (f"{self.label} {row['generation']:4d}  mean reward {row['mean_reward']:+.3f}  catches "
                    f"{round(row['catch_rate'] * FRUITS):2d}/{FRUITS}  {speed:9,.0f} games/s  {row['seconds']:6.1f} s")
            bar = "#" * (20 * (row["generation"] + 1) // self.config.generations)  # over the previous line
            self.out.write(f"\r\x1b[K[{bar:<20}] {line}" + "\n" * done if live else line + "\n")
            self.out.flush()


# %% [markdown]
"""
A run stops when theta catches all 80, at the generation limit, or when every candidate has
scored the same for `STUCK_AFTER` generations: the estimate is then exactly zero, and only
Adam's momentum and weight decay still move theta (try `sigma=1e-8`: the weakness at its purest).
"""

# %%
STUCK_AFTER = 10  # generations in a row without any signal


def restarts_before(history):  # restarts before the next generation: the newest row's, one more if it announced one
    return history[-1]["restarts"] + bool(history[-1]["event"]) if history else 0


def history_row(history, generation, rewards, catches, population_size, start):  # one generation's record
    return dict(generation=generation, mean_reward=round(float(np.mean(rewards)), 6), min_reward=float(np.min(rewards)),
                max_reward=float(np.max(rewards)), catch_rate=catches / FRUITS,
                games=(history[-1]["games"] if history else 0) + (population_size + 1) * FRUITS,
                seconds=round(time.perf_counter() - start, 4), event="", population_size=population_size,
                restarts=restarts_before(history))


def stuck(history):  # every candidate scored the same for STUCK_AFTER generations: every estimate was zero
    return len(history) >= STUCK_AFTER and all(row["min_reward"] == row["max_reward"] for row in history[-STUCK_AFTER:])


def plateau_event(history, config):  # "" or, when theta has plateaued in this attempt, what the restart will do
    attempt = [row["catch_rate"] for row in history if row["restarts"] == history[-1]["restarts"]]
    if len(attempt) <= config.patience or max(attempt[-config.patience :]) > max(attempt[: -config.patience]):
        return ""  # (a plateau: no better than its best for `patience` generations)
    best, population = round(max(attempt) * FRUITS), population_of(config, history[-1]["restarts"] + 1)
    return (f"no better than {best}/{FRUITS} for {config.patience} generations: "
            f"restarting with fresh weights and population {population}")


# %% [markdown]
"""
`train` is that loop. A caller may plug a few things into it through `Hooks`: where each
generation is played, who hears of it, a check before each generation that may stop the run,
a state to carry on from. Left empty, it trains here and prints its progress.
"""

# %%
class Hooks(typing.NamedTuple):
    progress: object = None  # progress(history, done) after each generation (default: Progress)
    play: object = None  # play(strategy) plays a generation as play_here's does (default: play_here)
    keep_going: object = None  # keep_going(strategy, history) before each generation: False stops the run there
    start: object = None  # (State, history) to carry on from, instead of fresh weights


PLAYERS = {}  # each strategy's compiled generation, kept for the process


class TrainingResult(typing.NamedTuple):
    model: keras.Model  # with the weights last measured ("stopped": after the last step)
    history: list  # one dict per generation
    status: str  # "solved", "limit" (the generation limit), "stuck" or "stopped" (by keep_going)
    state: State  # the strategy's as it ended, in NumPy: carrying on from it replays the last generation


def train(config, hooks=Hooks()):  # ask, play, tell, record, restart: until solved, stuck, the limit or a hook stops
    state, history = hooks.start or (None, [])
    history, status = list(history), "limit"
    progress = hooks.progress or Progress(config)
    model, strategy = new_strategy(config, restarts_before(history), state=state)
    play_generation = hooks.play or PLAYERS.get(strategy) or PLAYERS.setdefault(strategy, play_here(model))
    start = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    for generation in range(strategy.generation, config.generations):
        if hooks.keep_going and not hooks.keep_going(strategy, history):
            status = "stopped"
            break
        catches, rewards, before = play_generation(strategy)  # ask, play, tell
        history.append(history_row(history, generation, rewards, catches, strategy.population_size, start))
        status = "solved" if catches == FRUITS else "stuck" if stuck(history) else status
        done = status != "limit" or generation == config.generations - 1
        history[-1]["event"] = "" if done else plateau_event(history, config)
        progress(history, done)
        if done:  # take back the step: the theta returned is the one just measured
            strategy.load(before)
            break
        if history[-1]["event"]:  # a plateau: restart, with fresh weights
            _, strategy = new_strategy(config, restarts_before(history), strategy.generation, model=model)
    set_flat_weights(model, strategy.theta)
    return TrainingResult(model, history, status, keras.tree.map_structure(np.asarray, strategy.state()))


# %% [markdown]
"""
In a notebook the next cell trains the default network, mid-read: seed 0 catches all 80
fruits after 297 generations, two restarts on the way.
"""

# %%
if __name__ == "__main__" and NOTEBOOK:
    result = train(Config())

# %% [markdown]
"""
## Watching the result

`replay` plays a few games and draws each step as text (`O` the fruit, `=` the basket), and
`show_games` prints each game as a strip of frames. The learning curve shows catch rate and
mean reward against generations and wall time, where the stretch before the first generation
(dotted) is mostly compiling, and each attempt after a restart is drawn apart.
"""

# %%
def draw(state, game=0):  # one game's board as lines of text
    fruit_row, fruit_column, basket = (int(np.asarray(a)[game]) for a in state)
    board = np.full((GRID_SIZE, GRID_SIZE), ".")
    board[-1, basket - 1 : basket + 2] = "="
    board[fruit_row, fruit_column] = "O"
    return ["".join(row) for row in board]


def replay(model, count, seed=0):  # `count` games from starts picked by `seed`: per game its frames; the rewards
    policy, picked = greedy(model), np.random.default_rng(seed).choice(FRUITS, count, replace=False)
    state = reset(*(states[picked] for states in start_states()))
    frames = [[draw(state, game)] for game in range(count)]
    for _ in range(GAME_LENGTH):
        state, reward = step(state, policy(state))
        frames = [game_frames + [draw(state, game)] for game, game_frames in enumerate(frames)]
    return frames, np.asarray(reward)


def show_games(frames, rewards, out=None):  # each game as a strip of frames, left to right, and its verdict
    for game_frames, reward in zip(frames, rewards):
        strip = "".join("  ".join(frame[line] for frame in game_frames) + "\n" for line in range(GRID_SIZE))
        (out or sys.stdout).write(strip + ("caught!" if reward > 0 else "missed.") + "\n\n")


# %%
def plot_learning_curve(history):
    figure = Figure(figsize=(10, 4), layout="constrained")
    cuts = [i for i in range(1, len(history)) if history[i]["restarts"] != history[i - 1]["restarts"]]
    for axes, x in zip(figure.subplots(1, 2, sharey=True), ["generation", "seconds"]):
        for y, name in [("catch_rate", "exact catch rate of theta"), ("mean_reward", "mean reward of the candidates")]:
            xs, ys = (np.array([row[key] for row in history], float) for key in (x, y))
            line, = axes.plot(np.insert(xs, cuts, np.nan), np.insert(ys, cuts, np.nan), label=name)  # attempts apart
            if x == "seconds":  # from the start to the first generation: compiling, dotted
                axes.plot([0, xs[0]], [ys[0], ys[0]], ":", color=line.get_color(), label=f"{name}: compiling (dotted)")
        axes.set(xlabel="generation" if x == "generation" else "wall time (s)", ylim=(-1.05, 1.05))
        axes.grid(alpha=0.3)
    figure.axes[0].set_ylabel("catch rate (0 to 1) and mean reward (-1 to 1)")
    figure.suptitle("Learning curve of the evolution strategy")
    axes.legend(loc="lower right", fontsize="small")
    return figure


# %%
if __name__ == "__main__" and NOTEBOOK:
    show_games(*replay(result.model, 3))
    display(plot_learning_curve(result.history))  # noqa: F821

# %% [markdown]
"""
## Conclusion

A network of 10,403 weights learned to catch every fruit with no gradient, at the cost of
many more games than a gradient method plays; every one of the seeds 0 to 99 gets there (the
README has the figures). `R · n` estimates the gradient of a Gaussian-smoothed score; mirrored
pairs and ranks make the estimate steadier; Adam and weight decay turn it into steps that keep
the noise meaningful; restarts escape plateaus where no small change catches a missed fruit; one compiled
call plays every game of a generation. Going further:

* **ES against reinforcement learning:** `python es_vs_rl.py` trains REINFORCE beside the ES
  from the same initial weights and measures the claims made for ES.
* **A cluster:** `python scale_out.py --workers 4` plays each generation on Ray workers.
* **Other networks, other problems:** change `build_policy`, or score `EvolutionStrategy`'s
  candidates with a function of your own: the ES only ever sees a flat vector.
"""

# %% [markdown]
"""
# Part II: the program

The lesson ends above. What follows makes its code the tool `python catch_es.py` is, with no
second version of anything: `main` runs Part I's `train`, plugging into its `Hooks` a check
before each generation that saves checkpoints, hears Ctrl-C and watches the weights. A run
gets a folder of its own, resumes bit-identically, and refuses bad input in one line.
"""

# %%
import argparse, csv, fcntl, hashlib, inspect, io, json, platform, re, signal
from pathlib import Path


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
Beside the network and its history go two pictures: the learning curve and the hill climbed.
"""

# %%
def claim(option, folder):  # make `folder` this run's: a lock on its run.lock, dropped when the process ends, however
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


def write_atomically(path, write):
    temporary = path.with_name(path.stem + ".tmp" + path.suffix)  # keeps the suffix, which Keras checks
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
def save_run(result, folder, pictures=True):
    write_atomically(folder / "policy.keras", result.model.save)
    if result.history:  # empty only if stopped before its first generation
        save_history(result.history, folder / "history.csv")
    if pictures:
        write_atomically(folder / "learning_curve.png", plot_learning_curve(result.history).savefig)
        write_atomically(folder / "es_on_a_hill.png", es_on_a_hill(estimates=False).savefig)  # the climb: 0.4 s


# %% [markdown]
"""
## Compiled once per machine

TensorFlow keeps what XLA compiled on disk for the next run (`TF_XLA_FLAGS`), in a folder
named for this CPU and these versions, `~/.cache/catch_es/<fingerprint>/`: a program compiled
for one CPU must never run on another. TensorFlow fails a run on a damaged file rather than
compile again, so a file unlike its digest when whole goes first. `CATCH_ES_CACHE=off`: none.
"""

# %%
def digests(folder):  # each compiled program's file in `folder`, and the SHA-256 of its bytes
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.glob("xla_compile_cache*.pb")}


def use_compile_cache(environ=os.environ):  # TensorFlow's compile cache in this machine's folder: it, or None (off)
    cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else platform.processor()
    features = [line for line in cpu.splitlines() if line.startswith(("model name", "flags"))][:2] or cpu
    name = hashlib.sha256(repr([features, platform.machine(), tf.__version__, keras.__version__]).encode()).hexdigest()
    folder = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "catch_es" / name[:16]
    ours = f"--tf_xla_persistent_cache_directory={folder}"
    flags = environ.get("TF_XLA_FLAGS", "").replace(ours, "").strip()  # (a process started by ours inherits it)
    if environ.get("CATCH_ES_CACHE") == "off" or "persistent_cache" in flags:
        return None  # turned off, or the user's own
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / "writable", lambda path: path.write_text(""))  # else TensorFlow fails the run
        known = json.loads((folder / "digests.json").read_text()) if (folder / "digests.json").is_file() else {}
        for name in [name for name, digest in digests(folder).items() if known.get(name) != digest]:
            (folder / name).unlink()  # damaged, foreign, or never known whole: TensorFlow would fail on it
    except (OSError, ValueError):  # no folder we can use, or a damaged digests.json: compile as if there were none
        return None
    environ["TF_XLA_FLAGS"] = f"{flags} {ours}".strip()
    return folder


# %% [markdown]
"""
## Checkpoints, signals and the weights' health

A checkpoint holds the `State`, the settings and the history; the noise is a pure function of
`(seed, generation, pair)`, so a resumed run ends with bit-identical weights. `keep_going`,
plugged into `train`, saves one every `checkpoint_every` generations and when Ctrl-C or
SIGTERM asks the run to stop, and stops a run whose weights are no longer finite.
"""

# %%
def save_checkpoint(folder, config, state, history):  # a State, the settings and the history before its generation
    arrays = dict(theta=state.theta, generation=state.generation, **{f"adam_{i}": v for i, v in enumerate(state.adam)})
    settings, earlier = json.dumps(dataclasses.asdict(config)), json.dumps(history[: int(state.generation)])
    write_atomically(folder / "checkpoint.npz", lambda path: np.savez(path, config=settings, history=earlier, **arrays))


class StopSignals:  # within `with`, the first Ctrl-C or SIGTERM asks for a stop; a second one exits at once
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


def keep_going(folder, config, stop):  # train's check before each generation: finite, a checkpoint when due, a stop
    def before_generation(strategy, history):
        if not np.all(np.isfinite(strategy.theta)):
            raise FloatingPointError(f"theta is no longer finite after generation {strategy.generation - 1}; "
                                     "try a smaller --learning-rate")
        if (stopping := stop.requested) or strategy.generation % config.checkpoint_every == 0:
            save_checkpoint(folder, config, keras.tree.map_structure(np.asarray, strategy.state()), history)
        return not stopping  # (read once: a signal landing between two reads stopped runs with no checkpoint)

    return before_generation


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
    "seed": (lambda v: INTEGER(v) and 0 <= v < 2**31, "an integer from 0 to 2147483647"),  # every generator's range
    **dict.fromkeys(["population_size", "max_population_size"],
                    (lambda v: INTEGER(v) and v >= 2 and v % 2 == 0, "an even integer >= 2")),
    **dict.fromkeys(["sigma", "learning_rate"], (lambda v: NUMBER(v) and v > 0, "a finite number > 0")),
    "weight_decay": (lambda v: NUMBER(v) and v >= 0, "a finite number >= 0"),
    **dict.fromkeys(["generations", "hidden_units", "patience", "population_growth", "log_every", "checkpoint_every"],
                    (lambda v: INTEGER(v) and v >= 1, "an integer >= 1")),
    "out": (lambda v: isinstance(v, str), "a path"), "render": (lambda v: isinstance(v, bool), "True or False"),
}
PROG = "catch_es.py"  # how errors name the program


def check(config, accepts=ACCEPTS):  # `config` if every value is one `accepts` allows (a study adds its own)
    for field in dataclasses.fields(config):
        allows, allowed = accepts[field.name]
        if not allows(getattr(config, field.name)):
            raise ValueError(f"--{field.name.replace('_', '-')} must be {allowed}, got {getattr(config, field.name)!r}")
    return config


def usage_error(message, prog=PROG):  # as argparse refuses: one line, exit status 2
    sys.stderr.write(f"{prog}: error: {message} (see --help)\n")
    sys.exit(2)


# %%
def field_helps(cls):  # each field's comment in its class's source (read as text: inspect.getsource parses it, 0.1 s)
    body = re.search(rf"^class {cls.__name__}\b.*?\n(?=\S)", Path(inspect.getsourcefile(cls)).read_text(), re.M | re.S)
    return dict(re.findall(r"^ +(\w+): \w+ = .*?  # (.*)$", body.group(), re.M))


def parse_args(argv=None, settings=RunConfig, accepts=ACCEPTS, prog=PROG):  # (settings given, --play, --resume)
    parser = argparse.ArgumentParser(prog=prog, description="Evolve a Keras network that plays Catch with an ES.",
                                     argument_default=argparse.SUPPRESS)  # only the options given
    parser.error = functools.partial(usage_error, prog=prog)  # one line and exit status 2 for argparse's own too
    # Each field's help is the comment beside it, in the classes whose source is at hand (not a notebook's).
    helps = {name: text for cls in settings.__mro__[-2::-1] if cls.__module__ != "__main__" or not NOTEBOOK
             for name, text in field_helps(cls).items()}
    for field in dataclasses.fields(settings):
        help = f"{helps.get(field.name, '')} (default: {field.default!r}; {accepts[field.name][1]})"
        kind = dict(action=argparse.BooleanOptionalAction) if field.type is bool else dict(type=field.type)
        parser.add_argument("--" + field.name.replace("_", "-"), metavar=field.type.__name__.upper(), help=help, **kind)
    if settings is RunConfig:  # (a study that reads its own settings here has modes of its own)
        modes = parser.add_mutually_exclusive_group()
        modes.add_argument("--play", metavar="PATH", help="replay a saved policy (a .keras file) instead of training")
        modes.add_argument("--resume", metavar="FOLDER", help="carry on the run saved in FOLDER from its checkpoint")
    given = vars(parser.parse_args(argv))
    return given, given.pop("play", None), given.pop("resume", None)


# %%
RESUMABLE = ("generations", "log_every", "checkpoint_every", "render")  # what a resumed run may change


def weights_of(config):  # how many weights build_policy's network has
    return (GRID_SIZE**2 + 1) * config.hidden_units + (config.hidden_units + 1) * len(ACTIONS)


def load_checkpoint(folder):  # the settings, State and history of a run folder; ValueError saying what is wrong
    path = Path(folder) / "checkpoint.npz"
    wrong = {"is a file, not a run folder": Path(folder).is_file(), "no such folder": not Path(folder).is_dir(),
             "the folder holds no checkpoint.npz": not path.is_file()}
    if any(wrong.values()):
        raise ValueError(f"--resume {folder}: {next(what for what, this in wrong.items() if this)}")
    try:
        with np.load(path, allow_pickle=False) as file:
            config = check(RunConfig(**json.loads(str(file["config"]))))
            history = json.loads(str(file["history"]))
            state = State(file["theta"], file["generation"], tuple(file[f"adam_{i}"] for i in range(4)))
    except Exception as error:  # a truncated or damaged file fails in many ways: zip, JSON, missing keys
        raise ValueError(f"--resume {folder}: checkpoint.npz is damaged ({type(error).__name__}: {error})")
    weights, shapes = weights_of(config), keras.tree.map_structure(np.shape, state)
    if shapes != State((weights,), (), ((), (), (weights,), (weights,))) or len(history) != int(state.generation):
        raise ValueError(f"--resume {folder}: checkpoint.npz does not fit a network with "
                         f"{config.hidden_units} hidden units (holds {state.theta.size} weights)")
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
    if not Path(path).is_file():
        raise ValueError(f"--play {path}: " + ("is a folder, not a saved network (a .keras file)" if Path(path).is_dir()
                                               else "no such file"))
    try:
        model = keras.models.load_model(path)
    except Exception as error:  # Keras raises many kinds, all meaning "not a model I can read"
        raise ValueError(f"--play {path}: not a Keras model ({type(error).__name__})")
    if tuple(model.input_shape) != (None, GRID_SIZE * GRID_SIZE) or tuple(model.output_shape) != (None, len(ACTIONS)):
        raise ValueError(f"--play {path}: the model maps {model.input_shape} to {model.output_shape}, "
                         f"Catch needs (None, {GRID_SIZE * GRID_SIZE}) to (None, {len(ACTIONS)})")
    return model


def check_memory(config, available=None, also=0.0):  # refuse, before any allocation, a run too big for the memory
    weights, batch = weights_of(config), config.population_size  # (a restart's bigger population: batch by batch)
    # Peak memory measured with /usr/bin/time: about 0.8 GB for TensorFlow and the rest, plus the
    # noise table, plus about five float32 copies of a batch's candidates (and theta); six leave a margin.
    needed = max(0.8e9 + 4 * max(NOISE_TABLE_SIZE, 10 * weights) + 6 * 4 * (batch + 1) * weights, also)
    meminfo = Path("/proc/meminfo").read_text().split() if Path("/proc/meminfo").is_file() else []  # Linux's
    if available is None:  # (where there is no MemAvailable, not checked)
        available = 1024 * int(meminfo[meminfo.index("MemAvailable:") + 1]) if "MemAvailable:" in meminfo else np.inf
    if needed > available:
        raise ValueError(f"--population-size {batch} and --hidden-units {config.hidden_units} ({weights:,} weights) "
                         f"need about {needed / 1e9:,.1f} GB of memory; this machine has {available / 1e9:.1f} GB "
                         "available")


# %%
class Job(typing.NamedTuple):
    config: RunConfig
    folder: Path = None  # the run's folder, locked
    start: tuple = None  # a checkpoint's (State, history) to carry on from
    policy: tuple = None  # --play: (path, model)
    play: object = None  # where generations are played (play_on's), or None: here
    lock: object = None  # held until the job is done


def prepare(argv=None, play_on=None, prog=PROG):  # the Job the command line asks for; bad input ends here, in a line
    given, policy_path, resume = parse_args(argv, prog=prog)
    try:
        config = check(RunConfig(**given))
        if policy_path:
            return Job(config, policy=(policy_path, load_policy(policy_path)))
        folder, start = Path(resume or config.out or time.strftime(f"runs/seed{config.seed}-%Y%m%d-%H%M%S")), None
        if resume:
            saved, *start = load_checkpoint(resume)
            config = resumed_config(saved, given, len(start[1]))
        config = dataclasses.replace(config, out=str(folder))
        check_memory(config)
        where = play_on and play_on(config)  # (before the folder is claimed: nothing written yet)
        return Job(config, folder, start, None, where, claim("--resume" if resume else "--out", folder))
    except ValueError as error:
        usage_error(str(error), prog)


def outcome(result, config):  # the result of a run that played at least one generation, in a line
    last = result.history[-1]
    caught = f"{round(last['catch_rate'] * FRUITS)}/{FRUITS} fruits caught"
    if result.status == "solved":
        return (f"solved: all {FRUITS} fruits caught after {last['generation']} generations, {last['games']:,} games, "
                f"{last['seconds']:.1f} s")
    if result.status == "stuck":
        return (f"stuck: for {STUCK_AFTER} generations every candidate scored the same, so every estimate was exactly "
                f"zero; --sigma {config.sigma} is too small to change a single action ({caught})")
    return f"not solved: {caught} after {config.generations} generations"


# %%
def stop_run(why, folder, prog, status):  # one line that names what is kept, and exit: a full disk, a lost cluster
    kept = (folder / "checkpoint.npz").is_file() and len(load_checkpoint(folder)[2])
    resume = f"the checkpoint of generation {kept} is whole: python {prog} --resume {folder}"
    sys.stderr.write(f"{prog}: stopped: {why}; {'no checkpoint is kept' if kept is False else resume}\n")
    sys.exit(status)


def main(argv=None, play_on=None, prog=PROG):
    cache = use_compile_cache()  # before TensorFlow first looks at its devices, when it reads its flags
    job = prepare(argv, play_on, prog)  # job.lock is held until we return
    config, folder = job.config, job.folder
    if job.policy:  # --play
        path, model = job.policy
        catches = count_catches(play(greedy(model), *start_states()))
        print(f"{path} catches {catches}/{FRUITS} fruits: exact catch rate {catches / FRUITS:.1%}")
        return show_games(*replay(model, 3, config.seed)) if config.render else None
    with StopSignals() as stop:
        try:
            write_atomically(folder / "config.json", lambda path: path.write_text(json.dumps(vars(config))))
            result = train(config, Hooks(play=job.play, keep_going=keep_going(folder, config, stop), start=job.start))
            if result.status != "stopped":  # (a stopped run saved its checkpoint as it stopped)
                save_checkpoint(folder, config, result.state, result.history)  # resuming replays the last generation
                print(outcome(result, config))  # the pictures take half a second: the result first
            save_run(result, folder, pictures=result.status != "stopped")
            if cache:  # what it compiled, whole, for the next run to load
                write_atomically(cache / "digests.json", lambda path: path.write_text(json.dumps(digests(cache))))
        except FloatingPointError as error:
            stop_run(error, folder, prog, 1)
        except BrokenPipeError:  # (an OSError of the reader's, not of the disk: see run_as_script)
            raise
        except OSError as error:
            stop_run(f"cannot write {error.filename}: {error.strerror}", folder, prog, 74)
    if result.status == "stopped":
        print(f"\ninterrupted before generation {len(result.history)}: saved a checkpoint, the network so far and its "
              f"history to {folder}/\nresume with: python {prog} --resume {folder}")
        sys.exit(128 + stop.requested)
    print(f"saved the trained network, its settings, history and pictures to {folder}/\n"
          f"replay it with: python catch_es.py --play {folder / 'policy.keras'}")
    if config.render:
        show_games(*replay(result.model, 3, config.seed))
    return result


# %%
def run_as_script(main):  # run `main`; if whoever read the output left (`| head`), stop quietly, as other tools do
    try:
        main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    if sys.gettrace() is None and sys.getprofile() is None and "coverage" not in sys.modules:  # nobody listens
        sys.stdout.flush()
        os._exit(0)  # every file is written and closed: skip TensorFlow's second of teardown


if __name__ == "__main__" and not NOTEBOOK:
    run_as_script(main)
