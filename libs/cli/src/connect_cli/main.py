"""The `connect` command (filled in by the CLI work of issue 10)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Connect from the command line.", no_args_is_help=True)
