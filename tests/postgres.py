"""A PostgreSQL server of the tests' own: ``initdb`` and ``pg_ctl`` (Debian's ``postgresql``
package) on a free port, in a temporary directory, never the shared 5432.

PostgreSQL refuses to run as root; as root (CI, containers) its files belong to ``nobody`` and
its commands run as that user. One server per test session; each test gets a fresh database
copied from an empty template (``CREATE DATABASE … TEMPLATE``), which takes a few milliseconds.
``fsync`` stays on: the durability stories (kill -9, a restarted server) depend on it.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .conftest import free_port

_BINARIES = ("initdb", "pg_ctl", "postgres")
#: Who runs PostgreSQL when the tests run as root (initdb and postgres refuse root).
RUN_AS = "nobody"


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: on PATH, /usr/local/bin, or Debian's
    /usr/lib/postgresql/<version>/bin (the newest); None when there is none."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    candidates.append(Path("/usr/local/bin"))
    candidates += [
        Path(p)
        for p in sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
            reverse=True,
        )
    ]
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in _BINARIES):
            return directory
    return None


def missing_reason() -> str | None:
    """Why a PostgreSQL cannot be started here (None: it can)."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as e:
        return f"psycopg is not installed ({e}): pip install 'jupyter_omniforge[postgres]'"
    if find_bindir() is None:
        return (
            "PostgreSQL's initdb/pg_ctl are not on PATH, in /usr/local/bin or in "
            "/usr/lib/postgresql/*/bin (apt-get install postgresql)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return f"running as root, and there is no user {RUN_AS!r} to run PostgreSQL as"
    return None


class PostgresProcess:
    """One PostgreSQL server: ``start()``, ``stop()`` (and ``start()`` again: same data),
    ``create_database()`` for a fresh database."""

    def __init__(self, bindir: Path | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise RuntimeError(missing_reason() or "no PostgreSQL binaries")
        self.bindir = found
        self.port = free_port()
        # Not under pytest's tmp_path: that is 0700 root, and the server may run as nobody,
        # who must be able to reach its directory (through a TMPDIR others may traverse).
        parent = tempfile.gettempdir()
        if os.geteuid() == 0 and not os.stat(parent).st_mode & 0o001:
            parent = "/tmp"
        self.dir = Path(tempfile.mkdtemp(prefix="omniforge-pg-", dir=parent))
        self.data = self.dir / "data"
        self.sockets = self.dir / "sockets"
        self.log = self.dir / "server.log"
        self._user: str | None = None
        self._databases = itertools.count(1)
        self._initialized = False

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        """A PostgreSQL command as the user the server runs as (never root)."""
        kwargs: dict = {}
        if self._user is not None:
            kwargs = {"user": self._user, "group": pwd.getpwnam(self._user).pw_gid}
        done = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            timeout=timeout,
            cwd=self.dir,
            **kwargs,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}): "
                f"{done.stderr.decode(errors='replace')[-2000:]}\n{log}"
            )

    def _initdb(self) -> None:
        if os.geteuid() == 0:
            self._user = RUN_AS
            uid, gid = pwd.getpwnam(self._user)[2:4]
            os.chown(self.dir, uid, gid)
        self.dir.chmod(0o700)
        self.sockets.mkdir()
        if self._user is not None:
            os.chown(self.sockets, *pwd.getpwnam(self._user)[2:4])
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # the cluster's first files only; the server itself keeps fsync on
        )
        self._initialized = True

    def start(self) -> PostgresProcess:
        """Start the server; should another process take its port between ``free_port()`` and
        the first start, start it on another (a restart keeps its port: clients know its URL)."""
        if not self._initialized:
            self._initdb()
            for _ in range(2):
                try:
                    return self._start()
                except RuntimeError as e:
                    if "could not bind" not in str(e):
                        raise
                self.port = free_port()
        return self._start()

    def _start(self) -> PostgresProcess:
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.sockets}",
                "-c max_connections=200",
                "-c shared_buffers=32MB",
                # Small and quick, durability untouched: fsync and synchronous_commit stay on.
                "-c full_page_writes=off",
                "-c max_wal_size=256MB",
                "-c logging_collector=off",
            ]
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate``: as if it crashed, with recovery at the next start)."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def create_database(self, template: str = "template0") -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"omniforge_{os.getpid()}_{next(self._databases)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE {template}')
        return self.url(name)

    def wait_until_up(self, timeout: float = 20) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
