"""The common shape of an infra process managed by the devstack."""

from __future__ import annotations

import abc
import logging
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

from connect_devstack import _proc

log = logging.getLogger(__name__)


class Component(abc.ABC):
    """One infra process living in ``<state_dir>/<name>/``.

    Subclasses implement :meth:`_start` (create config, launch, wait until ready) and
    :meth:`env`. The pid of the long-running process is written to ``<dir>/pid`` right
    after launch so that :meth:`stop_recorded` can stop it from another Python process.
    """

    #: Short name; also the sub-folder of the state dir and the ``--components`` token.
    name: ClassVar[str]
    #: Variables this component provides. When the first one is already set in the
    #: environment the component is not started and the given values are passed through.
    env_keys: ClassVar[tuple[str, ...]]

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir.resolve()
        self.dir = self.state_dir / self.name
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Wipe ``<state>/<name>``, start the process and block until it serves requests."""
        self.stop_recorded(self.state_dir)  # an earlier run in the same state dir
        self._wipe()
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        log.info("%s ready (pid %s)", self.name, self._pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process (graceful signal, SIGKILL after ``timeout``); idempotent."""
        pid = self._pid
        if pid is None:
            pid = _proc.read_pid(self.pid_file)
        if pid is None:
            pid = self._fallback_pid()
        if pid is not None:
            self._terminate(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        self._pid = None
        self._proc = None

    @classmethod
    def stop_recorded(cls, state_dir: Path, timeout: float = 10.0) -> None:
        """Stop the process recorded in ``<state_dir>/<name>/pid`` by any earlier run."""
        cls(state_dir).stop(timeout)

    # -- facts -----------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Pid of the running process, or None before start / after stop."""
        return self._pid

    @property
    def pid_file(self) -> Path:
        """Where the pid is recorded for other processes."""
        return self.dir / "pid"

    @property
    def log_file(self) -> Path:
        """The process's own log (stdout/stderr or its log file)."""
        return self.dir / f"{self.name}.log"

    def running(self) -> bool:
        """True when the recorded process is alive and ours."""
        pid = self._pid if self._pid is not None else _proc.read_pid(self.pid_file)
        return pid is not None and _proc.owns(pid, self._marker())

    @abc.abstractmethod
    def env(self) -> dict[str, str]:
        """Environment variables that tell clients how to reach this component."""

    # -- for subclasses --------------------------------------------------------------

    @abc.abstractmethod
    def _start(self) -> None:
        """Write config, launch the process (call :meth:`_record`), wait until ready."""

    def _marker(self) -> str:
        """A string that the process's command line must contain for it to be ours."""
        return str(self.dir)

    def _fallback_pid(self) -> int | None:
        """Where to find the pid when none was recorded (a start that failed half-way)."""
        return None

    def _record(self, pid: int, proc: subprocess.Popen[bytes] | None = None) -> None:
        """Remember the pid in memory and in ``pid_file``."""
        self._pid = pid
        self._proc = proc
        self.pid_file.write_text(f"{pid}\n")

    def _terminate(self, pid: int, timeout: float) -> None:
        """Stop ``pid``'s process group if it is ours (a stale pid may belong to another)."""
        if self._proc is not None:
            _proc.terminate(pid, timeout=timeout, proc=self._proc)
        elif _proc.owns(pid, self._marker()):
            _proc.terminate(pid, timeout=timeout)

    def _abort_reason(self) -> str | None:
        """Why waiting for readiness is pointless (the process exited), for ``wait_until``."""
        if self._proc is not None and self._proc.poll() is not None:
            return f"exited with {self._proc.returncode}; log {self.log_file}:\n{_proc.tail(self.log_file)}"
        return None

    def _wipe(self) -> None:
        """Remove this component's folder: every ``up`` starts from a clean slate."""
        if self.dir.is_symlink():
            shutil.rmtree(self.dir.resolve(), ignore_errors=True)
            self.dir.unlink()
        shutil.rmtree(self.dir, ignore_errors=True)
