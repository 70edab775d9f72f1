"""Process helpers shared by the components: ports, spawning, liveness and termination.

Every infra process is started as the leader of its own session/process group so that
(a) a Ctrl-C in the developer's terminal does not reach it, (b) it survives the CLI that
started it, and (c) it can be stopped together with whatever it forked (sshd sessions).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"

_ports_lock = threading.Lock()
#: Ports handed out by this process: the kernel may hand the same ephemeral port to two
#: back-to-back bind(0) calls once the first socket is closed, so remember them.
_ports_given: set[int] = set()


def free_port() -> int:
    """Return a loopback TCP port that is free now and was not returned before by this process."""
    with _ports_lock:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((LOOPBACK, 0))
                port = int(sock.getsockname()[1])
            if port not in _ports_given:
                _ports_given.add(port)
                return port


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session with stdout+stderr appended to ``log_path``."""
    log.debug("spawn %s", " ".join(argv))
    with log_path.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
            start_new_session=True,
            close_fds=True,
        )


def run(
    argv: Sequence[str],
    *,
    log_path: Path,
    cwd: Path | None = None,
    user: str | None = None,
    start_new_session: bool = False,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run ``argv`` to completion, output appended to ``log_path``; raise with its tail on failure.

    Output goes to a file, not a pipe, on purpose: daemons forked by the command (pg_ctl's
    postmaster) could otherwise inherit the pipe and keep ``run`` waiting forever.
    """
    log.debug("run %s", " ".join(argv))
    with log_path.open("ab") as out:
        result = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            user=user,
            group=user,
            # Drop root's supplementary groups too when switching user.
            extra_groups=[] if user is not None else None,
            start_new_session=start_new_session,
            env=None if env is None else dict(env),
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {result.returncode}:\n{tail(log_path)}")


def tail(path: Path, lines: int = 25) -> str:
    """Last ``lines`` lines of a log file (for error messages); empty when it does not exist."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    abort: Callable[[], str | None] | None = None,
) -> None:
    """Poll ``check`` until true; ``abort`` returns a reason to give up early (process died)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if abort is not None:
            reason = abort()
            if reason is not None:
                raise RuntimeError(f"{what}: {reason}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f}s")
        time.sleep(interval)


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie (a zombie is reaped when it is our child).

    Zombies matter here: when ``down`` runs in another process than ``up``, the stopped
    processes were re-parented, and a container's PID 1 does not always reap them.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # Format: "pid (comm) S ...": the state follows the last ')' as comm may contain spaces.
    state = stat.rsplit(")", 1)[1].split()[0]
    if state in ("Z", "X"):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def cmdline(pid: int) -> str:
    """The command line of ``pid`` with NULs as spaces; empty when gone or unreadable."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def owns(pid: int, marker: str) -> bool:
    """True when ``pid`` is alive and its command line mentions ``marker`` (a path of ours).

    Guards ``down`` against killing an unrelated process that reused a recorded pid.
    """
    return pid_alive(pid) and marker in cmdline(pid)


def _signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to a process group, falling back to the single pid when it leads none."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        # Not a group leader (the postmaster, forked by pg_ctl) or the group holds processes
        # we may not signal: signal just the process itself.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pgid, sig)


def terminate(
    pid: int,
    *,
    timeout: float = 10.0,
    sig: int = signal.SIGTERM,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Stop process group ``pid``: ``sig``, then SIGKILL after ``timeout`` seconds.

    ``proc`` (when we started it) is waited for so that no zombie is left behind.
    """
    if not pid_alive(pid):
        return
    _signal_group(pid, sig)
    if not _wait_gone(pid, timeout, proc):
        log.warning("pid %d ignored signal %d for %.0fs: SIGKILL", pid, sig, timeout)
        _signal_group(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0, proc)
    # Sweep group members that outlived their leader (e.g. sshd per-connection processes).
    _signal_group(pid, signal.SIGKILL)


def _wait_gone(pid: int, timeout: float, proc: subprocess.Popen[bytes] | None) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit; True when it did."""
    if proc is not None:
        try:
            proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def read_pid(path: Path) -> int | None:
    """The integer on the first line of ``path``, or None when missing or malformed."""
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(first) if first.isdigit() else None
