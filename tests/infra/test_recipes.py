"""The cluster recipes parse, and every t2 command they run is accepted by the real CLI parser."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from t2.flows.cli.main import build_parser

RECIPES = Path(__file__).resolve().parents[2] / "infra" / "recipes"


def _t2_commands(text: str) -> list[list[str]]:
    """Every `t2 ...` command line in a recipe, shell-split, with shell variables made concrete."""
    found = []
    for line in text.splitlines():
        line = line.strip().lstrip("#-: ").strip()
        m = re.search(r"(?:^|entrypoint: )(t2 \S.*)$", line)
        if m:
            cmd = re.sub(r'"?\$\{?[A-Za-z_][A-Za-z_0-9]*\}?(:\$port)?"?', "X", m.group(1))
            found.append(shlex.split(cmd))
    return found


@pytest.mark.parametrize("name", ["ray-cluster.yaml", "kuberay.yaml"])
def test_yaml_recipes_parse_and_name_their_parts(name):
    doc = yaml.safe_load((RECIPES / name).read_text())
    if name == "kuberay.yaml":
        assert doc["kind"] == "RayJob"
        head = doc["spec"]["rayClusterSpec"]["headGroupSpec"]
        assert head["rayStartParams"]["dashboard-host"] == "127.0.0.1"
        assert doc["spec"]["entrypoint"].startswith("t2 run ")
    else:
        assert doc["head_node_type"] in doc["available_node_types"]
        assert any("--dashboard-host=127.0.0.1" in c for c in doc["head_start_ray_commands"])


@pytest.mark.parametrize("name", ["slurm.sbatch", "mlflow-server.sh"])
def test_shell_recipes_are_valid_bash(name):
    subprocess.run(["bash", "-n", str(RECIPES / name)], check=True)


def test_mlflow_server_recipe_binds_loopback_by_default():
    text = (RECIPES / "mlflow-server.sh").read_text()
    assert '--host "${MLFLOW_HOST:-127.0.0.1}"' in text


@pytest.mark.parametrize("name", ["ray-cluster.yaml", "kuberay.yaml", "slurm.sbatch"])
def test_every_t2_command_in_a_recipe_is_accepted_by_the_cli(name):
    commands = _t2_commands((RECIPES / name).read_text())
    assert commands, f"{name} runs no t2 command"
    parser = build_parser()
    for cmd in commands:
        args = parser.parse_args(cmd[1:])
        assert args.command == "run"
        assert args.ray_address is not None
