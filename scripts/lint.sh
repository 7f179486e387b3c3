#!/usr/bin/env bash
# The code checks CI makes: ruff check, ruff format --check, the runtime's layers (scripts/check_layers.py),
# and mypy (strict on runtime/, default on generator/). Uses .venv (bash scripts/setup.sh); installs mypy
# into it when missing.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PY="$REPO/.venv/bin/python"
[[ -x "$PY" ]] || { echo "lint: error: no .venv (run bash scripts/setup.sh first)" >&2; exit 1; }
echo "==> ruff check"
"$PY" -m ruff check runtime generator tests bench
echo "==> ruff format --check"
"$PY" -m ruff format --check runtime generator tests bench
echo "==> layers (engine libraries only in their engine, no adapter in the core, no import cycle: scripts/check_layers.py)"
"$PY" scripts/check_layers.py
echo "==> mypy"
"$PY" -m mypy runtime/fabgen_runtime generator/fabgen
