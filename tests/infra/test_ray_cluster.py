"""Ray started or joined by t2: a local Ray listens on loopback only and keeps token auth, a
stale ``ray_current_cluster`` does not derail it, a dead address is refused in one line, and a
given address always means the cluster.

Run: .venv/bin/python -m pytest tests/infra/test_ray_cluster.py -q
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from t2.infra.config import ConfigError
from t2.infra.dist import free_port
from t2.infra.ray_cluster import probe, start_or_join_ray, wants_ray

# A fresh interpreter (nothing of this test process's Ray state): plant a stale pointer, show
# that plain ray.init() trips on it, start through t2, run tasks so that workers exist, then
# list every listening TCP socket of this process and its descendants (all of Ray's processes).
CHILD = r"""
import json, os, sys, psutil
stale = os.path.join(os.environ["RAY_TMPDIR"], "ray")
os.makedirs(stale, exist_ok=True)
open(os.path.join(stale, "ray_current_cluster"), "w").write(sys.argv[1])
import ray
try:
    ray.init(num_cpus=1, include_dashboard=False)
    plain = "started"
except Exception as err:
    plain = str(err).splitlines()[0]
from t2.infra.ray_cluster import start_or_join_ray
from ray._private.authentication.authentication_utils import is_token_auth_enabled
assert start_or_join_ray(None, num_cpus=1, log_to_driver=False)
@ray.remote
def pid():
    return os.getpid()
workers = sorted(set(ray.get([pid.remote() for _ in range(4)])))
me = psutil.Process()
procs = {p.pid: p.name() for p in [me, *me.children(recursive=True)]}
listening = [[procs[c.pid], c.laddr.ip, c.laddr.port] for c in psutil.net_connections("inet")
             if c.status == psutil.CONN_LISTEN and c.pid in procs]
print(json.dumps({"plain": plain, "auth": is_token_auth_enabled(), "workers": workers,
                  "cpus": ray.cluster_resources()["CPU"], "listening": listening}))
ray.shutdown()
"""
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


@pytest.fixture(scope="module")
def local_ray():
    """What a t2-started local Ray looked like from the inside (see CHILD)."""
    dead = f"127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory(prefix="t2r", dir="/tmp") as tmp:  # short: socket paths
        env = {k: v for k, v in os.environ.items()
               if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")} | {"RAY_TMPDIR": tmp}
        proc = subprocess.run([sys.executable, "-c", CHILD, dead], capture_output=True,
                              text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.ray
def test_no_port_of_a_t2_started_local_ray_listens_beyond_loopback(local_ray):
    names = {name for name, _, _ in local_ray["listening"]}
    assert {"gcs_server", "raylet"} <= names, local_ray["listening"]
    assert len(local_ray["listening"]) >= 4 and local_ray["workers"]
    exposed = [s for s in local_ray["listening"] if s[1] not in LOOPBACK]
    assert not exposed, f"Ray ports open beyond loopback: {exposed}"


@pytest.mark.slow
@pytest.mark.ray
def test_a_t2_started_local_ray_keeps_token_auth_on(local_ray):
    assert local_ray["auth"] is True


@pytest.mark.slow
@pytest.mark.ray
def test_a_stale_ray_current_cluster_pointer_does_not_stop_a_local_start(local_ray):
    # plain ray.init() believes the pointer and refuses (the crash of the issue) ...
    assert "num_cpus and num_gpus must not be provided" in local_ray["plain"]
    # ... while t2 started its own one-CPU Ray regardless
    assert local_ray["cpus"] == 1.0


def test_an_unreachable_address_is_refused_at_once_in_one_line(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    address = f"127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(ConfigError) as err:
        start_or_join_ray(address)
    msg = str(err.value)
    assert time.monotonic() - start < 10
    assert "\n" not in msg and msg.startswith(f"--ray-address {address}: nothing answers")
    import ray

    assert not ray.is_initialized()


def test_auto_names_the_missing_or_stale_pointer(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    with pytest.raises(ConfigError, match="--ray-address auto: no Ray cluster was started"):
        probe("auto")
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{free_port()}")
    with pytest.raises(ConfigError, match=r"left by a cluster that died\?"):
        probe("auto")
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        probe("my-head")


@pytest.mark.parametrize("use_ray, workers, address, env, expect", [
    (None, 1, None, None, False),
    (None, 2, None, None, True),
    (True, 1, None, None, True),
    (None, 1, "10.0.0.5:6379", None, True),  # --ray-address means the cluster, even for 1 rank
    (None, 1, None, "10.0.0.5:6379", True),  # a driver submitted as a Ray job
])
def test_a_given_address_always_sends_the_run_to_the_cluster(monkeypatch, use_ray, workers,
                                                            address, env, expect):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    if env:
        monkeypatch.setenv("RAY_ADDRESS", env)
    assert wants_ray(use_ray, workers, address) is expect


def test_an_address_with_use_ray_false_is_refused(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ConfigError, match="dist.use_ray is false"):
        wants_ray(False, 1, "auto")


def test_the_recipes_switch_token_auth_on_and_t2_never_switches_it_off():
    root = Path(__file__).resolve().parents[2]
    for path in (root / "infra").glob("*.py"):
        assert '"RAY_AUTH_MODE": "disabled"' not in path.read_text(), path
    for name in ("ray-cluster.yaml", "slurm.sbatch", "kuberay.yaml"):
        text = (root / "infra" / "recipes" / name).read_text()
        assert "RAY_AUTH_MODE=token" in text or "mode: token" in text, name
