"""What a study needs on this machine, checked: torch/CUDA, DeepSpeed, Ray, MLflow, eval data.

    for name, status, detail, fix in run_checks(ray_address="auto"): ...   # t2 doctor prints it

Each check returns ``ok``, ``warn`` or ``FAIL`` with one line of detail and, when not ok, the fix.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import urllib.request
from collections.abc import Callable

Check = tuple[str, str, str]  # (status, detail, fix)


def _torch() -> Check:
    import torch

    if torch.cuda.is_available():
        names = {torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())}
        bf16 = torch.cuda.is_bf16_supported()
        return "ok", (f"torch {torch.__version__}, {torch.cuda.device_count()} GPU(s) "
                      f"{sorted(names)}, bf16={bf16}"), ""
    return "ok", f"torch {torch.__version__}, CPU only ({os.cpu_count()} cores): fp32 + gloo", ""


def _deepspeed() -> Check:
    if importlib.util.find_spec("deepspeed") is None:
        return "FAIL", "deepspeed not installed", "pip install deepspeed"
    import torch

    os.environ.setdefault("DS_ACCELERATOR", "cuda" if torch.cuda.is_available() else "cpu")
    from deepspeed.accelerator import get_accelerator

    name = get_accelerator().device_name()
    if shutil.which("g++") is None and name == "cpu":
        return "warn", f"accelerator {name}; no g++ for DeepSpeed's CPU ops", "apt-get install g++"
    return "ok", f"DeepSpeed accelerator: {name}", ""


def _ray(address: str | None) -> Callable[[], Check]:
    def check() -> Check:
        import ray

        if address is None:
            return "ok", (f"ray {ray.__version__}; studies start a local Ray unless "
                          "--ray-address"), ""
        from t2.infra.config import ConfigError
        from t2.infra.ray_cluster import probe

        try:
            joinable = probe(address)  # the head answers on TCP, else one line at once
        except ConfigError as err:
            return "FAIL", str(err), "start the cluster (ray start --head) or fix the address"
        try:
            ray.init(address=joinable, include_dashboard=False, log_to_driver=False)
            res = ray.cluster_resources()
            nodes = len([n for n in ray.nodes() if n.get("Alive")])
            ray.shutdown()
        except Exception as err:  # noqa: BLE001 - ray raises many types; report the first line
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            return ("FAIL", f"cannot reach Ray at {address}: {first}",
                    ("start the cluster (ray start --head) and, with token auth, export "
                     "RAY_AUTH_MODE=token and the head's token"))
        return "ok", (f"Ray at {address}: {nodes} node(s), {res.get('CPU', 0):g} CPU, "
                      f"{res.get('GPU', 0):g} GPU"), ""

    return check


def _mlflow(uri: str | None) -> Callable[[], Check]:
    def check() -> Check:
        if not uri or uri.startswith("sqlite:"):
            return "ok", "MLflow: sqlite file in the study root (no server needed)", ""
        if not uri.startswith(("http://", "https://")):
            return "warn", f"MLflow URI {uri}: not checked", ""
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as r:
                body = r.read(64).decode(errors="replace")
        except OSError as err:
            return ("FAIL", f"MLflow server {uri} unreachable: {err}",
                    "start it (infra/recipes/mlflow-server.sh) or omit tracking.uri")
        return "ok", f"MLflow server {uri}: {body.strip()}", ""

    return check


def _eval_data() -> Check:
    from t2.evaluation.real import VARIANTS, request_file

    try:
        paths = [request_file(name) for name in VARIANTS]
    except FileNotFoundError as err:
        return "warn", str(err), "synthetic tasks work without it"
    return "ok", f"evaluation data for {', '.join(VARIANTS)} under {paths[0].parents[2]}", ""


def checks(ray_address: str | None = None,
           tracking_uri: str | None = None) -> list[tuple[str, Callable[[], Check]]]:
    """(name, check) pairs; each check returns (status, detail, fix)."""
    return [
        ("torch", _torch),
        ("deepspeed", _deepspeed),
        ("ray", _ray(ray_address)),
        ("mlflow", _mlflow(tracking_uri)),
        ("eval data", _eval_data),
    ]


def run_checks(ray_address: str | None = None, tracking_uri: str | None = None):
    """Every check's (name, status, detail, fix); a check that raises is itself a FAIL."""
    out = []
    for name, check in checks(ray_address, tracking_uri):
        try:
            status, detail, fix = check()
        except Exception as err:  # noqa: BLE001 - a broken install is itself the finding
            status, detail = "FAIL", f"{type(err).__name__}: {err}".splitlines()[0]
            fix = "reinstall: ./t2 --help"
        out.append((name, status, detail, fix))
    return out
