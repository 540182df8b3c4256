"""The scaling-out study on a cluster of several nodes, as Ray tests itself (`ray.cluster_utils.Cluster`: a head and
nodes on this machine, each with its own raylet and object store), and on a cluster begun by the README's own command,
`ray start --head`. Everything listens on the loopback address only (conftest.py), and each test stops what it started.
"""

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import ray
from ray.cluster_utils import Cluster

import catch_es as ce
import scale_out as so
from test_checkpoints import final_weights
from test_scale_out import CONFIG, SMALL_RUN, here, quiet, without_seconds  # noqa: F401  (here: the run every one must equal)

LOOPBACK = {"node_ip_address": "127.0.0.1", "object_store_memory": 80 * 2**20}
ROOT = ce.Path(ce.__file__).parent


@pytest.fixture(scope="module")
def cluster():
    """A head that runs no worker, and three nodes of one CPU each; this process is the driver."""
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, **LOOPBACK}
    )
    try:
        for _ in range(3):
            cluster.add_node(num_cpus=1, **LOOPBACK)
        # the way --ray-address joins one: tokens checked first
        so.connect_ray(3, cluster.address, [ce, so])
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


class LoseNodes:
    """Play as `players` does, but first remove the node of one of its workers in the generations given."""

    def __init__(self, cluster, players, generations):
        self.cluster, self.players, self.generations, self.calls, self.lost = (
            cluster,
            players,
            generations,
            0,
            [],
        )

    def __call__(self, strategy):
        if self.calls in self.generations:
            node_id = self.players.where()[-1][1]
            node = next(node for node in self.cluster.worker_nodes if node.node_id == node_id)
            # its raylet, object store and workers: gone
            self.cluster.remove_node(node, allow_graceful=False)
            self.lost.append(node_id)
        self.calls += 1
        return self.players(strategy)


def test_workers_spread_over_the_nodes_and_a_lost_node_changes_no_weight(cluster, here):
    said = []
    players = so.RayPlayers(
        CONFIG, 3, cluster.address, say=lambda line: print(said.append(line) or line)
    )
    try:
        # one worker a node: a lost node takes one share only
        assert len({node for _, node in players.where()}) == 3
        cluster.add_node(num_cpus=1, **LOOPBACK)  # room for one new worker
        play = LoseNodes(cluster, players, generations=(2, 5))
        result = ce.run_training(CONFIG, attempt=ce.played_by(play, CONFIG), progress=quiet)
        after = [node for _, node in players.where()]
    finally:
        players.close()
    assert said == [
        "generation 2: lost 1 of 3 workers, played their shares again; 3 workers now",
        "generation 5: lost 1 of 3 workers, played their shares again; 2 workers now; "
        "no free CPU for the rest: the pairs are cut among fewer",
    ]
    assert len(after) == len(set(after)) == 2 and not set(after) & set(play.lost)
    np.testing.assert_array_equal(ce.flatten_weights(result.model), ce.flatten_weights(here.model))
    assert without_seconds(result.history) == without_seconds(here.history)
    print(
        f"{len(result.history)} generations on a cluster that lost 2 of its 4 worker nodes: the same weights as in one "
        f"process ({ce.flatten_weights(result.model).size:,} of them) and the same history"
    )


def listening_sockets_of_this_process_and_its_descendants():
    """(address, port) of every TCP socket listening in this process or any process it started (Linux /proc)."""
    parents = {}
    for stat in ce.Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            pass
    family, grew = {os.getpid()}, True
    while grew:
        grew = bool(new := {pid for pid, parent in parents.items() if parent in family} - family)
        family |= new
    inodes = set()
    for pid in family:
        for fd in ce.Path(f"/proc/{pid}/fd").glob("*"):
            try:
                inodes.add(os.readlink(fd))
            except OSError:
                pass
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in ce.Path(table).read_text().splitlines()[1:]:
            local, state, inode = line.split()[1], line.split()[3], line.split()[9]
            if state == "0A" and f"socket:[{inode}]" in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                found.append(
                    (
                        bytes.fromhex(address)[::-1].hex() if len(address) == 8 else address,
                        int(port, 16),
                    )
                )
    return found


def test_every_ray_process_of_the_cluster_listens_on_the_loopback_address_only(cluster):
    listening = listening_sockets_of_this_process_and_its_descendants()
    # the GCS, 4 raylets, object managers, agents, this driver's own servers
    assert len(listening) > 10
    loopback = {"7f000001", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}
    assert all(address in loopback for address, _ in listening), listening


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_start_head(tmp_path):
    """`ray start --head` as the README gives it, on ports of its own, with a token as a new user's machine makes it
    (`ray get-auth-token --generate` in an empty home); stopped at the end by its own process group, nothing else."""
    # a new user's shell
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_AUTH")}
    env.update(HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    subprocess.run(
        [*ray_cli, "get-auth-token", "--generate"], env=env, check=True, capture_output=True
    )
    port = free_port()
    head = subprocess.Popen(
        [
            *ray_cli,
            "start",
            "--head",
            "--block",
            "--port",
            str(port),
            "--num-cpus",
            "1",
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
            "--ray-client-server-port",
            str(free_port()),
            "--min-worker-port",
            "0",
            "--max-worker-port",
            "0",
            "--dashboard-agent-listen-port",
            str(free_port()),
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while head.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        assert head.poll() is None, "ray start --head ended"
        yield f"127.0.0.1:{port}", env
    finally:
        # the session `ray start` leads: its GCS, raylet and workers
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        os.killpg(head.pid, signal.SIGKILL) if head.poll() is None else None
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_the_readme_cluster_command_joins_with_the_token_ray_keeps_and_refuses_others_in_one_line(
    ray_start_head, here, tmp_path, capsys, monkeypatch
):
    address, env = ray_start_head
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scale_out.py"),
            "--ray-address",
            address,
            "--workers",
            "1",
            "--generations",
            "8",
            "--out",
            str(tmp_path / "run"),
            *SMALL_RUN,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"playing each generation on 1 worker of the Ray cluster at {address}" in run.stdout
    np.testing.assert_array_equal(final_weights(tmp_path / "run"), ce.flatten_weights(here.model))

    # A wrong token, or none: one line that says what to set (the check asks the head once, before joining).
    monkeypatch.setenv("HOME", env["HOME"])
    for token, said in (
        ("wrong", "the cluster refused the token from RAY_AUTH_TOKEN"),
        (None, "the cluster wants a token and none was found"),
    ):
        monkeypatch.delenv("RAY_AUTH_TOKEN")
        if token:
            monkeypatch.setenv("RAY_AUTH_TOKEN", token)
        else:
            monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "no token here"))
        with pytest.raises(SystemExit) as exit:
            so.main(
                ["--ray-address", address, "--workers", "1", "--out", str(tmp_path / "refused")]
            )
        err = capsys.readouterr().err
        assert exit.value.code == 2 and err.count("\n") == 1
        assert (
            f"--ray-address {address}: {said}; set RAY_AUTH_TOKEN to the one `ray get-auth-token` prints"
            in err
        )
        assert not (tmp_path / "refused").exists()
