"""``python -m connect_devstack {up,down,env,status}``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from connect_devstack import app, install, paths, stack


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    state_dir: Path = (args.state or paths.default_state_dir()).resolve()
    try:
        code: int = args.handler(args, state_dir)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"connect_devstack {args.command}: {exc}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m connect_devstack",
        description="Local Kafka (KRaft), PostgreSQL and SFTP server for Connect development and tests.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="(re)start the components detached, write and print the env")
    up.add_argument(
        "--components",
        default=",".join(stack.ALL),
        help=f"comma-separated subset of {','.join(stack.ALL)} (default: all)",
    )
    up.add_argument("--services", action="store_true", help="also start Connect's services and seed the demo")
    up.add_argument("--obs", action="store_true", help="with --services: also start Prometheus scraping them")
    up.set_defaults(handler=_up)
    sub.add_parser("install", help="install what is missing (PostgreSQL, sshd, Kafka jars)").set_defaults(
        handler=_install
    )
    sub.add_parser("down", help="stop everything recorded in the state dir").set_defaults(handler=_down)
    sub.add_parser("env", help="print the export lines of the running stack").set_defaults(handler=_env)
    sub.add_parser("status", help="show which recorded components are running").set_defaults(handler=_status)
    for command in sub.choices.values():
        command.add_argument("--state", type=Path, default=None, help="state dir (default: <repo>/.devstack)")
    return parser


def _up(args: argparse.Namespace, state_dir: Path) -> int:
    """Stop what an earlier ``up`` left, start anew, print the env file."""
    if args.services:
        print(app.up(state_dir, stack.without_own_values(state_dir, os.environ), observe=args.obs))
        return 0
    began = time.monotonic()
    names = stack.parse_components(args.components)
    # Variables from our own (sourced) env file are stale once we restart: drop them before
    # `down` deletes env.json, which is how they are recognised.
    environ = stack.without_own_values(state_dir, os.environ)
    stack.down(state_dir)
    # cleanup_at_exit=False: the processes run in their own sessions and outlive this CLI.
    devstack = stack.Stack(state_dir, names, environ=environ, cleanup_at_exit=False)
    env = devstack.start()
    print((state_dir / stack.ENV_FILE).read_text(), end="")
    print(f"# {len(env)} variables; ready in {time.monotonic() - began:.1f}s", file=sys.stderr)
    return 0


def _install(args: argparse.Namespace, state_dir: Path) -> int:
    install.ensure_installed()
    return 0


def _down(args: argparse.Namespace, state_dir: Path) -> int:
    app.stop(state_dir)
    return 0


def _env(args: argparse.Namespace, state_dir: Path) -> int:
    env_file = state_dir / stack.ENV_FILE
    if not env_file.exists():
        print(f"no devstack env in {state_dir}: run `up` first", file=sys.stderr)
        return 1
    print(env_file.read_text(), end="")
    return 0


def _status(args: argparse.Namespace, state_dir: Path) -> int:
    """One line per recorded component; exit 0 only when all of them run."""
    states = stack.status(state_dir)
    if not states:
        print(f"nothing recorded in {state_dir}")
        return 1
    for name, state in states.items():
        print(f"{name:<9} {'running' if state.running else 'STOPPED'}  pid {state.pid}")
    return 0 if all(state.running for state in states.values()) else 1
