#!/usr/bin/env bash
# Set up everything fabgen needs locally; safe to run again (each step is skipped when done).
#
#   1. Java (for Spark) and Maven (fetches the Delta/JDBC jars), unixODBC and PostgreSQL's ODBC driver
#      (the runtime's pyodbc control-query path runs against the local warehouse), and Chromium (the report
#      test opens `fabgen report`'s page in it, headless: tests/integration/test_report.py), from apt-get
#      when missing
#   2. .venv with fabgen and fabgen-runtime installed editable, extras local, dev and deploy (deploy:
#      fabric-cicd, azure-identity, azure-storage-file-datalake for the wheel's upload to OneLake)
#   3. the local Spark jars (Delta Lake, PostgreSQL JDBC), cached in FABGEN_JAR_CACHE
#   4. a Jupyter kernel named synapse_pyspark (Fabric's kernel name) running the venv's Python
#   5. Azurite (Microsoft's Azure Storage emulator, npm) in .fabgen/azurite: the Python engine's Fabric
#      branch reads and writes OneLake-shaped abfss:// Delta tables through it in the tests, and the deploy
#      tests upload the runtime wheel to it
#
# FABGEN_PYTHON picks the interpreter that creates the venv (default python3).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
VENV="$REPO/.venv"
PY="$VENV/bin/python"

step() { echo "==> $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

apt_install() {
    [[ $EUID -eq 0 ]] || die "missing $* and installing it needs root (apt-get install $*)"
    command -v apt-get >/dev/null 2>&1 || die "missing $* and apt-get is not available"
    if [[ -z "${_APT_UPDATED:-}" ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        _APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---- 1. system tools
if ! command -v java >/dev/null 2>&1; then
    step "installing Java (for Spark)"
    apt_install openjdk-17-jre-headless
fi
if ! command -v mvn >/dev/null 2>&1; then
    step "installing Maven (fetches the Spark jars once)"
    apt_install maven
fi
if ! odbcinst -q -d 2>/dev/null | grep -q '^\[PostgreSQL Unicode\]'; then
    step "installing unixODBC and the PostgreSQL ODBC driver (pyodbc control queries)"
    apt_install unixodbc odbc-postgresql
fi
if ! command -v chromium >/dev/null 2>&1; then
    step "installing Chromium (headless, for the fabgen report test)"
    apt_install chromium
fi

# ---- 2. virtualenv and packages
source "$REPO/scripts/pip-install.sh"
if [[ ! -x "$PY" ]]; then
    step "creating .venv"
    "${FABGEN_PYTHON:-python3}" -m venv "$VENV"
fi
# Reinstall only when the packaging changed since the last successful install.
STAMP="$VENV/.fabgen-setup"
WANT="$(cat pyproject.toml runtime/pyproject.toml | sha256sum | cut -c1-16)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
    step "installing fabgen, fabgen-runtime and their local/dev/deploy extras into .venv"
    LOG="$VENV/pip-install.log"
    if ! venv_install "$PY" "$LOG" -e runtime -e ".[local,dev,deploy]"; then
        tail -n 40 "$LOG" >&2
        die "pip install failed (full log: $LOG)"
    fi
    echo "$WANT" >"$STAMP"
else
    step "python packages up to date"
fi

# ---- 3. Spark jars
step "checking the local Spark jars (Delta Lake, PostgreSQL JDBC)"
"$PY" -c "from fabgen_runtime.engines.spark.local_spark import ensure_local_jars, jar_cache; ensure_local_jars(); print('    in', jar_cache())"

# ---- 4. Jupyter kernel named like Fabric's, so rendered notebooks run unchanged
KERNEL="$VENV/share/jupyter/kernels/synapse_pyspark/kernel.json"
if [[ ! -f "$KERNEL" ]] || ! grep -q "\"$PY\"" "$KERNEL"; then
    step "registering the Jupyter kernel synapse_pyspark"
    "$PY" -m ipykernel install --sys-prefix --name synapse_pyspark --display-name "Synapse PySpark (local)" >/dev/null
else
    step "Jupyter kernel synapse_pyspark registered"
fi

# ---- 5. Azurite for the Python engine's Fabric-branch tests (tests/support/azurite.py)
AZURITE_VERSION="3.35.0"
AZURITE="$REPO/.fabgen/azurite"
if ! grep -qs "\"version\": \"$AZURITE_VERSION\"" "$AZURITE/node_modules/azurite/package.json"; then
    if ! command -v npm >/dev/null 2>&1; then
        step "installing Node.js and npm (for Azurite)"
        apt_install nodejs npm
    fi
    step "installing Azurite $AZURITE_VERSION into .fabgen/azurite"
    mkdir -p "$AZURITE"
    if ! npm install --prefix "$AZURITE" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" \
        >"$AZURITE/npm-install.log" 2>&1; then
        tail -n 20 "$AZURITE/npm-install.log" >&2
        die "npm install azurite failed (full log: $AZURITE/npm-install.log)"
    fi
else
    step "Azurite $AZURITE_VERSION installed"
fi

step "setup done (activate with: source .venv/bin/activate)"
