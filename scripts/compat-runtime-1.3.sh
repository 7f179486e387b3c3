#!/usr/bin/env bash
# Fabric Runtime 1.3 compatibility check: run fabgen-runtime on Spark 3.5 + Delta 3.2 (Python 3.11).
#
# The main local engine is Runtime 2.0 (.venv: pyspark 4.1.1 + delta-spark 4.2.0). This script keeps a
# second virtualenv, .venv-rt13, with the pair Runtime 1.3 ships (pyspark 3.5.5 + delta-spark 3.2.1),
# the runtime package installed editable and only the test readers (no generator), starts the local
# warehouse, and runs tests/compat/ against it. Safe to run again: each step is skipped when done.
#
#   bash scripts/compat-runtime-1.3.sh            set up (if needed) and run the compatibility tests
#   bash scripts/compat-runtime-1.3.sh --full     also run the runtime's own integration tests on Spark 3.5
#                                                 (writer, publish, read path, warehouse source: ~10 min)
#   bash scripts/compat-runtime-1.3.sh -x -k zip  extra arguments go to pytest
#
# FABGEN_RT13_PYTHON picks the interpreter for the venv (default: python3.11, else python3).
# The Delta 3.2 / JDBC jars land in FABGEN_JAR_CACHE beside the Runtime 2.0 ones (local_spark.local_jars).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
VENV="$REPO/.venv-rt13"
PY="$VENV/bin/python"

# What Fabric Runtime 1.3 ships (Spark 3.5.5, Delta Lake 3.2; delta-spark 3.2.1 needs pyspark >=3.5.3,<3.6).
# numpy < 2: Spark 3.5's pandas/Arrow paths predate numpy 2.
REQUIREMENTS=(
    "pyspark==3.5.5"
    "delta-spark==3.2.1"
    "numpy<2"
    "pandas>=2,<2.3"
    "pyarrow>=14,<18"
    "psycopg2-binary>=2.9"
    "pytest>=8"
    "zstandard>=0.22"
    "brotli>=1.1"
)

step() { echo "==> $*"; }
die() { echo "compat-runtime-1.3: error: $*" >&2; exit 1; }
# shellcheck source=scripts/compat-venv.sh
source "$REPO/scripts/compat-venv.sh"

started=$(date +%s)

# What runs: tests/compat, the no-JVM guards of the runtime, the driver-side header and Delta version
# (Spark and Delta internals that differ between builds), and with --full the runtime-only
# integration modules (they import fabgen_runtime and the test helpers, never the generator).
TESTS=(tests/compat tests/unit/test_runtime_compat.py tests/unit/test_platform_jars.py
       tests/integration/test_csv_header_and_version.py)
if [[ "${1:-}" == "--full" ]]; then
    shift
    TESTS+=(tests/integration/test_writer.py tests/integration/test_publish.py
            tests/integration/test_read_path.py tests/integration/test_warehouse_source.py)
fi

# These tests start one Spark driver and no children: making the tests' JVM class-data archive for this
# pyspark (tests/support/jvm_speed.py, about one child run) would cost more than it saves.
export FABGEN_TEST_JVM_SPEEDUPS="${FABGEN_TEST_JVM_SPEEDUPS:-0}"

# ---- 1. Java and Maven (the same tools the main setup installs)
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    [[ $EUID -eq 0 ]] || die "java and mvn are needed (run scripts/setup.sh first, or install them)"
    step "installing Java and Maven"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        openjdk-17-jre-headless maven >/dev/null
fi

# ---- 2. the Runtime 1.3 virtualenv
if [[ ! -x "$PY" ]]; then
    BASE="${FABGEN_RT13_PYTHON:-}"
    if [[ -z "$BASE" ]]; then
        BASE="$(command -v python3.11 || command -v python3)" || die "no python3 to create $VENV"
    fi
    step "creating .venv-rt13 with $("$BASE" --version 2>&1)"
    "$BASE" -m venv "$VENV"
fi
version="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[[ "$version" == "3.11" ]] || echo "    note: Runtime 1.3 runs Python 3.11; this venv has $version"

install_compat_packages "$PY" "pyspark 3.5.5, delta-spark 3.2.1, fabgen-runtime (editable) and test readers" "${REQUIREMENTS[@]}"
# The generator must not be in this venv: the runtime has to stand on its own.
if "$PY" -c "import fabgen" >/dev/null 2>&1; then
    die ".venv-rt13 can import the generator (fabgen); recreate it: rm -rf .venv-rt13"
fi
"$PY" -c "import pyspark, delta, fabgen_runtime; print('    pyspark', pyspark.__version__, '| fabgen-runtime', fabgen_runtime.__version__)"

# ---- 3. Delta 3.2 and JDBC jars (chosen by the installed pyspark)
step "checking the Runtime 1.3 jars"
"$PY" -c "from fabgen_runtime.engines.spark.local_spark import ensure_local_jars; print(*('    ' + p.name for p in ensure_local_jars()), sep='\n')"

# ---- 4. the local warehouse and the tests
step "starting the local warehouse (PostgreSQL)"
bash scripts/warehouse.sh start

step "pytest on Spark 3.5: ${TESTS[*]} $*"
set +e
"$PY" -m pytest -p no:cacheprovider "${TESTS[@]}" "$@"
code=$?
set -e
step "compat-runtime-1.3 took $(( $(date +%s) - started ))s"
if [[ $code -eq 5 ]]; then
    echo "compat-runtime-1.3: error: pytest collected no tests" >&2
    exit 1
fi
exit "$code"
