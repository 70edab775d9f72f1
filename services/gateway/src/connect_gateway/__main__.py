"""`connect-gateway` / `python -m connect_gateway`: serve the REST API (no arguments), or run a subcommand."""

from __future__ import annotations

import sys

from connect_gateway.entrypoints import cli


def main() -> None:
    """Entry point of the `connect-gateway` script; `connect-gateway --help` lists the subcommands."""
    sys.exit(cli.run(sys.argv[1:]))


if __name__ == "__main__":
    main()
