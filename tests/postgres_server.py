"""A throwaway PostgreSQL server for the tests and benchmarks that need a gradebook in
PostgreSQL: initdb into a temporary folder, a unix socket in that folder, no TCP, stopped and
deleted afterwards. With ``tcp_role``, it also listens on 127.0.0.1 for that role only, with a
password (scram-sha-256), as a gradebook that workers on other machines reach. PostgreSQL refuses
to run as root, so as root the server runs as the ``postgres`` system user."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): install them with "
    "`make setup` as root (scripts/install-system-deps), or `apt-get install postgresql`"
)


class PostgresMissingError(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def postgres_bin() -> Path:
    """The newest installed /usr/lib/postgresql/<version>/bin; PostgresMissingError if none."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise PostgresMissingError(INSTALL_HINT)
    return Path(found[-1]).parent


def as_server_user() -> list[str]:
    """The prefix that runs a command as a non-root user (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:  # the Debian package creates it; a bare install may not have
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def throwaway_postgres(binaries: Path | None = None, *, tcp_role: str | None = None):
    """A running server with an empty database ``nbgrader``; yields its SQLAlchemy URL: through
    the unix socket as the superuser ``postgres`` (no password), or, with ``tcp_role``, through
    TCP on 127.0.0.1 as that role (created with a random password, owner of ``nbgrader``, allowed
    to create databases) with the password in the URL: TCP accepts no other role and no
    connection without the password."""
    binaries = binaries or postgres_bin()
    prefix = as_server_user()
    home = Path(tempfile.mkdtemp(prefix="nbgrader-postgres-"))  # in /tmp: the user can reach it
    if prefix:
        shutil.chown(home, user="postgres")
    data, port = home / "data", free_port()

    def run(*command):
        return subprocess.run([*prefix, *map(str, command)], check=True, capture_output=True)

    run(binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
    listen = "''"
    if tcp_role is not None:
        listen = "127.0.0.1"
        # Replaces initdb's rules: trust on the unix socket (the superuser, for the set-up),
        # and on TCP only tcp_role with its password; PostgreSQL checks the first matching line.
        rules = f"local all all trust\nhost all {tcp_role} 127.0.0.1/32 scram-sha-256\n"
        (data / "pg_hba.conf").write_text(rules)  # initdb's file: its owner stays the server's
    options = f"-p {port} -k {home} -c listen_addresses={listen} -c fsync=off"
    run(binaries / "pg_ctl", "-D", data, "-o", options, "-l", home / "server.log", "-w", "start")
    try:
        run(binaries / "createdb", "-h", home, "-p", port, "-U", "postgres", "nbgrader")
        if tcp_role is None:
            yield f"postgresql+psycopg2://postgres@/nbgrader?host={home}&port={port}"
        else:
            password = secrets.token_urlsafe(16)  # URL-safe: no quoting needed in the URL
            sql = (
                f"CREATE ROLE {tcp_role} LOGIN CREATEDB PASSWORD '{password}';"
                f" ALTER DATABASE nbgrader OWNER TO {tcp_role};"
            )
            run(binaries / "psql", "-h", home, "-p", port, "-U", "postgres", "-c", sql)
            yield f"postgresql+psycopg2://{tcp_role}:{password}@127.0.0.1:{port}/nbgrader"
    finally:
        run(binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


def another_database(url: str, name: str) -> str:
    """A new empty database on the server of ``url`` (``throwaway_postgres``'s), created by the
    URL's role; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)
