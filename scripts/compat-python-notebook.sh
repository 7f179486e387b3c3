#!/usr/bin/env bash
# Fabric Python notebook compatibility check: the Python engine (no JVM) on the package set of
# Fabric's default Python-notebook kernel, python3.12.
#
# Keeps a virtualenv, .venv-pynb, with the versions Microsoft's release notes list for that kernel
# (docs/runtimes.md, "Python notebooks: preinstalled libraries"): deltalake 1.2.1, pyarrow 22.0.0,
# polars 1.34.0, pandas 2.3.3, numpy 1.26.4, pyodbc 5.3.0, brotlicffi 1.2.0.0, and deliberately
# NOT zstandard nor brotli (the kernel has neither; the script fails if either is importable).
# fabgen-runtime is installed editable, the generator is not. Then runs the Python engine's tests
# that need no JVM: its unit tests (reads, tables with deletion vectors, writes, every codec, state
# tables, OneLake adapter), whole
# group runs in child processes that cannot import pyspark, the Fabric branch against the Fabric
# stand-in and Azurite (installed by scripts/setup.sh into .fabgen/azurite), and pyodbc's control
# queries against the local PostgreSQL warehouse (FABGEN_PG_PORT as for every script). Safe to run again: each
# step is skipped when done.
#
#   bash scripts/compat-python-notebook.sh          set up (if needed) and run the checks (kill matrix:
#                                                   3 of its 10 points, local and Fabric branch)
#   bash scripts/compat-python-notebook.sh --full   the whole kill matrix on both (about 10 more minutes)
#   bash scripts/compat-python-notebook.sh -x -k zstd   extra arguments go to pytest
#
# FABGEN_PYNB_PYTHON picks the interpreter; default: a Python 3.12 (python3.12 on PATH, else pyenv's),
# else python3.11 with a note (the kernel runs 3.12; the runtime's code is checked against 3.11's
# grammar and standard library anyway, tests/unit/test_runtime_compat.py).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
VENV="$REPO/.venv-pynb"
PY="$VENV/bin/python"

# Fabric's python3.12 kernel (microsoft/synapse-spark-runtime, Fabric/Jupyter 1.0, release 2026-08-20).
# pyyaml, psutil and psycopg2-binary: the test helpers' (a project file, process checks, seeding the local
# warehouse); pytest: the runner.
REQUIREMENTS=(
    "deltalake==1.2.1"
    "pyarrow==22.0.0"
    "polars==1.34.0"
    "duckdb==1.4.4"
    "sqlglot>=30,<31"
    "pandas==2.3.3"
    "numpy==1.26.4"
    "pyodbc==5.3.0"
    "brotlicffi==1.2.0.0"
    "pytest>=8"
    "pyyaml>=6"
    "psutil>=5"
    "psycopg2-binary>=2.9"
)
ABSENT=(zstandard brotli)  # not in the kernel: must not be importable here

step() { echo "==> $*"; }
die() { echo "compat-python-notebook: error: $*" >&2; exit 1; }
# shellcheck source=scripts/compat-venv.sh
source "$REPO/scripts/compat-venv.sh"

started=$(date +%s)

# What runs (no JVM): the Python engine's unit tests, its whole-run tests, and pyodbc 5.3.0 against the
# local warehouse (PostgreSQL's ODBC driver; the warehouse fixture starts scripts/warehouse.sh).
# By default the two kill matrices run at 3 of their 10 points (one per phase of the run protocol:
# before the publish, inside it, around the watermark); --full runs all 10 on both.
TESTS=(
    tests/unit/test_python_engine_read.py
    tests/unit/test_python_deletion_vectors.py
    tests/unit/test_python_engine_features.py
    tests/unit/test_python_column_mapping.py
    tests/unit/test_python_engine_write.py
    tests/unit/test_python_parquet.py
    tests/unit/test_python_compressors.py
    tests/unit/test_python_state.py
    tests/unit/test_python_onelake.py
    tests/unit/test_python_engine_query.py
    tests/integration/test_python_engine_runs.py
    tests/integration/test_python_engine_fabric.py
    tests/integration/test_odbc_control.py
)
SELECT=(-k "not killed_at_a_point or after_journal or after_rename_1 or before_watermark")
if [[ "${1:-}" == "--full" ]]; then
    shift
    SELECT=()
fi

# ---- 1. the interpreter
pick_python() {
    if [[ -n "${FABGEN_PYNB_PYTHON:-}" ]]; then
        echo "$FABGEN_PYNB_PYTHON"
        return
    fi
    local candidate
    for candidate in "$(command -v python3.12 || true)" \
        "$(command -v pyenv >/dev/null 2>&1 && ls -d "$(pyenv root)"/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1 || true)" \
        "$(command -v python3.11 || true)" "$(command -v python3 || true)"; do
        if [[ -n "$candidate" ]] && "$candidate" -c 'import sys, venv; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then
            echo "$candidate"
            return
        fi
    done
    return 1
}

if [[ ! -x "$PY" ]]; then
    BASE="$(pick_python)" || die "no Python >= 3.11 to create $VENV"
    step "creating .venv-pynb with $("$BASE" --version 2>&1) ($BASE)"
    "$BASE" -m venv "$VENV"
fi
version="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$version" != "3.12" ]]; then
    echo "    note: Fabric's default Python kernel runs Python 3.12; this venv has $version (no 3.12 found here)"
fi

# ---- 2. the kernel's packages
install_compat_packages "$PY" "the python3.12 kernel's packages, fabgen-runtime (editable) and pytest" "${REQUIREMENTS[@]}"
for module in "${ABSENT[@]}"; do
    if "$PY" -c "import $module" >/dev/null 2>&1; then
        die "$module is importable in .venv-pynb, but Fabric's python3.12 kernel lacks it; recreate it: rm -rf .venv-pynb"
    fi
done
if "$PY" -c "import fabgen" >/dev/null 2>&1; then
    die ".venv-pynb can import the generator (fabgen); recreate it: rm -rf .venv-pynb"
fi
if "$PY" -c "import pyspark" >/dev/null 2>&1; then
    die ".venv-pynb can import pyspark; a Python notebook has no Spark: rm -rf .venv-pynb"
fi
"$PY" - <<'EOF'
import importlib.metadata as md
import sys

names = ["deltalake", "pyarrow", "polars", "pandas", "numpy", "pyodbc", "brotlicffi", "fabgen-runtime"]
print("    Python", sys.version.split()[0], "|", ", ".join(f"{n} {md.version(n)}" for n in names))
print("    absent (as on the kernel): zstandard, brotli, pyspark")
EOF

# ---- 3. Azurite (the Fabric-branch tests' storage), installed by scripts/setup.sh
if [[ ! -x .fabgen/azurite/node_modules/.bin/azurite-blob ]]; then
    die "Azurite is missing (.fabgen/azurite): run scripts/setup.sh first"
fi

# ---- 4. the tests
# deltalake sometimes aborts a process at interpreter exit (SIGABRT, "terminate called without an active
# exception") after its work is done; the lease-race test's children therefore leave with os._exit once
# their result is delivered (tests/unit/test_python_state.py).
step "pytest on the python3.12 kernel's packages: ${TESTS[*]} ${SELECT[*]} $*"
set +e
"$PY" -m pytest -p no:cacheprovider "${TESTS[@]}" "${SELECT[@]}" "$@"
code=$?
set -e
step "compat-python-notebook took $(( $(date +%s) - started ))s"
if [[ $code -eq 5 ]]; then
    echo "compat-python-notebook: error: pytest collected no tests" >&2
    exit 1
fi
exit "$code"
