# %% [markdown]
"""
# ES against reinforcement learning, measured

**Description:** train REINFORCE beside the evolution strategy of `catch_es.py`, from the
same initial weights, and measure each claim made for evolution strategies instead of
repeating it.

A study beside `catch_es.py`, which it imports for the game, the network, the ES and the
training loop; read that file first.

    python es_vs_rl.py                       # both learners on Catch, side by side (seed 0)
    python es_vs_rl.py --fall-every 4        # ... on a game four times as long
    python es_vs_rl.py tune                  # REINFORCE's settings, swept on seeds 100 to 104
    python es_vs_rl.py claims --quick        # three games, 2 seeds each: a few minutes
    python es_vs_rl.py claims                # nine games, 30 seeds each: the committed results

## The claims

Notes that compare evolution strategies with reinforcement learning, following Salimans et
al. (2017), credit ES with: no backpropagation; parallelism; robustness to the rate of
interaction (frame-skip); structured exploration (deterministic policies, noise in the
weights); and credit assignment over long episodes. They name one weakness: when the noise
changes no outcome, there is no signal. `catch_es.py` shows the weakness (`--sigma 1e-8`
stops "stuck") and answers its milder form with restarts. The other claims need a
reinforcement learner beside the ES, and games that are longer or acted on less often.

## Longer games and a slower player

Three knobs change the game without changing the board or the network:

* `--fall-every M`: the fruit falls one row on every M-th step, so a game lasts 9·M steps
  and its only reward still comes at the end;
* `--action-repeat K`: the policy decides on every K-th step, and the basket repeats that
  action on the steps in between, as Atari agents do with frame-skip;
* `--no-slack`: with `--fall-every M`, the basket moves only on the steps on which the fruit
  falls. A longer game otherwise also gives the basket M moves per row, so that a late or a
  wrong move can be made good: the horizon and the slack grow together. Without slack a game
  of 9·M steps still has 9 moves that count, and M − 1 of every M decisions change nothing.

The exact rules: at step t = 0 … 9·M − 1, if t is a multiple of K the policy sees the board
and picks an action; the basket moves by the last action picked (its centre clipped to 1 … 8),
with `--no-slack` only if t + 1 is a multiple of M; if t + 1 is a multiple of M, the fruit
falls one row. After the last step the fruit is on the
bottom row and scores as in `catch_es.py`. With both knobs at 1 this is that game, step for
step. `play_variant` is a loop the compiler keeps as a loop, as `catch_es.play` is: unrolled,
72 steps took XLA 19.7 s to compile and 4.5 s to play a generation; as a loop, 54 ms after
1.4 s of compiling (`python benchmarks/benchmark.py --loops --quick`).
"""


# %%
import argparse
import csv
import dataclasses
import functools
import itertools
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

import catch_es as ce

tf, ops = ce.tf, ce.ops


# %%
def step_variant(state, actions, t, fall_every, slack=True):
    """catch_es's step as step t of a longer game: the fruit falls only if t + 1 is a multiple of fall_every.

    Without slack the basket too moves only on those steps: the actions in between change nothing."""
    falls = (t + 1) % fall_every == 0
    moved, reward = ce.step(state, actions if slack else ops.where(falls, actions, ce.STAY))
    return moved._replace(fruit_row=ops.where(falls, moved.fruit_row, state.fruit_row)), ops.where(falls, reward, 0.0)


def play_variant(policy, fruit_columns, basket_centres, fall_every=1, action_repeat=1, slack=True):
    """catch_es's `play` on the game with two knobs, as one compiled loop: each game's score."""

    def one_step(t, state, actions, reward):
        state = ce.CatchState(*state)
        actions = ops.where(t % action_repeat == 0, policy(state), actions)  # decide, or repeat
        state, reward = step_variant(state, actions, t, fall_every, slack)
        return t + 1, tuple(state), actions, reward

    steps = ce.GAME_LENGTH * fall_every
    start = (0, tuple(ce.reset(fruit_columns, basket_centres)), ops.ones_like(basket_centres),
             ops.zeros_like(basket_centres, "float32"))
    return ops.while_loop(lambda t, *_: t < steps, one_step, start, maximum_iterations=steps)[-1]


# %% [markdown]
"""
The study's settings add to `catch_es.RunConfig` the two knobs, REINFORCE's own, and the
budget each learner gets in a comparison.
"""


# %%
@dataclasses.dataclass(frozen=True)
class StudyConfig(ce.RunConfig):
    fall_every: int = 1  # the fruit falls one row every this many steps: a game lasts 9 times as many
    action_repeat: int = 1  # the policy decides every this many steps; the basket repeats its action in between
    slack: bool = True  # with --fall-every, the basket moves on every step; --no-slack: only when the fruit falls
    reinforce_learning_rate: float = 0.003  # Adam's step size for REINFORCE (chosen by `tune`, as the next two)
    reinforce_games_per_start: int = 1  # REINFORCE plays each of the 80 start states this many times per update
    reinforce_entropy: float = 0.01  # REINFORCE's entropy bonus: how much it is paid for keeping its actions random
    compare_games: int = 3_000_000  # games each learner may play to learn (measuring its catch rate not counted)
    compare_seconds: float = 600.0  # a safety cap on each learner's wall-clock seconds, reported when it binds


ACCEPTS = {**ce.ACCEPTS,  # what the study's settings accept, as well as catch_es's: checked by catch_es.check
    **dict.fromkeys(["fall_every", "action_repeat", "reinforce_games_per_start", "compare_games"],
                    ce.ACCEPTS["generations"]),
    **dict.fromkeys(["reinforce_learning_rate", "compare_seconds"], ce.ACCEPTS["sigma"]),
    "reinforce_entropy": ce.ACCEPTS["weight_decay"], "slack": ce.ACCEPTS["render"]}
PROG = "es_vs_rl.py"  # how errors name this script


def game_of(config):
    """The game a study's settings describe: `play_variant` with its three knobs."""
    return functools.partial(play_variant, fall_every=config.fall_every, action_repeat=config.action_repeat,
                             slack=config.slack)


def variant_name(config):
    """The options that name the game, or "" for catch_es's game."""
    same = config.fall_every == config.action_repeat == 1
    return "" if same else (f"--fall-every {config.fall_every} --action-repeat {config.action_repeat}"
                            + " --no-slack" * (not config.slack and config.fall_every > 1))


# %% [markdown]
"""
### Can every fruit still be caught?

Not in every variant. With `--action-repeat 9` the policy decides once, on the first
step, and the basket then moves nine cells the same way: it ends on column 1, 8, or where
it started, and a fruit falling in column 4 is lost from most starts. A learner that never
reaches 80 of 80 there has not failed, so the study says so before it starts.

The check is exhaustive. First, per start state, is there *any* sequence of actions that
catches its fruit? If not, no policy can. If every start state passes, a policy must still
choose one action per board it sees, and two games that show the same board get the same
action. `winnable` searches for such a table from boards to actions, game after game,
trying the move towards the fruit first and backtracking after a miss. Boards with the fruit
in different columns never coincide, so each column is searched on its own.
"""


# %%
def basket_moved(centre, action):
    """`catch_es.step`'s move of one basket, on plain integers: its centre after `action`, kept on the grid."""
    return min(max(centre + action - 1, 1), ce.GRID_SIZE - 2)


def open_loop_catchable(fruit_column, basket_centre, fall_every=1, action_repeat=1, slack=True):
    """Does any sequence of actions (each held for action_repeat steps) catch this game's fruit?"""
    positions = {(basket_centre, ce.STAY)}  # the basket's centre and the action it repeats
    for t in range(ce.GAME_LENGTH * fall_every):
        if t % action_repeat == 0:
            positions = {(centre, action) for centre, _ in positions for action in ce.ACTIONS}
        if slack or (t + 1) % fall_every == 0:
            positions = {(basket_moved(centre, action), action) for centre, action in positions}
    return any(abs(fruit_column - centre) <= 1 for centre, _ in positions)


class Winnable(NamedTuple):
    verdict: object  # True: some policy catches every fruit; False: none does; None: undecided
    lost: list  # the start states (fruit column, basket centre) that no sequence of actions catches
    boards: int  # the boards the search tried
    policy: dict  # when True: an action for each board (fruit column, fruit row, basket centre) it needs


# %%
def winnable(fall_every=1, action_repeat=1, slack=True, node_limit=1_000_000):
    """Can any policy, a table from boards to actions, catch all 80 fruits of the game with these knobs?"""
    lost = [(int(c), int(b)) for c, b in zip(*ce.start_states())
            if not open_loop_catchable(c, b, fall_every, action_repeat, slack)]
    moved = lambda centre, action, t: basket_moved(centre, action) if slack or (t + 1) % fall_every == 0 else centre
    if lost:
        return Winnable(False, lost, 0, {})
    steps, tried = ce.GAME_LENGTH * fall_every, 0

    def play_on(column, centres, table, t, row, centre, action):
        """Play the game that starts at centres[0] on from step t, then the others, extending `table`: all caught?"""
        nonlocal tried
        while t < steps and t % action_repeat:  # no decision: the basket repeats its action
            centre, row, t = moved(centre, action, t), row + ((t + 1) % fall_every == 0), t + 1
        if t == steps:
            return abs(column - centre) <= 1 and (
                len(centres) == 1 or play_on(column, centres[1:], table, 0, 0, centres[1], ce.STAY))
        towards = ce.STAY if abs(column - centre) <= 1 else ce.RIGHT if column > centre else ce.LEFT
        others = [action for action in ce.ACTIONS if action != towards]
        choices = [table[row, centre]] if (row, centre) in table else [towards] + others
        for choice in choices:
            tried += 1
            if tried > node_limit:
                raise TimeoutError
            new = (row, centre) not in table
            table[row, centre] = choice
            falls = (t + 1) % fall_every == 0
            if play_on(column, centres, table, t + 1, row + falls, moved(centre, choice, t), choice):
                return True
            if new:
                del table[row, centre]
        return False

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * steps * (ce.GRID_SIZE - 2)))  # a frame per decision
    tables = {column: {} for column in range(ce.GRID_SIZE)}
    try:
        verdict = all(play_on(column, list(range(1, ce.GRID_SIZE - 1)), tables[column], 0, 0, 1, ce.STAY)
                      for column in range(ce.GRID_SIZE))
    except TimeoutError:
        verdict = None
    policy = {(column, *board): action for column, table in tables.items() for board, action in table.items()}
    return Winnable(verdict, [], tried, policy if verdict else {})


# %%
def describe_winnable(fall_every, action_repeat, slack=True, node_limit=1_000_000):
    """One line on whether every fruit of this game can be caught."""
    answer = winnable(fall_every, action_repeat, slack, node_limit)
    game = f"--fall-every {fall_every} --action-repeat {action_repeat}" + " --no-slack" * (not slack)
    if answer.verdict:
        return f"{game}: a policy that catches all {ce.FRUITS} fruits exists (found after {answer.boards:,} boards)"
    if answer.verdict is None:
        return f"{game}: undecided whether any policy catches every fruit ({answer.boards:,} boards tried)"
    if answer.lost:
        return (f"{game}: no policy catches every fruit: no sequence of actions catches {len(answer.lost)} of the "
                f"{ce.FRUITS} start states, so at most {ce.FRUITS - len(answer.lost)}/{ce.FRUITS}")
    return f"{game}: no policy catches every fruit: no table from boards to actions does ({answer.boards:,} boards)"


# %% [markdown]
"""
## REINFORCE, the baseline

The introduction of `catch_es.py` set `R · n` beside REINFORCE's `R · grad log p`. Here is
REINFORCE on the same game, with the same network and the same initial weights. The
network's three scores become probabilities through a softmax, and during training the
actions are *sampled* from them: that is how REINFORCE explores. After a batch of games, each
game's return `R` (+1 or -1) multiplies the gradient of the log-probability of every action
taken in it, so the actions of won games become more likely and those of lost games less.
Subtracting the batch's mean return (a baseline) leaves the expected step unchanged and makes
it much less noisy. The gradient comes from TensorFlow's automatic differentiation, i.e.
backpropagation through the network at every step of every game, and an ordinary Keras Adam
takes the step. Like the ES, a whole batch of games, and the update, is one compiled call.
An optional entropy bonus (`--reinforce-entropy`) pays it for keeping its actions random, a
common guard against settling too early on one action.

It is judged as the ES is, by the exact catch rate of its greedy policy, and also as what it
trains: `sampled_catch_rate` computes the expected catch rate of the policy that samples its
actions, exactly, by carrying each game's probability of every basket position forward.
"""


# %%
def reinforce_gradient(model, config, games_per_start):
    """REINFORCE's gradient from `games_per_start` sampled games of each start state of the run's game.

    The returned function maps the sampling seeds (one pair of integers per step) to the
    gradient and the games' rewards; it is meant to be traced inside a compiled function.
    """
    fruit_columns, basket_centres = (np.tile(states, games_per_start) for states in ce.start_states())
    steps = ce.GAME_LENGTH * config.fall_every

    def gradient(seeds):
        def one_step(t, state, actions, log_probability, entropy, reward):  # play_variant's, sampling actions
            state = ce.CatchState(*state)
            scores = model(ce.observe(state))
            sampled = tf.random.stateless_categorical(scores, 1, seed=seeds[t], dtype="int32")[:, 0]
            decides = t % config.action_repeat == 0  # a repeated action was not chosen, so it has no log p
            actions = ops.where(decides, sampled, actions)
            log_p = ops.log_softmax(scores)
            chosen = ops.sum(log_p * ops.one_hot(actions, len(ce.ACTIONS)), axis=-1)
            entropy += ops.where(decides, -ops.sum(ops.exp(log_p) * log_p, axis=-1), 0.0)
            state, reward = step_variant(state, actions, t, config.fall_every, config.slack)
            return t + 1, tuple(state), actions, log_probability + ops.where(decides, chosen, 0.0), entropy, reward

        with tf.GradientTape() as tape:
            zeros = ops.zeros(len(fruit_columns))
            start = (0, tuple(ce.reset(fruit_columns, basket_centres)), ops.ones_like(basket_centres), zeros,
                     zeros, zeros)
            *_, log_probability, entropy, reward = ops.while_loop(lambda t, *_: t < steps, one_step, start,
                                                                  maximum_iterations=steps)
            # R · grad log p, with the mean return as baseline. Keras minimises, hence the minus.
            loss = -ops.mean((reward - ops.mean(reward)) * log_probability)
            loss -= config.reinforce_entropy * ops.mean(entropy) / -(-steps // config.action_repeat)
        return tape.gradient(loss, model.trainable_variables), reward

    return gradient


# %%
class Reinforce:
    """REINFORCE's network, Adam and compiled update for one game; `start(seed)` readies them for a run."""

    def __init__(self, config):
        self.hidden_units = config.hidden_units
        self.model = ce.build_policy(config.hidden_units)
        self.optimizer = ce.keras.optimizers.Adam(config.reinforce_learning_rate)
        self.optimizer.build(self.model.trainable_variables)
        self.fresh = [variable.numpy() for variable in self.optimizer.variables]  # Adam before any step
        gradient = reinforce_gradient(self.model, config, config.reinforce_games_per_start)

        @tf.function(jit_compile=True)
        def update(seeds):
            gradients, reward = gradient(seeds)
            self.optimizer.apply(gradients, self.model.trainable_variables)
            return reward

        self.update = update
        self.measure = ce.make_player(self.model, game_of(config))  # the greedy policy's exact catch rate

    def start(self, seed):
        """The same initial weights as the ES of this seed, and a fresh Adam; nothing is compiled again."""
        ce.keras.utils.set_random_seed(seed)
        ce.set_flat_weights(self.model, ce.flatten_weights(ce.build_policy(self.hidden_units)))
        for variable, value in zip(self.optimizer.variables, self.fresh):
            variable.assign(value)


# %%
def sampled_catch_rate(model, config):
    """The exact expected catch rate, over the 80 start states, of the policy that samples its actions."""
    rows, columns, centres = np.meshgrid(range(ce.GRID_SIZE), range(ce.GRID_SIZE), range(1, ce.GRID_SIZE - 1),
                                         indexing="ij")
    boards = ce.CatchState(*(ops.convert_to_tensor(a.ravel().astype("int32")) for a in (rows, columns, centres)))
    odds = ops.convert_to_numpy(ops.softmax(model(ce.observe(boards)))).astype("float64")
    odds = odds.reshape(ce.GRID_SIZE, ce.GRID_SIZE, ce.GRID_SIZE - 2, len(ce.ACTIONS))  # row, column, centre
    fruit_columns, basket_centres = ce.start_states()
    chance = np.zeros((ce.FRUITS, ce.GRID_SIZE - 2, len(ce.ACTIONS)))  # each game's P(basket centre, last action)
    chance[np.arange(ce.FRUITS), basket_centres - 1, ce.STAY] = 1.0
    row = 0
    for t in range(ce.GAME_LENGTH * config.fall_every):
        if t % config.action_repeat == 0:  # decide: P(centre) times the policy's odds on that board
            chance = chance.sum(axis=2, keepdims=True) * odds[row, fruit_columns]
        falls = (t + 1) % config.fall_every == 0
        if config.slack or falls:
            moved = np.zeros_like(chance)
            for centre, action in np.ndindex(ce.GRID_SIZE - 2, len(ce.ACTIONS)):
                moved[:, basket_moved(centre + 1, action) - 1, action] += chance[:, centre, action]
            chance = moved
        row += falls
    caught = np.abs(fruit_columns[:, None] - np.arange(1, ce.GRID_SIZE - 1)) <= 1  # (game, basket centre)
    return float(np.mean(np.sum(chance.sum(axis=2) * caught, axis=1)))


# %%
def reinforce_row(number, rewards, catches, games, start):
    """One update's record, with the columns of catch_es's history that apply to it."""
    return dict(generation=number, mean_reward=round(float(np.mean(rewards)), 6), min_reward=float(np.min(rewards)),
                max_reward=float(np.max(rewards)), catch_rate=catches / ce.FRUITS, games=games,
                seconds=round(time.perf_counter() - start, 4))


def training_games(history):
    """The games a learner played to learn: its history's games, less the 80 per row that measured its catch rate."""
    return history[-1]["games"] - ce.FRUITS * len(history) if history else 0


def train_reinforce(config, progress=None, stop=None, learner=None, watch=None):
    """REINFORCE until solved, `config.compare_games` games to learn, or `stop`; history as in `catch_es.train`.

    `learner`, a `Reinforce` built for the same settings, saves compiling it again; `watch(catches, weights)`
    sees each update's network before it learns from it. The network returned is the one last measured.
    """
    progress = progress or ce.Progress(config, label="update")
    learner = learner or Reinforce(config)
    learner.start(config.seed)
    steps = ce.GAME_LENGTH * config.fall_every
    history, games, start, status = [], 0, time.perf_counter(), "limit"
    for number in range(sys.maxsize):
        weights = ce.flatten_weights(learner.model)
        catches = ce.count_catches(learner.measure(weights[None])[0])
        if watch:
            watch(catches, weights)
        step_seeds = np.array([[config.seed, number * steps + t] for t in range(steps)], "int32")
        rewards = learner.update(step_seeds).numpy()
        games += rewards.size + ce.FRUITS  # the sampled games, and the 80 greedy ones that measured the catch rate
        history.append(reinforce_row(number, rewards, catches, games, start))
        status = "solved" if catches == ce.FRUITS else status
        done = status == "solved" or training_games(history) >= config.compare_games
        progress(history, done)  # (a Deadline hears this row before it is asked)
        if not done and stop and stop.requested:
            status, done = "stopped", True
        if done:  # as the ES does, the last games' update is not taken: the network is the one measured
            ce.set_flat_weights(learner.model, weights)
            break
    return ce.TrainingResult(learner.model, history, status, None)  # (no ES state to carry on from)


# %% [markdown]
"""
## Side by side

`race` trains both learners from the same initial weights, each within the same budget: a
number of games to learn from (the games that measure a learner's exact catch rate, 80 per
generation or update, are not counted for either). A clock is kept only as a safety cap, and
when it is what stopped a learner, the study says so. `compare` tabulates what each needed to
reach 80 out of 80 and plots their exact catch rates on shared axes.
"""


# %%
class Deadline:
    """A stop request that comes by itself, and why: the games budget is spent ("games"), the learner
    reached `target` catches, the best its game allows ("best possible"), or `seconds` passed ("clock").

    It is also the learner's progress function (passing each row on to `show`): that is how it
    hears how many games have been played.
    """

    def __init__(self, games, seconds, target=ce.FRUITS, show=None):
        self.games, self.end, self.target, self.show = games, time.perf_counter() + seconds, target, show
        self.played, self.catches = 0, 0

    def __call__(self, history, done):
        self.played, self.catches = training_games(history), round(history[-1]["catch_rate"] * ce.FRUITS)
        if self.show:
            self.show(history, done)

    @property
    def why(self):
        return ("best possible" if self.catches >= self.target else "games" if self.played >= self.games else
                "clock" if time.perf_counter() > self.end else "")

    @property
    def requested(self):
        return bool(self.why)


# %%
def es_player(config):
    """The ES's player for the study's game: catch_es's player, with `play_variant` as its game."""
    return ce.play_here(ce.build_policy(config.hidden_units), game_of(config))


def without_restarts(config):
    """The ES's settings with its restarts turned off: a patience no run reaches."""
    return dataclasses.replace(config, patience=sys.maxsize)


# %%
class Run(NamedTuple):
    result: object  # catch_es.TrainingResult
    why: str  # "solved", or what stopped it: "games", "clock", "best possible"


def race(config, play_generation=None, learner=None, show=True, target=ce.FRUITS, watch=None, no_restarts_too=False,
         strategies=None):
    """Both learners on the run's game from the same initial weights, each within the budget: {name: Run}.

    `play_generation`, `learner` and `strategies` (one per population), built once for the game, spare
    compiling them again for every seed;
    `watch(name, catches, weights)` sees each generation's or update's network; `no_restarts_too` also runs
    the ES without restarts, as "ES, no restarts".
    """
    play_generation = play_generation or es_player(config)
    quiet = None if show else (lambda history, done: None)
    es_configs = {"ES": config, **({"ES, no restarts": without_restarts(config)} if no_restarts_too else {})}
    runs = {}
    for name, es_config in es_configs.items():
        def play(strategy, name=name):
            catches, rewards, before = play_generation(strategy)
            if watch:
                watch(name, catches, before.theta)  # the theta that was measured
            return catches, rewards, before

        # Enough generations for the budget of games at the first population: the games run out first.
        es_config = dataclasses.replace(es_config, generations=config.compare_games // (
            config.population_size * ce.FRUITS) + 2)
        budget = Deadline(config.compare_games, config.compare_seconds, target, quiet or ce.Progress(es_config))
        result = ce.train(es_config, ce.Hooks(progress=budget, play=play, strategies=strategies,
                                              keep_going=lambda strategy, history: not budget.requested))
        runs[name] = Run(result, "solved" if result.status == "solved" else budget.why or "games")
    budget = Deadline(config.compare_games, config.compare_seconds, target, quiet)
    result = train_reinforce(config, budget, budget, learner, watch and functools.partial(watch, "REINFORCE"))
    runs["REINFORCE"] = Run(result, "solved" if result.status == "solved" else budget.why or "games")
    return runs


# %%
def plot_curves(curves, path, title):
    """curves: {label: history}; exact catch rate against games (log) and against wall time."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    for axes, (x, x_label, scale) in zip(figure.subplots(1, 2, sharey=True), [
            ("games", "games played (log scale)", "log"), ("seconds", "wall time (s)", "linear")]):
        for label, history in curves.items():
            line, = axes.plot([row[x] for row in history], [row["catch_rate"] for row in history], label=label)
            if x == "seconds":  # from 0 to the first point: compiling, before the first measurement
                axes.plot([0, history[0][x]], [history[0]["catch_rate"]] * 2, ":", color=line.get_color(),
                          label=f"{label}: compiling, before the first measurement")
        axes.set(xlabel=x_label, xscale=scale, ylim=(-0.02, 1.02))
        axes.grid(alpha=0.3)
    figure.axes[0].set_ylabel("exact catch rate of the greedy policy (0 to 1)")
    figure.suptitle(title)
    axes.legend(loc="lower right", fontsize="small")
    ce.write_atomically(path, figure.savefig)
    return figure


# %%
def compare(config, folder):
    results = {name: run.result for name, run in race(config).items()}
    rows = []
    for name, result in results.items():
        last = result.history[-1]
        solved = result.status == "solved"
        rows.append(dict(learner=name, solved=solved, games=training_games(result.history) if solved else "",
                         seconds=last["seconds"] if solved else "", backprop_gradients=len(result.history) if
                         name == "REINFORCE" else 0, final_catches=round(last["catch_rate"] * ce.FRUITS)))
        ce.save_history(result.history, folder / f"{name.lower()}_history.csv")
    ce.save_history(rows, folder / "comparison.csv")
    print(f"\n{'learner':<10}  {'games until solved':>18}  {'seconds until solved':>20}  "
          f"{'backprop gradients':>18}  {'final catches':>13}")
    for row in rows:
        games = f"{row['games']:,}" if row["solved"] else "not solved"
        seconds = f"{row['seconds']:.1f}" if row["solved"] else "not solved"
        print(f"{row['learner']:<10}  {games:>18}  {seconds:>20}  {row['backprop_gradients']:>18,}  "
              f"{row['final_catches']:>10}/{ce.FRUITS}")
    plot_curves({f"{name}, exact catch rate": result.history for name, result in results.items()},
                folder / "es_vs_reinforce.png", f"ES and REINFORCE from the same initial weights (seed {config.seed}"
                f"{', ' * bool(variant_name(config)) + variant_name(config)})")
    return rows


# %% [markdown]
"""
## Measuring the claims

`python es_vs_rl.py claims` trains the learners on nine games (catch_es's; longer games with
M = 2, 4, 8, with slack and, for M = 4 and 8, without; action repeat K = 2, 3, and K = 9 as a
control), 30 seeds each. The rules of the measurement, chosen so that it favours neither:

* **One budget, in games, for every learner and seed**: 3,000,000 games to learn from. The 80
  games per generation or update that measure a learner's exact catch rate count for neither.
  A clock of 600 s per run is only a safety cap; a run it stops is marked "clock".
* **Compiling is not timed.** Each game's players, for every population a restart can reach,
  and REINFORCE's update are compiled before the first seed; the seconds count learning only.
* **Both learners tuned, on other seeds.** The ES's settings come from a 100-seed sweep on
  catch_es's game (`benchmarks/sweep.py`); REINFORCE's from the sweep of `python es_vs_rl.py
  tune` (learning rate, games per start state, entropy bonus) on seeds 100 to 104, two games.
* **The ES with and without restarts**, both rows shown, restarts counted per seed, so that
  "the same initial weights" is true of the row without them.
* **A game with no policy that catches every fruit** (K = 9, at most 60/80) ends a run when it
  reaches the best possible, "best possible", instead of burning the budget.
* **Each as what it is**: the greedy catch rate for every learner (that is how both are
  judged), and for REINFORCE also the expected catch rate of the sampled policy it trains.
* **Intervals**: Wilson 95% intervals on the fraction of seeds solved, bootstrap 95%
  intervals on medians (an unsolved seed counts as never, so a median can be "never").

It also measures the gradients' noise: at initial networks and at a plateau (the last
network of a run that sat at 78 or 79 of 80, from a seed that stalled there if one did), three
estimates of a gradient, each many times over: the ES's raw mirrored estimate from 4,000
games, the centred-rank update the ES trains with (its population of 100, 8,000 games), and
REINFORCE's from 4,000 games. It reports each one's signal-to-noise ratio `|E g|² / trace Cov g`.
"""


# %%
HORIZONS = [(1, 1, True), (2, 1, True), (4, 1, True), (8, 1, True)]  # (fall_every M, action_repeat K, slack)
NO_SLACK = [(4, 1, False), (8, 1, False)]  # T = 36 and 72 steps with 9 moves that count
REPEATS = [(1, 2, True), (1, 3, True), (1, 9, True)]  # K = 9: one decision per game, the control
ORDER = [(1, 1, True), (1, 3, True), (8, 1, True), (8, 1, False), (1, 9, True), (4, 1, False), (4, 1, True),
         (2, 1, True), (1, 2, True)]  # the full run's order: the games that test a claim most directly first
LEARNERS = ("ES", "ES, no restarts", "REINFORCE")
ESTIMATORS = ("ES, raw", "ES, centred ranks", "REINFORCE")


def parse_games(text):
    """'1x1,8x1,8x1noslack,1x3' -> [(1, 1, True), (8, 1, True), (8, 1, False), (1, 3, True)]"""
    games = []
    for item in text.split(","):
        slack = not item.endswith("noslack")
        try:
            fall_every, action_repeat = (int(number) for number in item.removesuffix("noslack").split("x"))
        except ValueError:
            fall_every = action_repeat = 0
        if min(fall_every, action_repeat) < 1:
            raise argparse.ArgumentTypeError(f"{text!r}: expected MxK pairs such as 1x1,8x1,8x1noslack,1x3")
        games.append((fall_every, action_repeat, slack))
    return games


def same_game(row, other):
    return all(row[knob] == other[knob] for knob in ("fall_every", "action_repeat", "slack"))


def game_name(fall_every, action_repeat, slack):
    return f"M={fall_every}, K={action_repeat}" + ", no slack" * (not slack)


# %%
def parse_claims_args(argv=None, prog="claims"):
    parser = argparse.ArgumentParser(prog=f"es_vs_rl.py {prog}", description="Measure the notes' claims: the "
                                     "learners on several games and seeds, and the noise of their gradients.")
    parser.error = functools.partial(ce.usage_error, prog=PROG)  # one line, exit status 2
    parser.add_argument("--quick", action="store_true", help="fewer seeds and games, a smaller budget and noise "
                        "sample: a few minutes")
    parser.add_argument("--seeds", type=int, help="seeds 0 .. N-1 per game (default 30; --quick 2)")
    parser.add_argument("--games", type=int, help="games each learner may play to learn, per seed (default "
                        "3,000,000; --quick 300,000)")
    parser.add_argument("--seconds", type=float, default=600.0, help="safety cap on each run's seconds")
    parser.add_argument("--snr-games", type=int, default=4_000, help="games behind each raw gradient estimate")
    parser.add_argument("--snr-repeats", type=int, help="REINFORCE's estimates per network (default 40; --quick 8)")
    parser.add_argument("--es-snr-repeats", type=int, help="the ES's estimates per network (default 400; --quick "
                        "40): its signal is fainter, its estimates cheaper")
    parser.add_argument("--snr-networks", type=int, help="initial networks, seeds 0 .. N-1 (default 3; --quick 1)")
    parser.add_argument("--settings", type=parse_games, metavar="MxK,...", help="the games to measure (default: "
                        "1x1,2x1,4x1,8x1,4x1noslack,8x1noslack,1x2,1x3,1x9; --quick 1x1,4x1noslack,1x9)")
    parser.add_argument("--out", help="folder for the CSV files and plots (default: benchmarks/claims, with --quick "
                        "runs/claims-quick, so that a quick try never writes over the committed results)")
    parser.add_argument("--plot-only", action="store_true", help="draw the plots again from --out's CSV files")
    args = parser.parse_args(argv)
    quick = args.quick
    args.out = args.out or ("runs/claims-quick" if quick else "benchmarks/claims")
    args.seeds = args.seeds or (2 if quick else 30)
    args.games = args.games or (300_000 if quick else 3_000_000)
    args.snr_repeats = args.snr_repeats or (8 if quick else 40)
    args.es_snr_repeats = args.es_snr_repeats or (40 if quick else 400)
    args.snr_networks = args.snr_networks or (1 if quick else 3)
    args.settings = args.settings or (parse_games("1x1,4x1noslack,1x9") if quick else ORDER)
    if min(args.seeds, args.games, args.seconds, args.snr_networks) <= 0 or min(args.snr_repeats,
                                                                               args.es_snr_repeats) < 2:
        parser.error("--seeds, --games, --seconds, --snr-networks must be > 0, --snr-repeats and --es-snr-repeats >= 2")
    if args.snr_games < 2 * ce.FRUITS:
        parser.error(f"--snr-games must be at least {2 * ce.FRUITS}: one mirrored pair of candidates")
    return args


# %% [markdown]
"""
### Intervals

A fraction of seeds solved gets Wilson's 95% interval (sound for small counts and for 0 or
all solved); a median gets the 2.5th and 97.5th percentiles of the medians of 2,000
resamples of the seeds, with replacement (the bootstrap). With 30 seeds, 27/30 solved is
0.74 to 0.97: two learners' fractions are told apart only when the intervals barely overlap.
"""


# %%
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
    medians = np.sort(values[picks], axis=1)[:, (len(values) - 1) // 2]  # the lower median: never inf from halves
    low, high = np.quantile(medians, [0.025, 0.975], method="inverted_cdf")
    return float(np.sort(values)[(len(values) - 1) // 2]), float(low), float(high)


def summary(values):
    """'median [low, high]', an unsolved run counting as never."""
    show = lambda v: "never" if v == math.inf else f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
    middle, low, high = median_interval(values)
    return f"{show(middle)} [{show(low)}, {show(high)}]"


# %%
class Game:
    """One game's compiled ES player and REINFORCE learner, and its gradient estimators; compiled up front."""

    def __init__(self, config, snr_games):
        start = time.perf_counter()
        self.config = config
        tf.get_logger().setLevel("ERROR")  # compiling for every population is meant: no warning about retracing
        model = ce.build_policy(config.hidden_units)
        self.player = ce.make_player(model, game_of(config))
        self.learner = Reinforce(config)
        self.learner.update(np.zeros((ce.GAME_LENGTH * config.fall_every, 2), "int32"))  # compile it now
        self.play_generation, self.strategies = ce.play_here(model, game_of(config)), {}
        for restarts in range(64):  # a strategy, its generation compiled, for every population a restart reaches
            if ce.population_of(config, restarts) not in self.strategies:
                self.play_generation(ce.new_strategy(config, restarts, strategies=self.strategies)[1])
        gradient = reinforce_gradient(self.learner.model, config, snr_games // ce.FRUITS)
        self.reinforce_gradient = tf.function(jit_compile=True)(
            lambda seeds: ops.concatenate([ops.reshape(g, [-1]) for g in gradient(seeds)[0]]))
        self.pairs = snr_games // (2 * ce.FRUITS)
        self.strategy = ce.EvolutionStrategy(ce.flatten_weights(model), config.population_size, config.sigma,
                                             config.learning_rate, config.weight_decay)
        self.compile_seconds = time.perf_counter() - start

    def race(self, seed, target=ce.FRUITS, watch=None):
        return race(dataclasses.replace(self.config, seed=seed), self.play_generation, self.learner, show=False,
                    target=target, watch=watch, no_restarts_too=True, strategies=self.strategies)

    def es_raw(self, theta, seed, repeat):
        """The ES's estimate from `pairs` mirrored pairs: sum over pairs of (R+ - R-) / (2 sigma) n, averaged."""
        noise = np.random.default_rng([seed, repeat]).standard_normal((self.pairs, len(theta)), dtype="float32")
        candidates = np.stack([theta + self.config.sigma * noise, theta - self.config.sigma * noise], axis=1)
        rewards = self.player(candidates.reshape(-1, len(theta))).mean(axis=1, dtype="float64")
        return (rewards[0::2] - rewards[1::2]) / (2 * self.config.sigma) @ noise / self.pairs

    def es_centred(self, theta, seed, repeat):
        """The update the ES trains with: `tell`'s centred-rank gradient, from one generation at theta."""
        generation = seed * 1_000_000 + repeat  # fresh noise for every estimate
        self.strategy.load(ce.State(theta, generation, self.strategy.fresh_adam))
        totals = self.player(np.asarray(self.strategy.ask())).sum(axis=1)
        return np.asarray(self.strategy.tell(totals), "float64")  # (its Adam step moves theta; put back next time)

    def reinforce_estimate(self, theta, seed, repeat):
        ce.set_flat_weights(self.learner.model, theta)
        steps = ce.GAME_LENGTH * self.config.fall_every
        seeds = np.array([[seed, repeat * steps + t] for t in range(steps)], "int32")
        return self.reinforce_gradient(seeds).numpy().astype("float64")


# %%
def signal_and_noise(estimates):
    """|E g|² and trace Cov g of one estimate, from independent estimates.

    |mean|² overstates |E g|² by the mean's own noise, trace Cov / n; subtracting it leaves an
    unbiased estimate, which can come out below zero when the signal is lost in the noise.
    """
    estimates = np.asarray(estimates)
    noise = estimates.var(axis=0, ddof=1).sum()
    return np.sum(estimates.mean(axis=0) ** 2) - noise / len(estimates), noise


# %%
class Plateaus:
    """For each learner, the last network of a run that sat one or two catches short of `target`, preferring a
    run that stalled there: `watch` sees every network, `keep` closes a seed's run."""

    def __init__(self, target):
        self.target, self.found, self.latest = target, {}, {}

    def watch(self, learner, catches, weights):
        if self.target - 2 <= catches < self.target:
            self.latest[learner] = (catches, np.array(weights))

    def keep(self, learner, seed, solved):
        if learner in self.latest and (learner not in self.found or self.found[learner][1] and not solved):
            catches, weights = self.latest[learner]
            self.found[learner] = (seed, solved, catches, weights)
        self.latest.pop(learner, None)


# %%
def measure_runs(game, args, target):
    M, K, slack = game.config.fall_every, game.config.action_repeat, game.config.slack
    runs, plateaus = [], Plateaus(target)
    for seed in range(args.seeds):
        for learner, (result, why) in game.race(seed, target, plateaus.watch).items():
            history, solved = result.history, why in ("solved", "best possible")
            plateaus.keep(learner, seed, solved)
            runs.append(dict(fall_every=M, action_repeat=K, slack=slack, steps=ce.GAME_LENGTH * M, seed=seed,
                             learner=learner, solved=solved, why=why, target=target,
                             games=training_games(history) if solved else math.inf,
                             seconds=history[-1]["seconds"] if solved else math.inf,
                             played=training_games(history), seconds_played=history[-1]["seconds"],
                             updates=len(history), restarts=history[-1].get("restarts", 0),
                             final_catches=round(history[-1]["catch_rate"] * ce.FRUITS),
                             sampled_catch_rate=round(sampled_catch_rate(result.model, game.config), 4)
                             if learner == "REINFORCE" else ""))
        print(f"  seed {seed}: " + ", ".join(f"{run['learner']} {run['why']} ({run['final_catches']}/80)"
                                             for run in runs[-len(LEARNERS):]), flush=True)
    return runs, plateaus.found


# %%
def measure_noise(game, args, plateaus):
    M, K, slack = game.config.fall_every, game.config.action_repeat, game.config.slack
    networks = []
    for seed in range(args.snr_networks):
        ce.keras.utils.set_random_seed(seed)
        networks.append((f"initial, seed {seed}", "initial", ce.flatten_weights(ce.build_policy(
            game.config.hidden_units))))
    for learner, (seed, solved, catches, weights) in plateaus.items():
        if learner != "ES, no restarts":
            networks.append((f"{learner} at {catches}/80, seed {seed}" + " (stalled)" * (not solved), "plateau",
                             weights))
    rows = []
    for number, (network, where, theta) in enumerate(networks):
        for estimator, estimate, repeats, games in (
                ("ES, raw", game.es_raw, args.es_snr_repeats, 2 * game.pairs * ce.FRUITS),
                ("ES, centred ranks", game.es_centred, args.es_snr_repeats, game.config.population_size * ce.FRUITS),
                ("REINFORCE", game.reinforce_estimate, args.snr_repeats, args.snr_games)):
            signal, noise = signal_and_noise([estimate(theta, number, repeat) for repeat in range(repeats)])
            rows.append(dict(fall_every=M, action_repeat=K, slack=slack, steps=ce.GAME_LENGTH * M, network=network,
                             where=where, estimator=estimator, estimates=repeats, games=games, signal=signal,
                             noise=noise, snr=signal / noise))
    return rows



# %%
def print_table(name, verdict, compile_seconds, runs, snr):
    print(f"\n{name}: {verdict}" + (f"\n  compiled in {compile_seconds:.1f} s before the first seed (not counted)"
                                    if compile_seconds is not None else ""))
    print(f"  {'learner':<16} {'solved [95% CI]':>20} {'median games to learn [95% CI]':>36} "
          f"{'median s':>9} {'restarts':>8} {'stopped by':>22} {'sampled':>8}")
    for learner in LEARNERS:
        mine = [run for run in runs if run["learner"] == learner]
        solved, low, high = sum(run["solved"] for run in mine), *wilson(sum(run["solved"] for run in mine), len(mine))
        stops = {why: sum(run["why"] == why for run in mine) for why in ("games", "clock")}
        sampled = [run["sampled_catch_rate"] for run in mine if run["sampled_catch_rate"] != ""]
        print(f"  {learner:<16} {solved:>3}/{len(mine):<3}[{low:.2f}, {high:.2f}] "
              f"{summary([run['games'] for run in mine]):>36} {summary([run['seconds'] for run in mine]).split()[0]:>9} "
              f"{sum(run['restarts'] for run in mine):>8} "
              f"{', '.join(f'{n} {why}' for why, n in stops.items() if n) or '-':>22} "
              f"{f'{statistics.median(sampled):.3f}' if sampled else '':>8}")
    for row in snr:
        print(f"  SNR of {row['estimator']:<18} at {row['network']:<36} {row['snr']:10.2e}  "
              f"(trace Cov {row['noise']:.3g}, {row['estimates']} estimates of {row['games']:,} games)")


# %%
def log_axes(axes, label, ticks):
    """Log-log axes whose x ticks are the values measured."""
    axes.set(xscale="log", yscale="log", xlabel=label)
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xticks(ticks or [1], [str(tick) for tick in ticks or [1]])
    axes.grid(alpha=0.3)


SIDES = [("steps", "game length T (steps; M = T / 9), with slack", lambda r: r["action_repeat"] == 1 and r["slack"]),
         ("steps", "game length T without slack (9 moves count)", lambda r: r["action_repeat"] == 1 and (
             not r["slack"] or r["fall_every"] == 1)),
         ("action_repeat", "action repeat K (steps each decision is held)", lambda r: r["fall_every"] == 1)]
COLOURS = {"ES": "tab:blue", "ES, no restarts": "tab:green", "REINFORCE": "tab:orange"}
OFFSETS = {"ES": 0.92, "ES, no restarts": 1.0, "REINFORCE": 1.08}  # keep the learners' dots apart
STOPPED = {"games": "x", "clock": "v"}  # how an unsolved run is drawn, at the games it played


# %%
def plot_games(runs, args, out):
    """Per game variant: games to learn until 80/80, per seed and median with its interval; unsolved runs drawn
    at the games they played, marked by what stopped them; and the fraction of seeds solved with its interval."""
    figure = Figure(figsize=(15, 8), layout="constrained")
    panels = figure.subplots(2, len(SIDES), sharey="row", height_ratios=[2, 1])
    for column, (x, label, keep) in enumerate(SIDES):
        axes, shares = panels[0, column], panels[1, column]
        for learner in LEARNERS:
            mine = [run for run in runs if run["learner"] == learner and keep(run)]
            xs = sorted({run[x] for run in mine})
            if not xs:
                continue
            at = functools.partial(np.multiply, OFFSETS[learner])
            done = [run for run in mine if run["solved"]]
            axes.scatter([at(run[x]) for run in done], [run["games"] for run in done], s=10, alpha=0.35,
                         color=COLOURS[learner])
            for why, marker in STOPPED.items():
                lost = [run for run in mine if run["why"] == why]
                axes.scatter([at(run[x]) for run in lost], [run["played"] for run in lost], marker=marker, s=30,
                             color=COLOURS[learner], label=f"{learner}: not solved, stopped by the "
                             f"{'games budget' if why == 'games' else 'clock'}" if lost else None)
            intervals = [(value, *median_interval([run["games"] for run in mine if run[x] == value])) for value in xs]
            shown = [(value, middle, low, high) for value, middle, low, high in intervals if middle < math.inf]
            if shown:
                value, middle, low, high = (np.array(column) for column in zip(*shown))
                high = np.minimum(high, args.games * 3)  # an interval that reaches "never": drawn up to the top
                axes.errorbar(at(value), middle, yerr=np.maximum(0, [middle - low, high - middle]), fmt="-o", capsize=3,
                              color=COLOURS[learner], label=f"{learner}: median, 95% interval (dots: each seed)")
            fractions = [(value, sum(run["solved"] for run in mine if run[x] == value),
                          sum(run[x] == value for run in mine)) for value in xs]
            value, middle, low, high = (np.array(column) for column in zip(*[
                (value, k / n, *wilson(k, n)) for value, k, n in fractions]))
            shares.errorbar(at(value), middle, yerr=np.maximum(0, [middle - low, high - middle]), fmt="-o", capsize=3,
                            color=COLOURS[learner], label=learner)
        axes.axhline(args.games, color="grey", linestyle=":", label=f"budget: {args.games:,} games")
        ticks = sorted({run[x] for run in runs if keep(run)})
        log_axes(axes, "", ticks)
        shares.set(xscale="log", xlabel=label, ylim=(-0.05, 1.05))
        shares.xaxis.set_minor_locator(NullLocator())
        shares.set_xticks(ticks or [1], [str(tick) for tick in ticks or [1]])
        shares.grid(alpha=0.3)
    panels[0, 0].set_ylabel("games played to learn until 80/80\n(log scale; crosses: where unsolved runs stopped)")
    panels[1, 0].set_ylabel("fraction of seeds solved\n(Wilson 95% interval)")
    panels[0, 0].legend(fontsize="x-small", loc="lower left")
    panels[1, 0].legend(fontsize="x-small", loc="lower left")
    seeds = sorted({len({(run["fall_every"], run["action_repeat"], run["slack"], run["seed"]) for run in runs
                         if same_game(run, other)}) for other in runs})
    figure.suptitle(f"Games each learner needed to catch every fruit ({' or '.join(map(str, seeds))} seeds per game; "
                    "K = 9: the best possible, 60/80, counts as solved)")
    ce.write_atomically(out / "claims_games.png", figure.savefig)
    return figure


# %%
def plot_snr(snr, out):
    """Each estimator's signal-to-noise ratio per game, at the initial networks and at the plateaus."""
    games = sorted({(row["fall_every"], row["action_repeat"], row["slack"]) for row in snr},
                   key=lambda game: (game[1], not game[2], game[0]))
    figure = Figure(figsize=(13, 4.8), layout="constrained")
    axes = figure.subplots()
    for number, estimator in enumerate(ESTIMATORS):
        for where, marker in (("initial", "o"), ("plateau", "D")):
            points = [(games.index((row["fall_every"], row["action_repeat"], row["slack"])) + 0.25 * (number - 1),
                       max(row["snr"], 1e-7)) for row in snr if row["estimator"] == estimator and row["where"] == where]
            if points:
                axes.scatter(*zip(*points), marker=marker, s=28, alpha=0.7, color=list(COLOURS.values())[number],
                             label=f"{estimator}, at {'initial networks' if where == 'initial' else 'a plateau'}")
    axes.set(yscale="log", ylabel="signal-to-noise ratio |E g|² / trace Cov g\n(log scale; ≤ 0: drawn at 1e-7)")
    axes.set_xticks(range(len(games)), [game_name(*game).replace(", ", "\n") for game in games])
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", ncols=3, loc="upper left")
    figure.suptitle("How noisy each gradient estimate is: the ES's raw estimate (4,000 games), the centred-rank "
                    "update it trains with (8,000), REINFORCE's (4,000)")
    ce.write_atomically(out / "claims_snr.png", figure.savefig)
    return figure


# %%
def write_csv(rows, path):
    ce.save_history(rows, path)  # any list of rows: written whole, or not at all


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


# %%
def claims(argv=None):
    """`python es_vs_rl.py claims ...`: every game, every learner, many seeds; tables, CSV files, plots."""
    args = parse_claims_args(argv)
    out = Path(args.out)
    if args.plot_only:  # the tables again, and the plots, from the CSV files
        runs, snr = read_csv(out / "claims.csv"), read_csv(out / "snr.csv")
        for first in {game_name(run["fall_every"], run["action_repeat"], run["slack"]): run for run in runs}.values():
            game = (first["fall_every"], first["action_repeat"], first["slack"])
            print_table(game_name(*game), describe_winnable(*game), None,
                        [run for run in runs if same_game(run, first)], [row for row in snr if same_game(row, first)])
        plot_games(runs, args, out)
        return plot_snr(snr, out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{args.seeds} seeds per game; each learner may play {args.games:,} games to learn per seed (a safety cap "
          f"of {args.seconds:g} s); gradient noise from {args.es_snr_repeats} (ES) and {args.snr_repeats} "
          f"(REINFORCE) estimates at {args.snr_networks} initial networks and at the plateaus", flush=True)
    runs, snr, start = [], [], time.perf_counter()
    for M, K, slack in args.settings:
        config = StudyConfig(fall_every=M, action_repeat=K, slack=slack, compare_games=args.games,
                             compare_seconds=args.seconds, render=False)
        answer = winnable(M, K, slack)
        target = ce.FRUITS - len(answer.lost)  # the most a policy could catch, where every game's fruit is lost
        verdict = describe_winnable(M, K, slack)
        print(f"\n{game_name(M, K, slack)}: {verdict}", flush=True)
        game = Game(config, args.snr_games)
        game_runs, plateaus = measure_runs(game, args, target)
        game_snr = measure_noise(game, args, plateaus)
        print_table(game_name(M, K, slack), verdict, game.compile_seconds, game_runs, game_snr)
        runs += game_runs
        snr += game_snr
        write_csv(runs, out / "claims.csv")
        write_csv(snr, out / "snr.csv")
    plot_games(runs, args, out)
    plot_snr(snr, out)
    print(f"\nwrote claims.csv, snr.csv, claims_games.png and claims_snr.png to {out}/ "
          f"({time.perf_counter() - start:.0f} s in all)")


# %% [markdown]
"""
### Tuning REINFORCE, as the ES was tuned

The ES's settings were chosen by a sweep over 100 seeds of catch_es's game
(`benchmarks/sweep.py`). REINFORCE gets a sweep of its own, declared here and run by `python
es_vs_rl.py tune`: learning rate 0.003, 0.01 or 0.03; 1 or 4 games per start state in each
update; an entropy bonus of 0 or 0.01: twelve settings, each on seeds 100 to 104 (none of the
seeds measured above), on catch_es's game and on action repeat 3 (where REINFORCE stalled in
an earlier, untuned run), within 1,000,000 games to learn per seed. The best setting solves
the most seeds, and among those needs the fewest games (the geometric mean of its two medians).
"""

# %%
TUNING = {"reinforce_learning_rate": (0.003, 0.01, 0.03), "reinforce_games_per_start": (1, 4),
          "reinforce_entropy": (0.0, 0.01)}


def parse_tune_args(argv=None):
    parser = argparse.ArgumentParser(prog="es_vs_rl.py tune", description="Sweep REINFORCE's settings on seeds "
                                     "that the claims do not measure.")
    parser.error = functools.partial(ce.usage_error, prog=PROG)  # one line, exit status 2
    parser.add_argument("--quick", action="store_true", help="2 seeds, catch_es's game, 200,000 games: a minute")
    parser.add_argument("--first-seed", type=int, default=100, help="the first seed (default 100)")
    parser.add_argument("--seeds", type=int, help="this many seeds from --first-seed (default 5; --quick 2)")
    parser.add_argument("--games", type=int, help="games to learn per seed (default 1,000,000; --quick 200,000)")
    parser.add_argument("--settings", type=parse_games, metavar="MxK,...", help="the games (default 1x1,1x3; "
                        "--quick 1x1)")
    parser.add_argument("--out", help="folder for reinforce_sweep.csv (default: benchmarks/claims; --quick "
                        "runs/tune-quick)")
    args = parser.parse_args(argv)
    args.seeds = args.seeds or (2 if args.quick else 5)
    args.games = args.games or (200_000 if args.quick else 1_000_000)
    args.settings = args.settings or parse_games("1x1" if args.quick else "1x1,1x3")
    args.out = args.out or ("runs/tune-quick" if args.quick else "benchmarks/claims")
    if min(args.seeds, args.games) <= 0 or args.first_seed < 0:
        parser.error("--seeds and --games must be > 0, --first-seed >= 0")
    return args


# %%
def tune(argv=None):
    """`python es_vs_rl.py tune ...`: every REINFORCE setting of TUNING on every game and seed; the best."""
    args = parse_tune_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, settings = [], [dict(zip(TUNING, values)) for values in itertools.product(*TUNING.values())]
    for M, K, slack in args.settings:
        target = ce.FRUITS - len(winnable(M, K, slack).lost)
        for setting in settings:
            config = StudyConfig(fall_every=M, action_repeat=K, slack=slack, compare_games=args.games, render=False,
                                 **setting)
            learner = Reinforce(config)
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                budget = Deadline(args.games, config.compare_seconds, target)
                result = train_reinforce(dataclasses.replace(config, seed=seed), budget, budget, learner)
                solved = result.status == "solved" or budget.why == "best possible"
                rows.append(dict(game=game_name(M, K, slack), **setting, seed=seed, solved=solved,
                                 why="solved" if solved else budget.why or "games",
                                 games=training_games(result.history) if solved else math.inf,
                                 played=training_games(result.history),
                                 final_catches=round(result.history[-1]["catch_rate"] * ce.FRUITS)))
            mine = rows[-args.seeds:]
            print(f"{game_name(M, K, slack)}, {setting}: solved {sum(row['solved'] for row in mine)}/{args.seeds}, "
                  f"median games {summary([row['games'] for row in mine])}", flush=True)
            write_csv(rows, out / "reinforce_sweep.csv")

    def score(setting):
        mine = [row for row in rows if all(row[name] == value for name, value in setting.items())]
        medians = [median_interval([row["games"] for row in mine if row["game"] == game])[0]
                   for game in dict.fromkeys(row["game"] for row in mine)]
        return sum(row["solved"] for row in mine), -math.exp(np.mean(np.log(medians)))

    best = max(settings, key=score)
    solved, games = score(best)
    print(f"\nbest: {best}: {solved}/{args.seeds * len(args.settings)} solved, geometric mean of the median games "
          f"{-games:,.0f}; wrote {out / 'reinforce_sweep.csv'}")
    return best


# %% [markdown]
"""
## What the measurements say

`python es_vs_rl.py claims` (the full run, commit noted in `benchmarks/claims/README.md`):
each cell is seeds solved with its Wilson 95% interval, then the median games to learn until
80/80 with its bootstrap 95% interval ("never": more than half the seeds did not solve).
Budget 3,000,000 games to learn per learner and seed; a 150 s safety cap per run (600 s by
default), marked "clock" where it stopped a run. catch_es's game has 30 seeds, the others 20.

| game | ES (restarts) | ES, no restarts | REINFORCE (tuned) | REINFORCE's sampled policy: expected catch rate |
|---|---|---|---|---|
| catch_es's (T = 9) | 23/30 [0.59, 0.88]; 1,248,000 [768,000, 1,776,000] | 19/30 [0.46, 0.78]; 1,248,000 [768,000, never] | 30/30 [0.89, 1.00]; 5,280 [5,040, 5,920] | 0.675 |
| `--fall-every 8` (T = 72, 8 moves a row) | 20/20 [0.84, 1.00]; 560,000 [488,000, 880,000] | 19/20 [0.76, 0.99]; 560,000 [488,000, 880,000] | 20/20 [0.84, 1.00]; 6,880 [5,280, 8,400] | 0.889 |
| `--fall-every 4 --no-slack` (T = 36, 9 moves count) | 14/20 [0.48, 0.85]; 1,056,000 [616,000, 2,008,000] | 13/20 [0.43, 0.82]; 1,056,000 [616,000, never] | 20/20 [0.84, 1.00]; 11,040 [10,160, 14,240] | 0.728 |
| `--fall-every 8 --no-slack` (T = 72, 9 moves count) | 14/20 [0.48, 0.85]; 1,056,000 [616,000, 2,008,000] | 13/20 [0.43, 0.82]; 1,056,000 [616,000, never] | 16/20 [0.58, 0.92]; 20,320 [16,240, 27,680]; 4 stopped by the clock | 0.798 |
| `--action-repeat 3` | 15/20 [0.53, 0.89]; 1,760,000 [560,000, 2,536,000] | 12/20 [0.39, 0.78]; 2,432,000 [560,000, never] | 10/20 [0.30, 0.70]; 1,048,800 [284,800, never]; 10 stopped by the clock | 0.988 |
| `--action-repeat 9` (at most 60/80: reaching 60 counts) | 20/20 [0.84, 1.00]; 144,000 [120,000, 176,000] | 20/20 [0.84, 1.00]; 144,000 [120,000, 176,000] | 20/20 [0.84, 1.00]; 3,200 [2,720, 3,600] | 0.591 |

The gradients, from 400 (ES) or 40 (REINFORCE) estimates at each network, median over three
initial networks, then at a plateau (a network at 78 or 79 of 80):

| game | ES raw (4,000 games) | ES centred ranks (8,000 games) | REINFORCE (4,000 games) |
|---|---|---|---|
| catch_es's (T = 9) | 2.3e-04 initial; 1.0e-03 at ES at 79/80; 1.9e-03 at REINFORCE at 78/80 | 4.3e-04 initial; 1.3e-03 at ES at 79/80; 3.2e-03 at REINFORCE at 78/80 | 9.4e-01 initial; 9.5e+00 at ES at 79/80; 2.2e+01 at REINFORCE at 78/80 |
| `--fall-every 8` (T = 72, 8 moves a row) | 2.1e-04 initial; 4.5e-04 at ES at 79/80; 1.1e-03 at REINFORCE at 79/80 | 4.1e-04 initial; 8.3e-04 at ES at 79/80; 2.1e-03 at REINFORCE at 79/80 | 1.2e+00 initial; 7.5e+00 at ES at 79/80; 1.0e+00 at REINFORCE at 79/80 |
| `--fall-every 4 --no-slack` (T = 36, 9 moves count) | 2.3e-04 initial; 1.0e-03 at ES at 79/80; 1.0e-03 at REINFORCE at 79/80 | 4.3e-04 initial; 1.4e-03 at ES at 79/80; 2.1e-03 at REINFORCE at 79/80 | 2.1e-01 initial; 2.3e+00 at ES at 79/80; 3.2e+00 at REINFORCE at 79/80 |
| `--fall-every 8 --no-slack` (T = 72, 9 moves count) | 2.3e-04 initial; 1.0e-03 at ES at 79/80; 7.3e-04 at REINFORCE at 78/80 | 4.3e-04 initial; 1.4e-03 at ES at 79/80; 1.5e-03 at REINFORCE at 78/80 | 1.0e-01 initial; 1.1e+00 at ES at 79/80; 3.1e+00 at REINFORCE at 78/80 |
| `--action-repeat 3` | 5.2e-04 initial; 2.3e-04 at ES at 79/80; 1.7e-03 at REINFORCE at 79/80 | 9.9e-04 initial; 5.8e-04 at ES at 79/80; 3.4e-03 at REINFORCE at 79/80 | 4.6e+00 initial; 2.0e+01 at ES at 79/80; 9.2e+00 at REINFORCE at 79/80 |
| `--action-repeat 9` (at most 60/80: reaching 60 counts) | 1.3e-03 initial; 1.7e-03 at ES at 59/80; 2.1e-03 at REINFORCE at 58/80 | 2.3e-03 initial; 2.8e-03 at ES at 59/80; 4.1e-03 at REINFORCE at 58/80 | 2.5e+01 initial; 4.3e+01 at ES at 59/80; 3.0e+01 at REINFORCE at 58/80 |

What each gradient estimates. The ES's raw estimate is the gradient of the *Gaussian-smoothed*
mean reward of the greedy (argmax) policy, `E_n[R(theta + sigma·n)]`; the centred-rank update
is not the gradient of anything smooth: it points along the noise that ranked well, and its
SNR says how consistent that direction is from one generation to the next. REINFORCE's is the
gradient of the expected return of the *softmax* policy that samples its actions. Three
different targets: a ratio of their SNRs compares how repeatable each direction is, not which
learner is closer to 80/80. And SNR alone does not predict the games needed: at equal games
REINFORCE's SNR is about 4,000 times the ES's raw one, yet the ES needed about 240
times REINFORCE's games on catch_es's game, not 4,000 times. Adam rescales every weight's
step whatever the noise, the ranks turn a faint but consistent direction into full-size steps,
and what ends a run is the last fruit of the greedy policy, which neither objective measures.

The claims, against these figures:

* **Credit assignment over long episodes.** Salimans et al. (section 3.1) argue that the variance
  of REINFORCE's estimate grows with the length of a game and the ES's does not. With slack
  (`--fall-every 8`, the basket moving 8 times a row) the longer game was *easier* for the ES
  (20/20, 560,000 games against 23/30 and 1,248,000 at T = 9) and about as easy for REINFORCE
  (6,880 against 5,280): slack, not horizon, is what that variant changes. Without slack the
  ES's outcome is that of catch_es's game seed for seed (its greedy policy meets the same
  boards where it matters; the decisions that change nothing cost it nothing), while
  REINFORCE needed 5,280, 11,040 and 20,320 games at T = 9, 36 and 72, failed 4 of 20 seeds at
  T = 72 (all stopped by the safety cap, at 64 to 72 of 80), and its signal-to-noise ratio at
  the initial weights fell from 0.94 to 0.21 and 0.10. The claim holds in direction, measured
  without the confound; in size, REINFORCE still needed about 50 times fewer games at T = 72.
* **Robustness to the rate of interaction (frame-skip).** Salimans et al. (section 4.4) saw similar Pong learning
  curves for frame-skip 1 to 4, one run each. With actions held 3 steps the ES solved 15 of 20
  seeds [0.53, 0.89] against 23 of 30 [0.59, 0.88] at K = 1: no difference these intervals can
  see, so the claim holds as far as they go. REINFORCE solved 10 of 20 [0.30, 0.70]; its 10
  failures all sat at 79 of 80 and were stopped by the 150 s cap after 0.45 to 1.8 million of
  their 3 million games, so this verdict rests on a clock after all. What holds it there is
  not noise (its SNR at those networks, 9.2, was above the 4.6 at the initial weights) but the
  gap between what it trains and what it is judged on: its sampled policy caught 98.8% of the
  fruits on average while the greedy one missed one start state. With K = 9 (one decision a
  game) no policy catches more than 60, and every learner reached 60 on every seed.
* **Sample efficiency.** REINFORCE needed about 240 times fewer games on catch_es's
  game and solved every seed there; the ES learns a direction in 10,403 dimensions from one
  number per candidate, REINFORCE gets one for every weight from every step of every game.
* **No backpropagation.** True and measurable: the ES computes no gradient at all, REINFORCE
  one per update; the ES would work unchanged with a network that has no gradient.
* **Wall time and parallelism.** On 2 cores REINFORCE reaches 80/80 first on every game
  measured (median seconds in `benchmarks/claims/tables.txt`), and most of its run is
  compiling its update. Both learners are sequential from step to step and both batches
  parallelise: REINFORCE's games could be played on many workers too. The difference is what
  travels back: one number per ES candidate (`scale_out.py`), a gradient of 10,403 numbers
  per REINFORCE worker.
* **Structured exploration.** The ES's policy stays deterministic and the noise is in the
  weights; REINFORCE's per-step sampling is what it learns with, and what it is judged on
  differs: its greedy policy caught all 80 while the policy it trains caught 67.5% on
  average on catch_es's game. The entropy bonus the sweep chose keeps that policy random.
* **Restarts.** Within a budget of games, restarts help the ES less than without one:
  with restarts 23 of 30 seeds of catch_es's game solved,
  without 19 of 30 (intervals overlapping); at K = 3, 15 against 12 of 20. A restart doubles the population, so it spends the budget twice as fast.
* **The weakness.** When the noise changes no action, every candidate scores the same, every
  rank ties and the step is exactly zero: `python catch_es.py --sigma 1e-8` stops "stuck". At
  the plateaus above the ES's SNR is not zero but small, and REINFORCE's is larger than at its
  initial weights: noise is not what holds REINFORCE at 78 or 79 of 80.

Not measured in this run: `--fall-every 2` and `4` with slack and `--action-repeat 2` (the
earlier 10-seed run, before the fair budget, is in `benchmarks/claims/old-10-seeds/`).
"""


# %% [markdown]
"""
## The command line

`python es_vs_rl.py [options]` compares the two learners on one game: every setting of
`catch_es.py` and of `StudyConfig` is an option, checked the same way (one line, exit status
2, nothing written). `python es_vs_rl.py claims [options]` runs the measurement above.
"""


# %%
def compare_main(argv=None):
    """`python es_vs_rl.py [options]`: both learners on one game; writes runs/compare-seed<SEED>-<time>/."""
    given, _, _ = ce.parse_args(argv, StudyConfig, ACCEPTS, PROG)
    try:
        config = ce.check(StudyConfig(**given), ACCEPTS)
        folder = Path(config.out or time.strftime(f"runs/compare-seed{config.seed}-%Y%m%d-%H%M%S"))
        # REINFORCE's tape holds the boards, hidden layer and scores of every step of every game, and gradients.
        steps, games = ce.GAME_LENGTH * config.fall_every, ce.FRUITS * config.reinforce_games_per_start
        ce.check_memory(config, also=0.8e9 + 2 * 4 * games * steps * (ce.GRID_SIZE**2 + config.hidden_units + 3))
        lock = ce.claim("--out", folder)  # noqa: F841 (held until we return)
    except ValueError as error:
        ce.usage_error(str(error), PROG)
    config = dataclasses.replace(config, out=str(folder))
    print(describe_winnable(config.fall_every, config.action_repeat, config.slack))  # up front: can every fruit be caught?
    ce.write_atomically(folder / "config.json", lambda path: path.write_text(json.dumps(vars(config))))
    rows = compare(config, folder)
    print(f"wrote the table, both histories and es_vs_reinforce.png to {folder}/")
    return rows


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["claims"]:
            return claims(argv[1:])
        if argv[:1] == ["tune"]:
            return tune(argv[1:])
        return compare_main(argv[1:] if argv[:1] == ["compare"] else argv)
    except BrokenPipeError:
        raise
    except OSError as error:  # a full disk, the folder gone, no permission: one line, as catch_es.py says it
        sys.stderr.write(f"{PROG}: stopped: cannot write {error.filename}: {error.strerror}\n")
        sys.exit(74)


# %%
if __name__ == "__main__":
    ce.run_as_script(lambda: main([] if ce.NOTEBOOK else None))  # a notebook's sys.argv is its kernel's
