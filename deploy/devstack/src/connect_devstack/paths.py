"""Where things live: the repository root, the Kafka runtime folder and the default state dir."""

from __future__ import annotations

import os
from pathlib import Path

#: A file that only the Connect repository has; used to recognise its root.
_MARKER = Path("deploy") / "kafka" / "pom.xml"


def repo_root() -> Path:
    """Return the Connect repository root.

    ``CONNECT_REPO_ROOT`` wins; otherwise the first folder holding ``deploy/kafka/pom.xml``
    when walking up from the current directory, then from this file (editable installs).
    """
    override = os.environ.get("CONNECT_REPO_ROOT")
    if override:
        return Path(override).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / _MARKER).is_file():
                return folder
    raise FileNotFoundError(
        f"cannot find the Connect repository (no {_MARKER} above {Path.cwd()}); set CONNECT_REPO_ROOT"
    )


def kafka_home() -> Path:
    """Folder with the Kafka pom, ``lib/`` (jars copied by Maven) and ``log4j2.xml``."""
    return repo_root() / "deploy" / "kafka"


def default_state_dir() -> Path:
    """``<repo>/.devstack`` (git-ignored): logs, data and env files of the running stack."""
    return repo_root() / ".devstack"
