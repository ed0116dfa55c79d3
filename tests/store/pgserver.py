"""A throwaway PostgreSQL server for the store tests: initdb in a temporary folder, started
with pg_ctl on a free local port, removed at the end.

PostgreSQL refuses to run as root, so under root the cluster belongs to an
unprivileged user (``postgres``, which Debian's package creates, else ``nobody``) and
every server command runs through ``runuser``. ``make postgres`` installs the server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "ouro"
DATABASE = "ouro_test"


def server_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: ``$PG_BINDIR``, Debian's newest
    /usr/lib/postgresql/*/bin, or the folder of ``initdb`` on the PATH; else None."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: int(Path(p).parent.name), reverse=True)
    found = shutil.which("initdb")
    candidates.append(str(Path(found).parent) if found else "")
    for folder in filter(None, candidates):
        if all(os.access(Path(folder, tool), os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(folder)
    return None


def missing_reason() -> str | None:
    """Why the server tests cannot run here, or None when they can (or must)."""
    if server_bin() is not None:
        return None
    if shutil.which("apt-get") is None:
        return (
            "no PostgreSQL server binaries (initdb, pg_ctl) and no apt-get to install them; "
            "install PostgreSQL or set PG_BINDIR"
        )
    return None


def _user() -> str | None:
    """The unprivileged user the server runs as when we are root (None: ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root, but there is no 'postgres' or 'nobody' user to run it")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A running throwaway cluster."""

    root: Path
    bin: Path
    port: int
    user: str | None

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def run(self, *command: str) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        return subprocess.run(  # in the cluster's folder: the user may not enter ours
            [*prefix, *command],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            cwd=self.root,
        )

    def stop(self) -> None:
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _checked(result: subprocess.CompletedProcess, what: str, log: Path | None = None) -> None:
    if result.returncode != 0:
        tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr}{tail}")


def start() -> Server:
    """initdb a cluster in a new temporary folder, start it, create :data:`DATABASE`."""
    binary = server_bin()
    if binary is None:
        raise RuntimeError(
            "PostgreSQL server binaries (initdb, pg_ctl) are missing: `make postgres` "
            "installs Debian's postgresql package (or set PG_BINDIR)"
        )
    user = _user()
    root = Path(tempfile.mkdtemp(prefix="ouro-pg-", dir="/tmp"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = Server(root=root, bin=binary, port=_free_port(), user=user)
    data, log = root / "data", root / "server.log"
    try:
        _checked(
            server.run(
                str(binary / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ),
            "initdb",
        )
        options = (
            f"-p {server.port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB "
            "-c max_connections=60"
        )
        _checked(
            server.run(
                str(binary / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "120",
                "start",
            ),
            "pg_ctl start",
            log,
        )
        _checked(
            server.run(
                str(binary / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(server.port),
                "-U",
                SUPERUSER,
                DATABASE,
            ),
            "createdb",
        )
    except BaseException:
        server.stop()
        raise
    return server
