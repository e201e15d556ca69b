"""t2 joins a Ray cluster that uses token auth as it is: with the head's token it runs work
there, without it the join is refused in one line (t2 never switches auth off).
python -m pytest tests/reliability/test_ray_token_auth.py -q
"""

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cluster_helpers import start_node, stop_nodes, wait_for_nodes
from t2.infra.dist import free_port

pytestmark = [pytest.mark.slow, pytest.mark.ray]

JOIN = """
import sys
from t2.infra.config import ConfigError
from t2.infra.ray_cluster import start_or_join_ray
try:
    start_or_join_ray(sys.argv[1], log_to_driver=False)
    import ray
    print("ran on", ray.get(ray.remote(lambda: ray.get_runtime_context().get_node_id())
                           .remote()))
except ConfigError as err:
    print("refused:", err)
"""


@pytest.fixture(scope="module")
def token_cluster():
    """A one-node ``ray start --head`` with RAY_AUTH_MODE=token and its own token."""
    token = secrets.token_hex(32)
    temp = tempfile.mkdtemp(prefix="t2tok", dir="/tmp")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")} | {
        "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_USAGE_STATS_ENABLED": "0"}
    node = start_node(["--head", f"--port={port}", "--include-dashboard=false",
                       "--num-cpus=1", f"--temp-dir={temp}", "--disable-usage-stats"],
                      Path(temp) / "head.log", env)
    try:
        wait_for_nodes(f"127.0.0.1:{port}", 1, env=env)
        yield f"127.0.0.1:{port}", env
    finally:
        stop_nodes([node])


def join(address: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, "-c", JOIN, address], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_with_the_head_token_t2_joins_and_runs_work_there(token_cluster):
    address, env = token_cluster
    assert join(address, env).startswith("ran on ")


def test_without_the_token_the_join_is_refused_in_one_line(token_cluster):
    address, env = token_cluster
    bare = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
    out = join(address, bare | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64})
    assert out.startswith(f"refused: --ray-address {address}: cannot join the Ray cluster")
    assert "RAY_AUTH_MODE=token" in out
