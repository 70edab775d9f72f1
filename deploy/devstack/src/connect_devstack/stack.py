"""Start/stop any subset of the infra processes together and publish how to reach them."""

from __future__ import annotations

import atexit
import json
import logging
import os
import shlex
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType, TracebackType
from typing import NamedTuple

from connect_devstack import _proc, install, paths
from connect_devstack.component import Component
from connect_devstack.kafka import Kafka
from connect_devstack.postgres import Postgres
from connect_devstack.sshd import Sshd

log = logging.getLogger(__name__)

#: Component classes by name, in the order they are listed in env files.
COMPONENTS: dict[str, type[Component]] = {"kafka": Kafka, "postgres": Postgres, "sshd": Sshd}
ALL: tuple[str, ...] = tuple(COMPONENTS)

ENV_FILE = "env"
ENV_JSON = "env.json"
STATE_VAR = "DEVSTACK_STATE_DIR"


def pid_var(name: str) -> str:
    """The env-file key holding a component's pid, e.g. ``DEVSTACK_KAFKA_PID``."""
    return f"DEVSTACK_{name.upper()}_PID"


class Stack:
    """A set of infra processes sharing one state dir.

    >>> with Stack(components=["postgres"]) as stack:   # doctest: +SKIP
    ...     dsn = stack.env()["DATABASE_URL"] + "/catalog"

    Components whose variable (``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL``,
    ``SFTP_TEST_URL``) is already set in ``environ`` are not started; the given values
    are passed through to :meth:`env` and the env files instead.
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        components: Sequence[str | Component] = ALL,
        *,
        environ: Mapping[str, str] | None = None,
        install_missing: bool = True,
        cleanup_at_exit: bool = True,
    ) -> None:
        """``cleanup_at_exit=False`` leaves the processes running after this Python exits (CLI)."""
        self.state_dir = (state_dir or paths.default_state_dir()).resolve()
        self.environ = os.environ if environ is None else environ
        self.install_missing = install_missing
        self.cleanup_at_exit = cleanup_at_exit
        self.components: dict[str, Component] = {}
        self.passthrough: dict[str, str] = {}
        for item in components:
            component = _make(item, self.state_dir)
            given = {key: self.environ[key] for key in component.env_keys if key in self.environ}
            if component.env_keys[0] in given:
                self.passthrough.update(given)
            else:
                self.components[component.name] = component

    # -- access ----------------------------------------------------------------------

    @property
    def kafka(self) -> Kafka | None:
        """The Kafka component when this stack started one."""
        component = self.components.get("kafka")
        return component if isinstance(component, Kafka) else None

    @property
    def postgres(self) -> Postgres | None:
        """The Postgres component when this stack started one."""
        component = self.components.get("postgres")
        return component if isinstance(component, Postgres) else None

    @property
    def sshd(self) -> Sshd | None:
        """The sshd component when this stack started one."""
        component = self.components.get("sshd")
        return component if isinstance(component, Sshd) else None

    def env(self) -> dict[str, str]:
        """Connection variables of every component (started or passed through) plus pids."""
        env: dict[str, str] = {STATE_VAR: str(self.state_dir), **self.passthrough}
        for name, component in self.components.items():
            env.update(component.env())
            if component.pid is not None:
                env[pid_var(name)] = str(component.pid)
        return env

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> dict[str, str]:
        """Install what is missing, start the components in parallel, write the env files."""
        started = time.monotonic()
        if self.install_missing and self.components:
            install.ensure_installed(self.components)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.cleanup_at_exit:
            _register(self)
        self._start_all()
        env = self.env()
        write_env(self.state_dir, env)
        names = ",".join(self.components) or "(nothing)"
        log.info("devstack %s ready in %.1fs", names, time.monotonic() - started)
        return env

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every component this stack started and drop the env files.

        Sequential on purpose: this also runs from atexit, where no new thread/executor may
        be started, and each stop takes well under a second anyway.
        """
        for component in self.components.values():
            try:
                component.stop(timeout)
            except Exception:  # keep stopping the others; nothing may be left running
                log.exception("stopping %s failed", component.name)
        if self.passthrough:
            # What was passed through is still there: keep describing it.
            write_env(self.state_dir, {STATE_VAR: str(self.state_dir), **self.passthrough})
        else:
            remove_env(self.state_dir)
        _unregister(self)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_all(self) -> None:
        """Start all components in threads: Kafka's JVM, initdb and sshd overlap nicely.

        When one fails the others are stopped too, so a failed start leaves nothing behind.
        """
        components = list(self.components.values())
        if not components:
            return
        with ThreadPoolExecutor(max_workers=len(components), thread_name_prefix="devstack") as pool:
            futures = [pool.submit(_timed_start, c) for c in components]
            errors = [f.exception() for f in futures]
        failures = [e for e in errors if e is not None]
        if failures:
            self.stop()
            raise failures[0]


def without_own_values(state_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` minus the variables that came from ``state_dir``'s own env file.

    For ``up``: a developer who sourced ``.devstack/env`` and runs ``up`` again wants fresh
    processes, not the old addresses passed through. Such variables are recognised by
    ``DEVSTACK_STATE_DIR`` naming this state dir, or by equalling what ``env.json`` records.
    (A ``Stack`` used in-process does not do this: there the variables set by an outer
    ``up`` are exactly what should be passed through.)
    """
    state_dir = state_dir.resolve()
    if environ.get(STATE_VAR) == str(state_dir):
        recorded: Mapping[str, str] = environ
    else:
        recorded = read_env(state_dir)
    return {key: value for key, value in environ.items() if recorded.get(key) != value}


def _timed_start(component: Component) -> None:
    """Start one component and log how long it took."""
    began = time.monotonic()
    component.start()
    log.info("%s started in %.1fs", component.name, time.monotonic() - began)


def _make(item: str | Component, state_dir: Path) -> Component:
    """A component instance from a name (default settings) or a ready-made instance."""
    if isinstance(item, Component):
        return item
    try:
        return COMPONENTS[item](state_dir)
    except KeyError:
        raise ValueError(f"unknown component {item!r}; choose from {', '.join(ALL)}") from None


# -- state dir files, usable from any process -------------------------------------------


def write_env(state_dir: Path, env: Mapping[str, str]) -> None:
    """Write ``<state>/env`` (``export KEY=value`` lines, shell-quoted) and ``<state>/env.json``.

    Each file is written to a temporary name and renamed, so readers never see half a file.
    """
    lines = ["# Written by connect_devstack; load with: . <this file>"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    _atomic_write(state_dir / ENV_FILE, "\n".join(lines) + "\n")
    _atomic_write(state_dir / ENV_JSON, json.dumps(dict(env), indent=2) + "\n")


def read_env(state_dir: Path | None = None) -> dict[str, str]:
    """The variables written by the last ``up`` in ``state_dir``; empty when none."""
    path = (state_dir or paths.default_state_dir()) / ENV_JSON
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return {str(k): str(v) for k, v in data.items()}


def remove_env(state_dir: Path) -> None:
    """Delete the env files (the processes they describe are gone)."""
    for name in (ENV_FILE, ENV_JSON):
        (state_dir / name).unlink(missing_ok=True)


def down(state_dir: Path | None = None, timeout: float = 10.0) -> None:
    """Stop every component recorded in ``state_dir``, whichever process started it."""
    state_dir = (state_dir or paths.default_state_dir()).resolve()
    for cls in COMPONENTS.values():
        cls.stop_recorded(state_dir, timeout)
    remove_env(state_dir)


class Status(NamedTuple):
    """A recorded component: its pid and whether that process still runs."""

    pid: int | None
    running: bool


def status(state_dir: Path | None = None) -> dict[str, Status]:
    """``{name: Status}`` for each component that has a pid recorded in ``state_dir``."""
    state_dir = (state_dir or paths.default_state_dir()).resolve()
    result: dict[str, Status] = {}
    for name, cls in COMPONENTS.items():
        component = cls(state_dir)
        if component.pid_file.exists():
            result[name] = Status(_proc.read_pid(component.pid_file), component.running())
    return result


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file + rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


# -- cleanup when used in-process (pytest) --------------------------------------------

_live: list[Stack] = []
_live_lock = threading.Lock()
_hooks_installed = False


def _register(stack: Stack) -> None:
    """Stop ``stack`` at interpreter exit or on SIGTERM/SIGHUP, so no orphan survives."""
    global _hooks_installed  # noqa: PLW0603 -- one-time process-wide hook installation
    with _live_lock:
        if stack not in _live:
            _live.append(stack)
        if _hooks_installed:
            return
        _hooks_installed = True
    atexit.register(_stop_live)
    # Only the main thread may install handlers, and a handler someone else installed
    # (pytest, an application) must not be replaced behind its back.
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, _on_signal)


def _unregister(stack: Stack) -> None:
    with _live_lock:
        if stack in _live:
            _live.remove(stack)


def _stop_live() -> None:
    """Stop every registered stack (atexit)."""
    with _live_lock:
        stacks = list(_live)
    for stack in stacks:
        try:
            stack.stop()
        except Exception:
            log.exception("stopping devstack in %s failed", stack.state_dir)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Clean up, then die of the same signal as if we had not caught it."""
    _stop_live()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def parse_components(text: str | None) -> list[str]:
    """``"kafka,postgres"`` -> ``["kafka", "postgres"]``; None or empty means all."""
    if not text:
        return list(ALL)
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        raise ValueError(f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")
    return names
