#!/usr/bin/env bash
# Set up (scripts/setup.sh), start the local warehouse, and run the whole test suite.
# Extra arguments go to pytest, e.g.:  bash scripts/test.sh -m "not spark"  (unit tests only, under a minute)
#   bash scripts/test.sh -m "spark and not jvm"  (JVM-free integration)   or   bash scripts/test.sh -x -k seed
# Exits with pytest's code, except that "no tests collected" (pytest's 5) counts as a failure.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/setup.sh
echo "==> starting the local warehouse (PostgreSQL)"
bash scripts/warehouse.sh start
echo "==> pytest $*"
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [[ $code -eq 5 ]]; then
    echo "test: error: pytest collected no tests" >&2
    exit 1
fi
exit "$code"
