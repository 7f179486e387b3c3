"""The local PostgreSQL warehouse from tests: connect, and recreate a test's own database."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def pg_connect(database: str = "postgres", env: Mapping[str, str] | None = None) -> Any:
    """A psycopg2 connection to ``database`` (settings from ``env``, default the process environment,
    which the session's ``warehouse`` fixture fills)."""
    import psycopg2

    env = os.environ if env is None else env
    return psycopg2.connect(
        host=env["FABGEN_PG_HOST"],
        port=int(env["FABGEN_PG_PORT"]),
        user=env["FABGEN_PG_USER"],
        password=env["FABGEN_PG_PASSWORD"],
        dbname=database,
        connect_timeout=10,
    )


def recreate_database(name: str, env: Mapping[str, str] | None = None) -> None:
    """Drop ``name`` (closing its sessions) and create it empty."""
    conn = pg_connect("postgres", env)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def pg_execute(database: str, sql: str, env: Mapping[str, str] | None = None) -> None:
    """Run ``sql`` in ``database`` and commit."""
    with pg_connect(database, env) as conn, conn.cursor() as cur:
        cur.execute(sql)
