"""A real multi-node Ray cluster on one machine for tests: ``ray start --head`` and
``ray start --address`` per extra node, each in its own session and with its own ports.

    with local_cluster(num_nodes=2, dashboard=True) as cluster:
        cluster.address      # "127.0.0.1:PORT": ray.init(address=...) / train(ray_address=...)
        cluster.dashboard    # "http://127.0.0.1:PORT": ray job submit --address ...
        cluster.node_ids     # the Ray node ids, head first

Never ``ray stop`` (it would stop every Ray on the machine): each node is a ``ray start --block``
process whose session this module kills on exit. ``separate_temp_dirs`` gives each node its own
Ray temp dir, as on real machines: nodes sharing one would share ``runtime_resources`` too, and
one node's runtime-env agent would delete a job's ``--working-dir`` under the other's driver.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_helpers import clean_env
from t2.infra.dist import free_port

RAY = str(Path(sys.executable).with_name("ray"))


@dataclass(frozen=True)
class Cluster:
    address: str
    dashboard: str | None
    node_ids: list[str]
    env: dict
    logs: list[Path]


def start_node(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    """``ray start ... --block`` in its own session: SIGTERM stops the node's processes, and
    the session id lets the finalizer reach any that outlive it (never ``ray stop``, which
    would stop every Ray on the machine)."""
    with open(log, "w") as f:
        return subprocess.Popen([RAY, "start", *args, "--block"], stdout=f,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_nodes(procs: list[subprocess.Popen]) -> None:
    for proc in procs:  # all at once: each node takes a while to wind down
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of this node's session
        except ProcessLookupError:
            pass
        proc.wait()


def wait_for_nodes(address: str, num: int, timeout: float = 120,
                   env: dict | None = None) -> list[str]:
    """The ids of the cluster's alive nodes once there are ``num`` of them, head first
    (asked from a process with ``env``: a token cluster needs its token)."""
    code = ("import json, ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
            "nodes = [n for n in ray.nodes() if n['Alive']]; "
            "nodes.sort(key=lambda n: 'node:__internal_head__' not in n['Resources']); "
            "print(json.dumps([n['NodeID'] for n in nodes]))")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.run([sys.executable, "-c", code, address], capture_output=True,
                              text=True, env=env or clean_env(), check=False)
        if proc.returncode == 0:
            ids = json.loads(proc.stdout.strip().splitlines()[-1])
            if len(ids) == num:
                return ids
        time.sleep(2)
    pytest.fail(f"Ray cluster at {address}: {num} nodes not alive after {timeout} s")


def wait_for_dashboard(url: str, timeout: float = 60) -> None:
    """The job-submission server answers (it starts a little after the head's GCS)."""
    from urllib.request import urlopen

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urlopen(f"{url}/api/version", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"Ray dashboard at {url}: no answer after {timeout} s")


@contextmanager
def local_cluster(num_nodes: int = 2, *, cpus_per_node: int = 1, dashboard: bool = False,
                  separate_temp_dirs: bool = False):
    """A head plus ``num_nodes - 1`` nodes, ``cpus_per_node`` CPUs each; stopped on exit."""
    # short private temp dirs: Ray's socket paths must stay < 108 chars
    temps = [tempfile.mkdtemp(prefix="t2ray", dir="/tmp")
             for _ in range(num_nodes if separate_temp_dirs else 1)]
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = clean_env(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    url = None
    head = [f"--port={port}", "--include-dashboard=false"]
    if dashboard:  # loopback only; the job agents of both nodes on ports of their own
        url = f"http://127.0.0.1:{free_port()}"
        head = [f"--port={port}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                f"--dashboard-port={url.rsplit(':', 1)[1]}",
                f"--ray-client-server-port={free_port()}"]
    nodes, logs = [], []
    try:
        for i in range(num_nodes):
            temp = temps[i % len(temps)]
            args = ["--head", *head] if i == 0 else [f"--address={address}"]
            if dashboard:
                args.append(f"--dashboard-agent-listen-port={free_port()}")
            args += [f"--num-cpus={cpus_per_node}", f"--temp-dir={temp}",
                     "--disable-usage-stats", "--resources=" + json.dumps({f"node_{i}": 1})]
            logs.append(Path(temp) / f"node-{i}.log")
            nodes.append(start_node(args, logs[-1], env))
            node_ids = wait_for_nodes(address, i + 1)
        if url:
            wait_for_dashboard(url)
        yield Cluster(address, url, node_ids, env, logs)
    finally:
        stop_nodes(nodes[::-1])
        for temp in temps:
            shutil.rmtree(temp, ignore_errors=True)
