"""A real PostgreSQL server for the tests (tests/test_outbox_postgres.py): Debian's `postgresql`
package, `initdb` into a temp dir and `postgres` on a free loopback port, stopped at the end.

PostgreSQL refuses to run as root: as root, both run as the `postgres` system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import environ
import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import sql

from walnats_django.testing import OutputLines, free_port

DEBIAN_VERSIONS = Path("/usr/lib/postgresql")
"""Where Debian's `postgresql-NN` packages put their binaries (`NN/bin`)."""
READY_LINE = "database system is ready to accept connections"
SUPERUSER = "postgres"
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    # A throwaway server: durability costs time and proves nothing here.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def find_postgres_bin() -> Path:
    """The directory with `initdb` and `postgres`: Debian's newest version, else the PATH's."""
    versions = sorted(
        (path for path in DEBIAN_VERSIONS.glob("*/bin") if path.parent.name.isdigit()),
        key=lambda path: int(path.parent.name),
    )
    candidates = [*reversed(versions)]
    on_path = shutil.which("postgres") or shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in ("initdb", "postgres")):
            return directory
    raise FileNotFoundError(
        "PostgreSQL's initdb and postgres were not found (looked in /usr/lib/postgresql/*/bin and "
        "on PATH): run `apt-get install postgresql` (Debian; .ci/run does it), or put them on PATH."
    )


class PostgresServer:
    """`initdb` a temp dir, run `postgres` on 127.0.0.1 on a free port (trust auth, user
    `postgres`); `stop()` shuts it down fast and removes the dir. Use it as a context manager."""

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        """Seconds allowed for `initdb`, for the start and for the stop."""
        self.bin_dir = find_postgres_bin()
        self.port = free_port()
        self.base_dir = Path(tempfile.mkdtemp(prefix="walnats-postgres-"))
        self.data_dir = self.base_dir / "data"
        self.process: subprocess.Popen[str] | None = None
        self.output: OutputLines | None = None

    def url(self, database: str = "postgres") -> str:
        """A database URL (as DATABASE_URL takes it) of `database` on this server."""
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        """`initdb`, then start `postgres` and wait for its "ready to accept connections" line."""
        as_user = _run_as()
        if as_user is not None:
            os.chown(self.base_dir, as_user.pw_uid, as_user.pw_gid)
        initdb = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                *("-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust"),
                *("--encoding=UTF8", "--locale=C", "--no-sync"),
            ],
            **_user_args(as_user),
            cwd=self.base_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb exited with {initdb.returncode}:\n{initdb.stdout}")
        settings = [arg for name, value in SERVER_SETTINGS.items() for arg in ("-c", f"{name}={value}")]
        self.process = subprocess.Popen(
            [
                str(self.bin_dir / "postgres"),
                *("-D", str(self.data_dir), "-p", str(self.port), "-k", str(self.base_dir)),
                *settings,
            ],
            **_user_args(as_user),
            cwd=self.base_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = OutputLines(self.process, name="postgres")
        try:
            self.output.wait_for(READY_LINE, self.timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def create_database(self, name: str) -> str:
        """Create database `name`; return its URL."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def log(self) -> str:
        """The server's output so far."""
        return self.output.log() if self.output else ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT: open sessions are ended), then remove the data."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.output is not None:
            self.output.join(timeout=5)
        self.process = None
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _run_as() -> pwd.struct_passwd | None:
    """The `postgres` system user when we are root (PostgreSQL will not run as root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "Running as root, but there is no `postgres` user to run PostgreSQL as (it refuses "
            "root): install Debian's postgresql package, which creates it, or run as another user."
        ) from None


def _user_args(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """Popen arguments that run the child as `user` (with that user's group only)."""
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


@contextmanager
def database_alias(alias: str, url: str) -> Iterator[None]:
    """Make the database at `url` Django's `alias` in this process (`using=alias`) until exit.

    Its NAME is used as is: no test database is made for it. Call `forget_connection(alias)`
    in each thread that used it before the end.
    """
    configured = connections.configure_settings(
        {DEFAULT_DB_ALIAS: connections.settings[DEFAULT_DB_ALIAS], alias: environ.Env.db_url_config(url)}
    )
    connections.settings[alias] = configured[alias]
    try:
        yield
    finally:
        del connections.settings[alias]


def forget_connection(alias: str) -> None:
    """Close this thread's connection to `alias` and drop it, so none outlives `database_alias`."""
    connections[alias].close()
    del connections[alias]
