"""A throw-away PostgreSQL cluster tuned for tests (durability off, trust auth on loopback)."""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import pwd
import shutil
import signal
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from connect_devstack import _proc
from connect_devstack.component import Component

log = logging.getLogger(__name__)

#: The databases the Connect services expect (one per service that owns state).
DATABASES: tuple[str, ...] = ("scheduler", "catalog", "audience", "vault")

SUPERUSER = "postgres"

#: Appended to postgresql.conf. Crash safety is worthless for a throw-away test cluster and
#: costs most of the time of DDL-heavy test setups.
_TUNING = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "256MB",
    "max_connections": "200",
    "listen_addresses": "'127.0.0.1'",
    "logging_collector": "off",
    "log_min_messages": "warning",
}

#: A Unix socket path must fit in sockaddr_un.sun_path (108 bytes incl. "/.s.PGSQL.NNNNN").
_MAX_SOCKET_DIR = 80


def bin_dir() -> Path | None:
    """Folder with initdb/pg_ctl/psql: Debian's newest ``/usr/lib/postgresql/N/bin``, else $PATH."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if candidates:
        newest = max(candidates, key=lambda p: int(Path(p).parent.parent.name))
        return Path(newest).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class Postgres(Component):
    """PostgreSQL on ``127.0.0.1:<port>``; superuser ``postgres`` without password."""

    name = "postgres"
    env_keys = ("DATABASE_URL",)

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int | None = None,
        databases: Sequence[str] = DATABASES,
        ready_timeout: float = 60.0,
    ) -> None:
        super().__init__(state_dir)
        self.host = _proc.LOOPBACK
        self._port = port
        self.databases = tuple(databases)
        self.ready_timeout = ready_timeout

    # -- facts -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port (picked lazily so that ``stop_recorded`` needs none)."""
        if self._port is None:
            self._port = _proc.free_port()
        return self._port

    @property
    def data_dir(self) -> Path:
        """PGDATA. ``self.dir`` may be a symlink to /tmp (see :meth:`_make_dir`); resolve it."""
        return self.dir.resolve() / "data"

    @property
    def log_file(self) -> Path:
        """The server log (``pg_ctl -l``)."""
        return self.dir.resolve() / "postgres.log"

    def url(self, dbname: str | None = None) -> str:
        """``postgresql://postgres@127.0.0.1:<port>[/<dbname>]``."""
        base = f"postgresql://{SUPERUSER}@{self.host}:{self.port}"
        return f"{base}/{dbname}" if dbname else base

    def env(self) -> dict[str, str]:
        """``DATABASE_URL`` without a database name: each service appends its own."""
        return {"DATABASE_URL": self.url()}

    # -- lifecycle -------------------------------------------------------------------

    def _start(self) -> None:
        """initdb, tune, ``pg_ctl start -w``, create the databases."""
        self._make_dir()
        self._initdb()
        self._configure()
        self._pg_ctl("start", "-w", "-t", str(int(self.ready_timeout)), "-l", str(self.log_file))
        pid = _proc.read_pid(self.data_dir / "postmaster.pid")
        if pid is None:
            raise RuntimeError(f"postgres started but wrote no postmaster.pid:\n{_proc.tail(self.log_file)}")
        self._record(pid)
        self._create_databases()

    def _terminate(self, pid: int, timeout: float) -> None:
        """``pg_ctl stop -m fast`` (clean, removes postmaster.pid); signals as a fallback."""
        if not _proc.owns(pid, self._marker()):
            return
        try:
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", str(int(timeout)))
        except (RuntimeError, OSError) as exc:
            log.warning("pg_ctl stop failed (%s); signalling pid %d", exc, pid)
            # SIGQUIT = immediate shutdown; the postmaster is not a group leader (pg_ctl is).
            _proc.terminate(pid, timeout=timeout, sig=signal.SIGQUIT)

    def _fallback_pid(self) -> int | None:
        """The postmaster's pid even when ``pg_ctl start`` failed before we recorded it."""
        return _proc.read_pid(self.data_dir / "postmaster.pid")

    def _marker(self) -> str:
        """The postmaster's command line holds ``-D <data_dir>``."""
        return str(self.data_dir)

    def _make_dir(self) -> None:
        """Create the cluster folder where the server user can reach it.

        When running as root the server runs as ``postgres``, which must be able to traverse
        every parent folder. A repo under /root is not traversable: put the cluster in /tmp
        and leave a symlink at ``<state>/postgres`` so the layout stays the same.
        """
        user = self._server_user()
        if user is not None and not _traversable_by(user, self.dir.parent):
            digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
            real = Path(tempfile.gettempdir()) / f"connect-devstack-{digest}" / "postgres"
            shutil.rmtree(real, ignore_errors=True)
            real.mkdir(parents=True)
            os.chmod(real.parent, 0o755)
            self.dir.rmdir()
            self.dir.symlink_to(real)
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(self.dir.resolve(), entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        """Create an empty cluster; ``--no-sync`` because a crash just means re-creating it."""
        locale = "C.UTF-8" if Path("/usr/lib/locale/C.utf8").exists() else "C"
        self._run_as_server(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            f"--locale={locale}",
            "--no-sync",
            "--no-instructions",
        )

    def _configure(self) -> None:
        """Append the test tuning, the port and the socket folder to postgresql.conf."""
        socket_dir = self.dir.resolve()
        if len(str(socket_dir)) > _MAX_SOCKET_DIR:
            socket_dir = Path(tempfile.gettempdir())
        settings = {
            **_TUNING,
            "port": str(self.port),
            "unix_socket_directories": f"'{socket_dir}'",
        }
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# connect_devstack\n" + lines)

    def _create_databases(self) -> None:
        """CREATE DATABASE for each name; one psql, one ``-c`` each (no transaction block)."""
        if not self.databases:
            return
        commands = [arg for db in self.databases for arg in ("-c", f'CREATE DATABASE "{db}"')]
        _proc.run(
            [self._bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url("postgres"), *commands],
            log_path=self.dir.resolve() / "psql.log",
            env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        )

    # -- helpers ---------------------------------------------------------------------

    def _pg_ctl(self, *args: str) -> None:
        """Run pg_ctl on our cluster as the server user, in its own session.

        The postmaster that ``pg_ctl start`` forks stays in that session, so it is not hit
        by a Ctrl-C sent to the terminal that ran ``up``.
        """
        self._run_as_server("pg_ctl", "-D", str(self.data_dir), *args, new_session=True)

    def _run_as_server(self, tool: str, *args: str, new_session: bool = False) -> None:
        """Run a server tool; initdb and pg_ctl refuse to run as root, so switch user then."""
        _proc.run(
            [self._bin(tool), *args],
            log_path=self.dir.resolve() / f"{tool}.log",
            cwd=self.dir.resolve(),  # the server user may not be allowed into our cwd
            user=self._server_user(),
            start_new_session=new_session,
        )

    @staticmethod
    def _server_user() -> str | None:
        """``postgres`` when we are root (the server refuses root), else None (ourselves)."""
        return SUPERUSER if os.geteuid() == 0 else None

    @staticmethod
    def _bin(tool: str) -> str:
        """Absolute path of a PostgreSQL program."""
        folder = bin_dir()
        if folder is None or not (folder / tool).exists():
            raise FileNotFoundError(f"{tool} not found: run connect_devstack.install.ensure_postgres()")
        return str(folder / tool)


def _traversable_by(user: str, folder: Path) -> bool:
    """True when ``user`` may enter ``folder`` and each of its parents (x permission)."""
    entry = pwd.getpwnam(user)
    groups = {entry.pw_gid, *(g for g in os.getgrouplist(user, entry.pw_gid))}
    for part in (folder.resolve(), *folder.resolve().parents):
        info = part.stat()
        if info.st_uid == entry.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            return False
    return True
