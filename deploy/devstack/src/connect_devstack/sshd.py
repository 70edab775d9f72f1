"""An OpenSSH server for SFTP tests: loopback only, key auth only, the current user."""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import socket
import urllib.parse
from pathlib import Path
from typing import Literal

from connect_devstack import _proc
from connect_devstack.component import Component

log = logging.getLogger(__name__)

SSHD = "/usr/sbin/sshd"  # sshd re-executes itself, so it insists on an absolute path
KeyType = Literal["ed25519", "rsa"]


class Sshd(Component):
    """``sshd -D -e`` on ``127.0.0.1:<port>`` serving ``internal-sftp`` for the current user.

    No chroot: clients use absolute paths below :attr:`data_dir`.
    """

    name = "sshd"
    env_keys = ("SFTP_TEST_URL", "SFTP_TEST_HOST_KEY", "SFTP_TEST_KNOWN_HOSTS")

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int | None = None,
        key_type: KeyType = "ed25519",
        ready_timeout: float = 20.0,
    ) -> None:
        super().__init__(state_dir)
        self.host = _proc.LOOPBACK
        self._port = port
        self.key_type: KeyType = key_type
        self.user = getpass.getuser()
        self.ready_timeout = ready_timeout

    # -- facts -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The SSH port (picked lazily so that ``stop_recorded`` needs none)."""
        if self._port is None:
            self._port = _proc.free_port()
        return self._port

    @property
    def data_dir(self) -> Path:
        """Folder the tests read and write through SFTP (absolute paths)."""
        return self.dir / "data"

    @property
    def private_key(self) -> Path:
        """The client's private key (OpenSSH format, no passphrase)."""
        return self.dir / f"id_{self.key_type}"

    @property
    def host_key_file(self) -> Path:
        """The server's private host key (ed25519)."""
        return self.dir / "ssh_host_ed25519_key"

    @property
    def host_public_key(self) -> str:
        """The server's public host key as ``ssh-ed25519 AAAA...`` (no comment)."""
        key_type, blob = Path(f"{self.host_key_file}.pub").read_text().split()[:2]
        return f"{key_type} {blob}"

    @property
    def known_hosts(self) -> Path:
        """A known_hosts file for ``-o UserKnownHostsFile=`` that trusts this server only."""
        return self.dir / "known_hosts"

    @property
    def config_file(self) -> Path:
        """The generated sshd_config."""
        return self.dir / "sshd_config"

    def url(self) -> str:
        """``sftp://<user>@127.0.0.1:<port>/<abs data dir>?key=<abs private key path>``."""
        path = urllib.parse.quote(str(self.data_dir))
        query = urllib.parse.urlencode({"key": str(self.private_key)}, safe="/")
        return f"sftp://{self.user}@{self.host}:{self.port}{path}?{query}"

    def env(self) -> dict[str, str]:
        """``SFTP_TEST_URL`` plus the host key, to let clients verify the server."""
        return {
            "SFTP_TEST_URL": self.url(),
            "SFTP_TEST_HOST_KEY": self.host_public_key,
            "SFTP_TEST_KNOWN_HOSTS": str(self.known_hosts),
        }

    # -- lifecycle -------------------------------------------------------------------

    def _start(self) -> None:
        """Generate keys and config, launch sshd in the foreground, wait for its banner."""
        self.data_dir.mkdir(parents=True)
        _keygen(self.host_key_file, "ed25519", self.dir / "keygen.log")
        _keygen(self.private_key, self.key_type, self.dir / "keygen.log")
        authorized = self.dir / "authorized_keys"
        authorized.write_text(Path(f"{self.private_key}.pub").read_text())
        authorized.chmod(0o600)
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {self.host_public_key}\n")
        self.config_file.write_text(self.sshd_config())
        # Privilege separation directory: Debian's init script/systemd unit creates it, and
        # neither runs here. Only root can create it; a non-root sshd reports what it lacks.
        with contextlib.suppress(PermissionError):
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        proc = _proc.spawn(
            [SSHD, "-D", "-e", "-f", str(self.config_file)],
            log_path=self.log_file,
            cwd=self.dir,
        )
        self._record(proc.pid, proc)
        _proc.wait_until(
            self._banner_received,
            timeout=self.ready_timeout,
            what=f"sshd on {self.host}:{self.port}",
            abort=self._abort_reason,
        )

    def sshd_config(self) -> str:
        """A self-contained sshd_config that ignores /etc/ssh entirely."""
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            f"HostKey {self.host_key_file}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            f"AllowUsers {self.user}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            # No PAM (no session modules, no /etc/pam.d needed) and no ownership checks on the
            # state dir, which lives in a developer's checkout.
            "UsePAM no",
            "StrictModes no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "PrintMotd no",
            "UseDNS no",
            # Parallel tests open many sessions at once; the defaults throttle at 10.
            "MaxStartups 100",
            "MaxSessions 100",
            "LogLevel INFO",
            "Subsystem sftp internal-sftp",
        ]
        return "\n".join(lines) + "\n"

    def _banner_received(self) -> bool:
        """True once sshd answers with its ``SSH-2.0-...`` identification string."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                return sock.recv(4).startswith(b"SSH-")
        except OSError:
            return False


def _keygen(path: Path, key_type: KeyType, log_path: Path) -> None:
    """Create an unencrypted key pair at ``path`` / ``path.pub``."""
    size = ["-b", "3072"] if key_type == "rsa" else []
    comment = f"connect-devstack@{os.uname().nodename}"
    _proc.run(
        ["ssh-keygen", "-q", "-t", key_type, *size, "-N", "", "-C", comment, "-f", str(path)],
        log_path=log_path,
    )
