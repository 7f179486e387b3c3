#!/usr/bin/env bash
# The demo, end to end on local Fabric: set up, start the warehouse, seed the sales example,
# validate it, and (as those commands land) plan, run and render it.
#
#   bash scripts/demo.sh
#
# DEMO_ROWS (default 20000) sizes the seeded orders; DEMO_RUN_DATE (default 2025-12-12, the last
# day of the seeded data) is the logical run date of plan and run.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PROJECT=examples/sales
ROWS="${DEMO_ROWS:-20000}"
RUN_DATE="${DEMO_RUN_DATE:-2025-12-12}"
FABGEN=.venv/bin/fabgen

bash scripts/setup.sh
echo "==> starting the local warehouse (PostgreSQL)"
bash scripts/warehouse.sh start

echo "==> seeding $PROJECT ($ROWS orders): lakehouse tables under $PROJECT/.onelake, warehouse wh_analytics"
.venv/bin/python "$PROJECT/seed.py" --rows "$ROWS" --project "$PROJECT"

echo "==> fabgen validate -p $PROJECT"
"$FABGEN" validate -p "$PROJECT"

# ---- fabgen plan: added with the read path (issue 4) --------------------------------------
# ---- fabgen run: added with the read path (issue 4) ---------------------------------------

# ---- fabgen render -------------------------------------------------------------------------
echo "==> fabgen render -p $PROJECT (into generated/)"
"$FABGEN" render -p "$PROJECT"

echo "==> demo done (run date $RUN_DATE)"
