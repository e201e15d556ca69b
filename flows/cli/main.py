"""The ``t2`` command line: ``t2 --help`` lists the commands.

Each command group lives in a ``t2.flows.cli.*`` module exposing ``COMMANDS = {name: (help,
add_arguments, run)}``; the modules parse arguments and print, and call library functions for
everything else. They import heavy libraries (torch, ray, deepspeed) only inside ``run`` so that
``t2 --help`` and ``t2 validate`` answer instantly. Bad input (``ConfigError``) is one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from t2.infra.config import ConfigError

COMMAND_MODULES = (
    "t2.flows.cli.train",      # train, validate
    "t2.flows.cli.evaluate",   # evaluate
    "t2.flows.cli.posttrain",  # posttrain
    "t2.flows.cli.fit",        # fit, forecast
    "t2.flows.cli.study",      # run, plan, simulate, status, ui
    "t2.flows.cli.doctor",     # doctor
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="t2", description="Train-to-Test (T²) scaling studies: train, sample, fit, forecast."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        for name, (help_text, add_arguments, run) in module.COMMANDS.items():
            p = sub.add_parser(name, help=help_text, description=help_text)
            add_arguments(p)
            p.set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except ConfigError as err:
        print(f"t2: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("t2: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
