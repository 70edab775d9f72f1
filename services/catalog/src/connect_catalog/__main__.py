"""`connect-catalog [run]` projects events until SIGTERM; `connect-catalog rebuild` rebuilds read models."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

from connect_catalog.bootstrap import rebuild, serve
from connect_catalog.config import CatalogSettings
from connect_runtime.lifecycle import tune_gc
from connect_runtime.logs import configure_logging

log = logging.getLogger("connect_catalog")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `connect-catalog` and `python -m connect_catalog`."""
    args = _parser().parse_args(argv)
    settings = CatalogSettings()
    configure_logging("catalog", settings.log_level)
    tune_gc()
    if args.command == "rebuild":
        result = asyncio.run(rebuild(settings, drop_old=args.drop_old))
        log.info("rebuild finished", extra={"records": result.records, "replaced": result.replaced_schema})
    else:
        asyncio.run(serve(settings))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="connect-catalog", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="project events into the read models until SIGTERM (the default)")
    rebuild_cmd = sub.add_parser(
        "rebuild", help="rebuild the read models from offset 0 and swap them in (stop the projector first)"
    )
    rebuild_cmd.add_argument(
        "--drop-old",
        action="store_true",
        help="drop the replaced schema instead of keeping it as replaced_<ts>",
    )
    return parser


if __name__ == "__main__":
    main()
