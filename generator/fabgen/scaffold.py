"""``fabgen init``: a new project that validates as it is."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fabgen_runtime.errors import ConfigError, ConfigIssue

_PROJECT = """\
# fabgen project settings. Every key is documented in fabgen's docs/config.md ("fabgen.yaml reference").
name: {title}
configs: [exports]          # files or folders of export rows (.yaml, .yml, .json)
output: generated           # where `fabgen render` writes the Fabric items
config_lakehouse:           # holds the log tables (and the optional config table)
  workspace: DEV_WORKSPACE
  lakehouse: lh_config
defaults:
  timezone: UTC
  max_concurrency: 4
  engine: spark             # spark | python (Fabric Python notebooks, no Spark); per group under groups:
local:
  onelake_root: .onelake    # local OneLake folder
"""

_EXPORTS = """\
# Export rows: keys are the columns of config_resource_export.
defaults:
  export_group_name: {group}
  is_active: true
  execution_group: 1
  source_type: lakehouse
  source_workspace: DEV_WORKSPACE
  source_datastore: lh_gold
  target_workspace: DEV_WORKSPACE
  target_lakehouse: lh_exports
exports:
  - export_name: daily_orders
    source_table: orders
    target_path: "exports/orders/{{run_date:%Y}}/"
    target_filename_pattern: "orders_{{run_date:%Y%m%d}}.csv"
    file_format: csv
    compression: gzip
    file_format_options: {{header: "true"}}
    trigger_file_pattern: "orders_{{run_date:%Y%m%d}}.done"
"""


def group_name(name: str) -> str:
    """A valid ``export_group_name`` made from a project name (``My Project`` -> ``My_Project``)."""
    group = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).lstrip(".-")
    return group or "exports"


def scaffold(directory: Path, name: str) -> list[Path]:
    """Write ``fabgen.yaml`` and ``exports/exports.yaml`` into ``directory``; refuse to overwrite."""
    project_file = directory / "fabgen.yaml"
    exports_file = directory / "exports" / "exports.yaml"
    existing = [p for p in (project_file, exports_file) if p.exists()]
    if existing:
        raise ConfigError([ConfigIssue(str(p), None, "already exists; not overwriting") for p in existing])
    exports_file.parent.mkdir(parents=True, exist_ok=True)
    project_file.write_text(_PROJECT.format(title=json.dumps(name)), encoding="utf-8")
    exports_file.write_text(_EXPORTS.format(group=group_name(name)), encoding="utf-8")
    return [project_file, exports_file]
