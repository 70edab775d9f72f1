"""`connect-scheduler` / `python -m connect_scheduler`: run the scheduler until SIGTERM."""

from __future__ import annotations

import asyncio

from connect_runtime.lifecycle import tune_gc
from connect_runtime.logs import configure_logging
from connect_scheduler.bootstrap import run
from connect_scheduler.config import SchedulerSettings


def main() -> None:
    """Read settings from the environment, configure JSON logs, run."""
    settings = SchedulerSettings()
    configure_logging("scheduler", settings.log_level)
    tune_gc()
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
