#!/usr/bin/env bash
# The local Warehouse stand-in: a throwaway PostgreSQL server on loopback.
#
#   scripts/warehouse.sh start     install PostgreSQL if missing, initialise, start, wait (idempotent)
#   scripts/warehouse.sh stop      stop it (no-op when not running)
#   scripts/warehouse.sh status    exit 0 only when it answers a query
#   scripts/warehouse.sh psql ...  psql connected to it (database FABGEN_PG_DB, default postgres)
#
# Settings (environment):
#   FABGEN_PG_DATA      data folder        (default <repo>/.fabgen/postgres)
#   FABGEN_PG_PORT      TCP port           (default 54329; listens on 127.0.0.1 only)
#   FABGEN_PG_USER      superuser role     (default fabgen)
#   FABGEN_PG_PASSWORD  its password       (default fabgen; scram-sha-256 over TCP)
#   FABGEN_PG_OS_USER   OS user running the server when started as root
#                       (default: postgres if it exists, else fabgen-pg, created on demand)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${FABGEN_PG_PORT:-54329}"
PGUSER_NAME="${FABGEN_PG_USER:-fabgen}"
PGPASS="${FABGEN_PG_PASSWORD:-fabgen}"
HOST=127.0.0.1
STATE_DIR="$REPO/.fabgen"

say() { echo "warehouse: $*" >&2; }
die() { echo "warehouse: error: $*" >&2; exit 1; }

# --------------------------------------------------------------------------- binaries
find_bin() {
    local best
    # Highest installed version first (sort -V: 10 after 9).
    best="$(for dir in /usr/lib/postgresql/*/bin; do [[ -x "$dir/initdb" ]] && echo "$dir"; done | sort -V | tail -n1)"
    if [[ -n "$best" ]]; then
        echo "$best"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
    else
        return 1
    fi
}

install_postgres() {
    [[ $EUID -eq 0 ]] || die "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is not available"
    say "installing PostgreSQL with apt-get (once)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # policy-rc.d keeps the package from starting its own cluster on port 5432.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
    fi
    apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null
    [[ $created_policy -eq 1 ]] && rm -f "$policy"
    return 0
}

BIN="$(find_bin || true)"

need_bin() {
    if [[ -z "$BIN" ]]; then
        install_postgres
        BIN="$(find_bin)" || die "PostgreSQL installed but initdb not found"
    fi
}

# --------------------------------------------------------------------------- OS user and data folder
# The OS user a new cluster gets: as root FABGEN_PG_OS_USER, else postgres when it exists, else
# fabgen-pg (created on demand); otherwise the current user. An existing cluster keeps its owner.
new_cluster_user() {
    if [[ $EUID -ne 0 ]]; then
        id -un
    elif [[ -n "${FABGEN_PG_OS_USER:-}" ]]; then
        echo "$FABGEN_PG_OS_USER"
    elif id postgres >/dev/null 2>&1; then
        echo postgres
    else
        echo fabgen-pg
    fi
}
RUN_USER="$(new_cluster_user)"

ensure_run_user() {
    if ! id "$RUN_USER" >/dev/null 2>&1; then
        say "creating OS user $RUN_USER"
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER"
    fi
}

# Run a command as the server's OS user, from a folder it can enter.
as_run_user() {
    if [[ $EUID -eq 0 && "$RUN_USER" != root ]]; then
        (cd / && runuser -u "$RUN_USER" -- "$@")
    else
        (cd / && "$@")
    fi
}

FALLBACK_DATA="/var/tmp/fabgen-postgres-$(printf '%s' "$REPO" | md5sum | cut -c1-8)"

# FABGEN_PG_DATA; else an existing cluster in <repo>/.fabgen/postgres or in the fallback folder;
# else <repo>/.fabgen/postgres when the server's user can reach it, else the fallback (a clone
# under /root, say, is closed to other users).
data_dir() {
    local preferred="$STATE_DIR/postgres"
    if [[ -n "${FABGEN_PG_DATA:-}" ]]; then
        echo "$FABGEN_PG_DATA"
    elif [[ -s "$preferred/PG_VERSION" ]]; then
        echo "$preferred"
    elif [[ -s "$FALLBACK_DATA/PG_VERSION" ]]; then
        echo "$FALLBACK_DATA"
    elif [[ $EUID -ne 0 ]] || ! id "$RUN_USER" >/dev/null 2>&1 \
        || runuser -u "$RUN_USER" -- test -x "$REPO" 2>/dev/null; then
        echo "$preferred"
    else
        echo "$FALLBACK_DATA"
    fi
}

# After picking the data folder: an existing cluster is run by the user who owns it.
adopt_owner() {
    if [[ $EUID -eq 0 && -s "$1/PG_VERSION" ]]; then
        RUN_USER="$(stat -c %U "$1")"
    fi
}

# --------------------------------------------------------------------------- commands
psql_bin() {
    if [[ -n "$BIN" && -x "$BIN/psql" ]]; then echo "$BIN/psql"; else command -v psql || true; fi
}

answers() {
    local psql
    psql="$(psql_bin)"
    [[ -n "$psql" ]] || return 1
    PGPASSWORD="$PGPASS" PGCONNECT_TIMEOUT=3 "$psql" -X -q -h "$HOST" -p "$PORT" -U "$PGUSER_NAME" \
        -d postgres -tAc 'SELECT 1' >/dev/null 2>&1
}

init_cluster() {
    local data="$1" pwfile
    say "initialising a new cluster in $data"
    mkdir -p "$data"
    chmod 700 "$data"
    [[ $EUID -eq 0 ]] && chown "$RUN_USER" "$data"
    pwfile="$(mktemp)"
    printf '%s\n' "$PGPASS" >"$pwfile"
    [[ $EUID -eq 0 ]] && chown "$RUN_USER" "$pwfile"
    if ! as_run_user "$BIN/initdb" -D "$data" -U "$PGUSER_NAME" --pwfile="$pwfile" \
        --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C >"$STATE_DIR/initdb.log" 2>&1; then
        rm -f "$pwfile"
        cat "$STATE_DIR/initdb.log" >&2
        die "initdb failed"
    fi
    rm -f "$pwfile"
    # Throwaway server: loopback only, no unix socket, durability traded for speed.
    cat >>"$data/postgresql.conf" <<EOF

# ---- fabgen local warehouse (scripts/warehouse.sh)
listen_addresses = '$HOST'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
log_min_messages = warning
EOF
    cat >"$data/pg_hba.conf" <<EOF
# fabgen local warehouse: password auth over loopback TCP only.
host all all 127.0.0.1/32 scram-sha-256
EOF
    [[ $EUID -eq 0 ]] && chown "$RUN_USER" "$data/postgresql.conf" "$data/pg_hba.conf"
    return 0
}

cmd_start() {
    mkdir -p "$STATE_DIR"
    # One starter at a time (parallel test sessions, demo and tests together). The server must
    # not inherit the lock's descriptor, or it would hold the lock for its whole life.
    exec 9>"$STATE_DIR/warehouse-start.lock"
    flock -w 300 9 || die "another 'warehouse.sh start' holds $STATE_DIR/warehouse-start.lock"
    if answers; then
        say "already running on $HOST:$PORT"
        return 0
    fi
    need_bin
    RUN_USER="$(new_cluster_user)"  # postgres may exist now that PostgreSQL is installed
    [[ $EUID -eq 0 ]] && ensure_run_user
    local data started
    data="$(data_dir)"
    adopt_owner "$data"
    if [[ ! -s "$data/PG_VERSION" ]]; then
        init_cluster "$data"
    fi
    say "starting PostgreSQL $(cat "$data/PG_VERSION") on $HOST:$PORT (data: $data)"
    started=$(date +%s.%N)
    if ! as_run_user "$BIN/pg_ctl" -D "$data" -l "$data/server.log" -o "-p $PORT" -w -t 60 start >/dev/null 9>&-; then
        tail -n 30 "$data/server.log" >&2 || true
        die "PostgreSQL did not start (log: $data/server.log)"
    fi
    local i
    for i in $(seq 1 120); do
        if answers; then
            say "ready in $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s"
            return 0
        fi
        sleep 0.25
    done
    tail -n 30 "$data/server.log" >&2 || true
    die "PostgreSQL started but does not accept connections on $HOST:$PORT as $PGUSER_NAME"
}

cmd_stop() {
    local data
    data="$(data_dir)"
    adopt_owner "$data"
    if [[ -z "$BIN" || ! -s "$data/postmaster.pid" ]]; then
        say "not running"
        return 0
    fi
    if as_run_user "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_run_user "$BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
        say "stopped"
    else
        say "not running"
    fi
}

cmd_status() {
    if answers; then
        say "running on $HOST:$PORT (user $PGUSER_NAME)"
        return 0
    fi
    say "not answering on $HOST:$PORT"
    return 1
}

cmd_psql() {
    local psql
    psql="$(psql_bin)"
    [[ -n "$psql" ]] || die "psql not found (run: $0 start)"
    PGPASSWORD="$PGPASS" exec "$psql" -X -h "$HOST" -p "$PORT" -U "$PGUSER_NAME" -d "${FABGEN_PG_DB:-postgres}" "$@"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    psql) shift; cmd_psql "$@" ;;
    *)
        echo "usage: $0 start|stop|status|psql [psql args]" >&2
        exit 2
        ;;
esac
