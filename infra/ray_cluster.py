"""Start or join Ray the one safe way: a given cluster is joined as it is, a local one is private.

    from t2.infra.ray_cluster import start_or_join_ray, wants_ray
    started = start_or_join_ray(None, num_cpus=2)          # local Ray on 127.0.0.1 only
    started = start_or_join_ray("10.0.0.5:6379")           # join; ConfigError if unreachable
    if wants_ray(cfg.dist.use_ray, cfg.dist.num_workers, ray_address): ...  # run on the cluster

* **Joining** (an address, or ``$RAY_ADDRESS`` as set for a driver submitted with ``ray job
  submit``): t2 never touches ``RAY_AUTH_MODE``, so a cluster with token auth stays that way
  (export ``RAY_AUTH_MODE=token`` and the head's token, ``RAY_AUTH_TOKEN`` or
  ``~/.ray/auth_token``, where you run t2). The address is probed over TCP first: an unreachable
  one is refused with one line at once instead of Ray's minute of retries.
* **A local Ray** (no address): ``ray.init(address="local")`` always starts a new instance, so a
  stale ``ray_current_cluster`` pointer left by a cluster that died does not make t2 join a dead
  GCS. Every Ray port of it (GCS, raylet, object manager, agents, workers) listens on 127.0.0.1:
  Ray binds all interfaces unless its node IP is the loopback address, which it only uses when
  multi-node clusters are off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``; the setting macOS and
  Windows get by default). Ray's own token auth (on by default for local clusters since Ray
  2.59) is left on as a second lock. ``tests/infra/test_ray_cluster.py`` lists the listening
  sockets of every Ray process to check it.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path

from t2.infra.config import ConfigError

# Quiet defaults for every Ray t2 starts or joins (a user's own settings win). Token auth is
# deliberately absent: it is never turned off.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}
WORKER_ENV_KEYS = ("DS_ACCELERATOR", "T2_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                   "MLFLOW_ENABLE_ASYNC_LOGGING", "TOKENIZERS_PARALLELISM",
                   "T2_EXIT_AFTER_PROGRESS")
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
PROBE_TIMEOUT_S = 5.0
AUTH_HINT = ("with token auth, export RAY_AUTH_MODE=token and the head's token "
             "(RAY_AUTH_TOKEN, or ~/.ray/auth_token)")


def given_address(ray_address: str | None) -> str | None:
    """The cluster to join: the argument, else ``$RAY_ADDRESS``, else None (start locally)."""
    return ray_address or os.environ.get("RAY_ADDRESS") or None


def wants_ray(use_ray: bool | None, num_workers: int, ray_address: str | None) -> bool:
    """Whether a run goes to Ray: always when an address is given (``--ray-address`` must mean
    it), else ``dist.use_ray``, else when ``dist.num_workers > 1``.

    ConfigError when an address is given but ``dist.use_ray`` is false."""
    address = given_address(ray_address)
    if address and use_ray is False:
        raise ConfigError(f"--ray-address {address}: dist.use_ray is false, so nothing would run "
                          "on the cluster; drop one of the two")
    if address:
        return True
    return use_ray if use_ray is not None else num_workers > 1


def _address_file() -> Path:
    """Where ``ray start`` records the latest cluster (Ray's temp dir rules)."""
    base = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
    return Path(base) / "ray" / "ray_current_cluster"


def _host_port(address: str) -> tuple[str, int] | None:
    """``host:port`` of ``address`` (``ray://`` and ``http(s)://`` prefixes allowed)."""
    rest = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def _resolve(address: str) -> str:
    """``auto`` -> the address in Ray's ``ray_current_cluster`` file; others as given."""
    if address != "auto":
        return address
    path = _address_file()
    if not path.is_file() or not path.read_text().strip():
        raise ConfigError(f"--ray-address auto: no Ray cluster was started on this machine "
                          f"({path} is missing); give HOST:PORT of the head")
    return path.read_text().strip()


def probe(address: str) -> str:
    """The joinable form of ``address`` once its head answers on TCP; ConfigError otherwise."""
    resolved = _resolve(address)
    hp = _host_port(resolved)
    if hp is None:
        raise ConfigError(f"--ray-address {address}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        with socket.create_connection(hp, timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as err:
        via = (f" (from {_address_file()}, left by a cluster that died?)"
               if address == "auto" else "")
        raise ConfigError(f"--ray-address {address}: nothing answers at {resolved}{via}: "
                          f"{err.strerror or err}") from None
    return resolved


@contextmanager
def _loopback_only():
    """Make Ray take 127.0.0.1 as this node's IP while a local instance starts (see module doc).

    Ray reads the switch at import into a module constant, so both are set, then restored:
    a later join of a real cluster from this process must see the machine's own address."""
    from ray._private import ray_constants

    saved_env, saved_const = os.environ.get(LOOPBACK_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[LOOPBACK_ENV] = "0"  # inherited by the raylet and every worker it spawns
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_const
        if saved_env is None:
            os.environ.pop(LOOPBACK_ENV, None)
        else:
            os.environ[LOOPBACK_ENV] = saved_env


def start_or_join_ray(ray_address: str | None = None, *, num_cpus: int | None = None,
                      log_to_driver: bool = True) -> bool:
    """Join the cluster at ``ray_address`` (or ``$RAY_ADDRESS``), or start a private local Ray
    with ``num_cpus`` CPUs (default: this machine's). True if this call started or joined Ray
    (the caller then owns ``ray.shutdown()``), False if Ray was already initialized."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    import ray

    if ray.is_initialized():
        return False
    env = {k: os.environ[k] for k in WORKER_ENV_KEYS if k in os.environ}
    kwargs = {"runtime_env": {"env_vars": env}, "log_to_driver": log_to_driver}
    address = given_address(ray_address)
    if address:
        joinable = probe(address)
        try:
            ray.init(address=joinable, **kwargs)
        except Exception as err:  # noqa: BLE001 - ray raises many types; one line names the cause
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ConfigError(f"--ray-address {address}: cannot join the Ray cluster: {first} "
                              f"({AUTH_HINT})") from None
        return True
    with _loopback_only():
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1,
                 include_dashboard=False, **kwargs)
    return True


def _ensure_ray(ray_address: str | None, num_cpus: int) -> bool:
    """Compatibility alias for callers of the former ``t2.infra.ray_train._ensure_ray``."""
    return start_or_join_ray(ray_address, num_cpus=num_cpus)
