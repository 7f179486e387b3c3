#!/usr/bin/env bash
# Set up (scripts/setup.sh), start the local warehouse, and run the test suite's default tier (what CI runs):
# every test except those marked `full`, which prove again, more slowly, what a default-tier test proves.
#   bash scripts/test.sh --all          every test (the full tier; run it before resolving a protocol or
#                                       adapter change; docs/testing.md lists the tiers and their times)
# Other arguments go to pytest, e.g.:  bash scripts/test.sh -m "not spark"  (unit tests only, about a minute)
#   bash scripts/test.sh -m "spark and not jvm"  (JVM-free integration)   or   bash scripts/test.sh -x -k seed
# Exits with pytest's code, except that "no tests collected" (pytest's 5) counts as a failure.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

args=()
for arg in "$@"; do
    if [[ "$arg" == "--all" ]]; then
        export FABGEN_TEST_TIER=full
    else
        args+=("$arg")
    fi
done

bash scripts/setup.sh
echo "==> starting the local warehouse (PostgreSQL)"
bash scripts/warehouse.sh start
echo "==> pytest (tier: ${FABGEN_TEST_TIER:-default}) ${args[*]:-}"
set +e
.venv/bin/python -m pytest ${args[@]+"${args[@]}"}
code=$?
set -e
if [[ $code -eq 5 ]]; then
    echo "test: error: pytest collected no tests" >&2
    exit 1
fi
exit "$code"
