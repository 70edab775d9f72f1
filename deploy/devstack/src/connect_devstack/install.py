"""Install what the components need when it is missing: Debian packages and the Kafka jars.

Everything here is a no-op on a machine that already has it, so callers can run it before
every start. Machines are recycled without what was installed by hand, so the project
itself must be able to install its infrastructure.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path

from connect_devstack import paths, postgres, prometheus, sshd

log = logging.getLogger(__name__)

#: apt must not run twice at once (dpkg lock), even from parallel threads.
_apt_lock = threading.Lock()


def postgres_missing() -> bool:
    """True when no PostgreSQL server binaries (initdb) can be found."""
    return postgres.bin_dir() is None


def sshd_missing() -> bool:
    """True when OpenSSH's server or the sftp/ssh-keygen clients are missing."""
    return not Path(sshd.SSHD).exists() or shutil.which("ssh-keygen") is None or shutil.which("sftp") is None


def kafka_jars_missing(home: Path | None = None) -> bool:
    """True when ``deploy/kafka/lib`` holds no Kafka jar."""
    lib = (home or paths.kafka_home()) / "lib"
    return not glob.glob(str(lib / "kafka_*.jar"))


def apt_install(packages: Iterable[str]) -> None:
    """``apt-get update`` then ``apt-get install -y`` the given Debian packages (as root)."""
    wanted = sorted(set(packages))
    if not wanted:
        return
    if os.geteuid() != 0:
        raise PermissionError(f"need root to apt-get install {' '.join(wanted)}; install them by hand")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with _apt_lock:
        log.info("apt-get install %s", " ".join(wanted))
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *wanted],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )


def ensure_postgres() -> None:
    """Install Debian's ``postgresql`` when initdb is missing."""
    if postgres_missing():
        apt_install(["postgresql"])


def ensure_sshd() -> None:
    """Install ``openssh-server`` (and the sftp client) when missing."""
    if sshd_missing():
        apt_install(["openssh-server", "openssh-client"])


def ensure_kafka_jars(home: Path | None = None) -> None:
    """Copy Kafka and its dependencies into ``deploy/kafka/lib`` with Maven when it is empty.

    Maven's local repository makes later runs work offline; ``-B`` keeps CI logs free of
    progress bars and colours.
    """
    home = home or paths.kafka_home()
    if not kafka_jars_missing(home):
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        apt_install(["maven"])
        mvn = "mvn"
    log.info("resolving Kafka jars into %s", home / "lib")
    subprocess.run(
        [mvn, "-q", "-B", "-f", str(home / "pom.xml"), "dependency:copy-dependencies"],
        check=True,
        cwd=home,
    )
    if kafka_jars_missing(home):
        raise RuntimeError(f"maven ran but {home / 'lib'} still has no kafka jar")


def ensure_installed(components: Iterable[str] = ("kafka", "postgres", "sshd", "prometheus")) -> None:
    """Install whatever the named components need; apt packages in one go.

    Maven (Kafka jars) runs in a thread beside apt because both are mostly waiting on
    downloads.
    """
    wanted = set(components)
    packages: list[str] = []
    if "postgres" in wanted and postgres_missing():
        packages.append("postgresql")
    if "sshd" in wanted and sshd_missing():
        packages += ["openssh-server", "openssh-client"]
    if "prometheus" in wanted and prometheus.missing():  # `make up OBS=1`, and promtool for the alert rules' tests
        packages.append("prometheus")
    if "kafka" in wanted and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        packages.append("openjdk-17-jre-headless")
    if "kafka" in wanted and shutil.which("mvn") is None and kafka_jars_missing():
        packages.append("maven")
    errors: list[BaseException] = []

    def jars() -> None:
        try:
            ensure_kafka_jars()
        except BaseException as exc:  # re-raised in the calling thread below
            errors.append(exc)

    worker = threading.Thread(target=jars, name="ensure-kafka-jars") if "kafka" in wanted else None
    if worker is not None and "maven" not in packages:
        worker.start()
        apt_install(packages)
    else:
        apt_install(packages)  # Maven itself comes from apt: install it first, then resolve
        if worker is not None:
            worker.start()
    if worker is not None:
        worker.join()
    if errors:
        raise errors[0]
