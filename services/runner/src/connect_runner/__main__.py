"""`connect-runner` executes requested runs until SIGTERM."""

from __future__ import annotations

import asyncio
import logging

from connect_runner.bootstrap import serve
from connect_runner.config import RunnerSettings
from connect_runtime.lifecycle import tune_gc
from connect_runtime.logs import configure_logging


def main() -> None:
    """Entry point of `connect-runner` and `python -m connect_runner`."""
    settings = RunnerSettings()
    configure_logging("runner", settings.log_level)
    tune_gc()
    # asyncssh narrates every channel step at INFO; the runner logs the stages that matter itself.
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
