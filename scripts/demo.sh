#!/usr/bin/env bash
# The demo, end to end on local Fabric: set up, start the warehouse, seed the sales example,
# validate it, plan and run the export groups (sales_py on the python engine, without a JVM), and
# render the Fabric notebooks and pipelines.
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

# ---- fabgen plan / run (read path, state and orchestration) --------------------------------
# A clean slate for the run: the example's earlier output files, log tables and watermarks go.
ONELAKE="${FABGEN_ONELAKE_ROOT:-$PROJECT/.onelake}"
echo "==> clearing earlier demo outputs and run state (lh_exports, lh_config under $ONELAKE/DEV_WORKSPACE)"
rm -rf "$ONELAKE/DEV_WORKSPACE/lh_exports.Lakehouse" "$ONELAKE/DEV_WORKSPACE/lh_config.Lakehouse"

echo "==> fabgen plan -p $PROJECT -g sales --run-date $RUN_DATE"
"$FABGEN" plan -p "$PROJECT" -g sales --run-date "$RUN_DATE"

for group in sales finance; do
    echo "==> fabgen run -p $PROJECT -g $group --run-date $RUN_DATE"
    "$FABGEN" run -p "$PROJECT" -g "$group" --run-date "$RUN_DATE"
done
# sales_py has engine: python (fabgen.yaml): delta-rs reads, pyarrow writes, no SparkSession, no JVM.
echo "==> fabgen run -p $PROJECT -g sales_py --run-date $RUN_DATE  (engine: python, no JVM)"
"$FABGEN" run -p "$PROJECT" -g sales_py --run-date "$RUN_DATE"

echo "==> exported files (under $ONELAKE/DEV_WORKSPACE/lh_exports.Lakehouse/Files)"
(cd "$ONELAKE/DEV_WORKSPACE/lh_exports.Lakehouse/Files" && find . -type f | sort | sed 's|^\./|    |')

# ---- fabgen render -------------------------------------------------------------------------
echo "==> fabgen render -p $PROJECT (into generated/)"
"$FABGEN" render -p "$PROJECT"

echo "==> demo done (run date $RUN_DATE)"
