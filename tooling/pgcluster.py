"""A throwaway PostgreSQL cluster: for the test suite (tests/support/postgres.py) and the bench.

Services connect over TCP with a password, like in production:
`postgresql://flightsaga:flightsaga@127.0.0.1:<port>/<db>`. The server is never left running.
A development tool: no service imports it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, LiteralString

if TYPE_CHECKING:  # psycopg is imported lazily
    from psycopg.sql import SQL, Composed

ROLE = "flightsaga"
PASSWORD = "flightsaga"
ADMIN_ROLE = "postgres"
ADMIN_PASSWORD = "flightsaga-admin"
SYSTEM_USER = "postgres"  # the unprivileged user the server runs as when we are root

# fsync and synchronous_commit stay on: durability is under test, and the bench measures
# durable commits.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "300",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": "128MB",
    "password_encryption": "'scram-sha-256'",
    "log_line_prefix": "'%m [%p] %q%u@%d '",
    "log_min_messages": "warning",
}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot run here (binaries missing, or the server would not start)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_bin_dir() -> Path:
    """The directory holding initdb, pg_ctl and postgres; PostgresUnavailable if none.

    $FLIGHTSAGA_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin (Debian), else
    `initdb`/`pg_ctl` on PATH."""
    needed = ("initdb", "pg_ctl", "postgres")
    explicit = os.environ.get("FLIGHTSAGA_PG_BIN", "")
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    else:

        def version(path: Path) -> tuple[int, ...]:
            return tuple(int(p) for p in re.findall(r"\d+", path.parent.name))

        debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
        candidates.extend(debian)
        on_path = shutil.which("pg_ctl")
        if on_path:
            candidates.append(Path(os.path.realpath(on_path)).parent)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in needed):
            return directory
    where = explicit or "/usr/lib/postgresql/*/bin or PATH"
    raise PostgresUnavailable(f"no initdb/pg_ctl/postgres found in {where}")


# Run by a watchdog process: waits for EOF on stdin (the test process has gone, however it
# went), then stops the server if it still runs and removes the temp dir.
_WATCHDOG = """
import os, shutil, subprocess, sys
sys.stdin.buffer.read()
pg_ctl, data, root, user = sys.argv[1:5]
if os.path.exists(os.path.join(data, "postmaster.pid")):
    subprocess.run([pg_ctl, "stop", "-D", data, "-m", "immediate", "-w", "-t", "30"],
                   user=user or None, group=user or None, extra_groups=[] if user else None,
                   cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
shutil.rmtree(root, ignore_errors=True)
"""


class PgCluster:
    """One throwaway PostgreSQL server: `initdb`, `start`, `new_database`, `stop`, `destroy`.

    `initdb` into a fresh temp dir, `pg_ctl start` on a free 127.0.0.1 port with its unix socket in
    that dir, run as an unprivileged user (the `postgres` system user that Debian's `postgresql`
    package creates when we are root; the current user otherwise). Durability settings stay on
    (fsync, `synchronous_commit`).

    `destroy()` stops it (`pg_ctl stop -m immediate`), and a small watchdog process stops it and
    removes the temp dir when the owning process goes away by any other means (kill -9 included)."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_bin_dir()
        self.user = SYSTEM_USER if os.geteuid() == 0 else ""
        if self.user:
            try:
                pwd.getpwnam(self.user)
            except KeyError as exc:
                raise PostgresUnavailable(
                    f"running as root and there is no '{self.user}' system user to run the "
                    "server as (Debian's postgresql package creates it)"
                ) from exc
        # Under /tmp itself when root: pytest's own temp dirs are 0700 root, so the postgres
        # user could not reach them. Short, too: a unix socket path must fit in 107 bytes.
        self.root = Path(
            tempfile.mkdtemp(prefix="flightsaga-pg-", dir="/tmp" if self.user else None)
        )
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._names = itertools.count(1)
        self._watchdog: subprocess.Popen[bytes] | None = None
        if self.user:
            shutil.chown(self.root, self.user, self.user)

    # -- URLs ---------------------------------------------------------------------------------

    @property
    def admin_url(self) -> str:
        """The superuser, over TCP with its password (for CREATE DATABASE, terminating, ...)."""
        return f"postgresql://{ADMIN_ROLE}:{ADMIN_PASSWORD}@127.0.0.1:{self.port}/postgres"

    def url_for(self, dbname: str) -> str:
        """How a service reaches `dbname`: the unprivileged role, over TCP with its password."""
        return f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    @property
    def running(self) -> bool:
        """Whether a server runs on the data dir (`pg_ctl status`; a stale pid file is not)."""
        return (
            self.data.exists()
            and self._run("pg_ctl", "status", "-D", str(self.data)).returncode == 0
        )

    @property
    def postmaster_pid(self) -> int | None:
        """The server's main process (its backends are its children), or None when down."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    # -- lifecycle ----------------------------------------------------------------------------

    def _run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", HOME=str(self.root))
        command = [str(self.bin_dir / args[0]), *args[1:]]
        setpriv = shutil.which("setpriv") if self.user else None
        if setpriv:
            # The user switch by setpriv, not by subprocess's user=/group=: those make Python
            # fork() rather than vfork(), and a fork() runs gRPC's fork handlers in the child
            # while this process has gRPC threads (a test's channels), which can kill the child
            # before its exec (grpc/grpc#43055: "epoll_wait error: Bad file descriptor").
            user = self.user
            command = [setpriv, f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
        switch = bool(self.user) and not setpriv
        return subprocess.run(
            command,
            user=self.user if switch else None,
            group=self.user if switch else None,
            extra_groups=[] if switch else None,
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            # Its own session: a Ctrl-C meant for pytest must not reach the postmaster.
            start_new_session=True,
            check=False,
        )

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def init(self) -> PgCluster:
        """initdb with a password for the superuser, scram over TCP, trust on the private socket."""
        self._start_watchdog()
        pwfile = self.root / "pwfile"
        pwfile.write_text(ADMIN_PASSWORD + "\n")
        if self.user:
            shutil.chown(pwfile, self.user, self.user)
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            ADMIN_ROLE,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",  # the socket dir is 0700, the server user's own
            "--encoding=UTF8",
            "--no-locale",
            "--no-instructions",
        )
        pwfile.unlink()
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {(done.stderr or done.stdout)[-1500:]}")
        self.port = free_port()
        self._write_settings()
        return self

    def _write_settings(self) -> None:
        lines = [f"{k} = {v}" for k, v in SETTINGS.items()]
        lines += [f"port = {self.port}", f"unix_socket_directories = '{self.root}'"]
        conf = self.data / "postgresql.auto.conf"
        conf.write_text(
            "# Written by tooling/pgcluster.py for a throwaway cluster.\n" + "\n".join(lines) + "\n"
        )
        if self.user:
            shutil.chown(conf, self.user, self.user)

    def start(self) -> None:
        """Start the server (again, after `stop`) on the same port and data; wait until up."""
        for attempt in range(5):
            done = self._run(
                "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60"
            )
            if done.returncode == 0:
                return
            lost_port = "could not bind" in self._log_tail() or "in use" in self._log_tail()
            if self.running or not lost_port or attempt == 4:
                raise PostgresUnavailable(
                    f"pg_ctl start failed: {done.stderr.strip()}\n{self._log_tail()}"
                )
            self.port = free_port()  # someone took the port between free_port() and bind
            self._write_settings()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server. `fast` ends every session cleanly; `immediate` is a crash."""
        if not self.running:
            return
        done = self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")
        if done.returncode != 0 and self.running:
            raise RuntimeError(f"pg_ctl stop -m {mode} failed: {done.stderr.strip()}")

    @contextlib.contextmanager
    def stopped(self, mode: str = "fast") -> Iterator[None]:
        """An outage: the server is down inside the block and back up after it, even if the
        block fails (the cluster is shared by the whole session)."""
        self.stop(mode)
        try:
            yield
        finally:
            self.start()

    def destroy(self) -> None:
        """Stop at once (never leave a server running) and remove the temp dir."""
        try:
            if self.running:
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            if self._watchdog is not None:
                with contextlib.suppress(OSError):
                    assert self._watchdog.stdin is not None
                    self._watchdog.stdin.close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._watchdog.wait(timeout=30)
                self._watchdog = None

    def _start_watchdog(self) -> None:
        self._watchdog = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WATCHDOG,
                str(self.bin_dir / "pg_ctl"),
                str(self.data),
                str(self.root),
                self.user,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    # -- databases ----------------------------------------------------------------------------

    def admin(self, query: LiteralString | SQL | Composed, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser (autocommit); the rows it returns, if any."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(query, params or None)
            return list(cur.fetchall()) if cur.description else []

    def create_role(self) -> None:
        from psycopg import sql

        self.admin(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(PASSWORD)
            )
        )

    def new_database(self, prefix: str = "db") -> str:
        """CREATE a fresh, empty database (a unique name each call), owned by the service role;
        return its URL."""
        from psycopg import sql

        clean = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_")[:30] or "db"
        name = f"{clean}_{next(self._names)}_{uuid.uuid4().hex[:8]}"
        self.admin(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(ROLE)
            )
        )
        return self.url_for(name)

    def terminate_connections(self, dbname: str | None = None) -> int:
        """Kill every session of `dbname` (all service sessions when None), as an outage would;
        the number killed."""
        rows = self.admin(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND usename = %s AND (%s::text IS NULL OR datname = %s)",
            ROLE,
            dbname,
            dbname,
        )
        return int(rows[0][0])


def start_cluster(bin_dir: Path | None = None) -> PgCluster:
    """A running cluster with the service role; PostgresUnavailable if it cannot run here."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise PostgresUnavailable(f"the psycopg package is not installed ({exc})") from exc
    cluster = PgCluster(bin_dir)
    try:
        cluster.init()
        cluster.start()
        cluster.create_role()
    except BaseException:
        cluster.destroy()
        raise
    return cluster
