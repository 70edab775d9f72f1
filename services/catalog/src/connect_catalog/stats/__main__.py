"""`python -m connect_catalog.stats`: the stream-statistics worker, until SIGTERM."""

from __future__ import annotations

import asyncio

from connect_catalog.stats.config import StatsSettings
from connect_catalog.stats.serve import serve
from connect_runtime.logs import configure_logging


def main() -> None:
    """Run the worker with the environment's settings."""
    settings = StatsSettings()
    configure_logging("stats", settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
