"""A real PostgreSQL server (Debian's package) on 127.0.0.1 with its own data directory.

The password is generated per instance and handed out through :meth:`settings`; nothing is kept
in source. PostgreSQL refuses to run as root, so when we are root the server runs as the
``postgres`` system user that Debian's package creates.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg2

from ctrbench.embedded.process import free_port, stop_process, wait_until
from ctrbench.errors import ServiceUnavailable
from ctrbench.settings import PostgresSettings, load

__all__ = ["EmbeddedPostgres", "postgres_bindir"]

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 60.0


def postgres_bindir() -> Path:
    """Directory with initdb/postgres of the newest installed Debian PostgreSQL."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_major, reverse=True)
    if not candidates:
        raise ServiceUnavailable("PostgreSQL server is not installed: run `make run-deps` "
                                 "or `apt-get install -y postgresql`")
    return Path(candidates[0]).parent


def _major(path: str) -> int:
    try:
        return int(Path(path).parent.parent.name)
    except ValueError:
        return 0


class EmbeddedPostgres:
    """PostgreSQL on a free loopback port; a fresh cluster per instance, deleted on stop."""

    def __init__(self, db: str = "ctr", user: str = "ctr") -> None:
        self.db = db
        self.user = user
        self.port = 0
        self._password = secrets.token_urlsafe(18)
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None

    def settings(self) -> PostgresSettings:
        """Connection settings for this server."""
        return load(PostgresSettings, postgres_host="127.0.0.1", postgres_port=self.port,
                    postgres_db=self.db, postgres_user=self.user, postgres_password=self._password)

    def start(self) -> EmbeddedPostgres:
        """initdb, start the server, create the database; wait until it accepts connections."""
        bindir = postgres_bindir()
        self._dir = Path(tempfile.mkdtemp(prefix="ctrbench-pg-"))
        run_as = _server_user()
        data, sock = self._dir / "data", self._dir / "sock"
        sock.mkdir()
        pwfile = self._dir / "pw"
        pwfile.write_text(self._password)
        if run_as is not None:
            shutil.chown(self._dir, run_as.pw_uid, run_as.pw_gid)
            shutil.chown(sock, run_as.pw_uid, run_as.pw_gid)
            shutil.chown(pwfile, run_as.pw_uid, run_as.pw_gid)
        user_kw = {"user": run_as.pw_uid, "group": run_as.pw_gid} if run_as else {}
        init = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", self.user, f"--pwfile={pwfile}",
             "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"],
            capture_output=True, text=True, check=False, **user_kw,  # type: ignore[arg-type]
        )
        pwfile.unlink()
        if init.returncode != 0:
            raise ServiceUnavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
        self.port = free_port()
        self._launch()
        return self

    def _launch(self) -> None:
        """Start the server on the existing data directory and port; wait until it accepts connections."""
        assert self._dir is not None
        run_as = _server_user()
        user_kw = {"user": run_as.pw_uid, "group": run_as.pw_gid} if run_as else {}
        log = (self._dir / "postgres.log").open("ab")
        logger.info("starting PostgreSQL on 127.0.0.1:%d", self.port)
        self._proc = subprocess.Popen(
            [str(postgres_bindir() / "postgres"), "-D", str(self._dir / "data"), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self._dir / "sock"), "-c", "fsync=off", "-c", "max_connections=50"],
            stdout=log, stderr=subprocess.STDOUT, **user_kw,  # type: ignore[arg-type]
        )
        try:
            wait_until(self._accepts, _START_TIMEOUT_S, "PostgreSQL",
                       alive=lambda: self._proc is not None and self._proc.poll() is None)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise ServiceUnavailable(str(exc)) from None

    def _accepts(self) -> bool:
        params = self.settings().dsn() | {"dbname": "postgres", "connect_timeout": 2}
        try:
            conn = psycopg2.connect(**params)
        except psycopg2.OperationalError:
            return False
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.db,))
                if cur.fetchone() is None:
                    # Identifiers cannot be parameters; the name is ours, not user input.
                    cur.execute(f'CREATE DATABASE "{self.db}"')
        finally:
            conn.close()
        return True

    def halt(self) -> None:
        """Stop the server (fast shutdown: SIGTERM is 'smart', SIGINT is 'fast') and keep its data and port:
        an outage, ended by :meth:`resume`. Clients lose their connections and find it again at the same address."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(2)  # SIGINT: fast shutdown, do not wait for clients
            stop_process(self._proc, "postgres", grace=30)
            self._proc = None

    def resume(self) -> None:
        """Start the halted server again on the same data directory and port."""
        if self._dir is None:
            raise RuntimeError("the server was never started")
        if self._proc is None:
            self._launch()

    def stop(self) -> None:
        """Stop the server and delete the data directory."""
        self.halt()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceUnavailable("running as root, but there is no `postgres` user to run the server as; "
                                 "install Debian's postgresql package (make run-deps)") from None
