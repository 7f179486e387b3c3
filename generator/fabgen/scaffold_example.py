"""``fabgen init --example``: a project that runs at once, on sample data (issue #28).

Beside ``fabgen.yaml`` (group engine ``python``: no JVM needed; ``spark`` works as well) and two export
rows, it writes two sample files, ``data/orders.csv`` and ``data/customers.parquet``, and a README with
the commands to try. The sample files are then loaded into the project's local OneLake with the code
of ``fabgen local load`` (:func:`fabgen.local_load.load_lakehouse`), as the two commands
:data:`LOAD_COMMANDS` would, so ``fabgen run -g <group>`` works straight away. The data is fixed (no
clock, no randomness): every machine gets the same files.
"""

from __future__ import annotations

import json
import shlex
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from fabgen_runtime.errors import ConfigError, ConfigIssue

WORKSPACE = "DEV_WORKSPACE"
SOURCE_LAKEHOUSE = "lh_gold"
RUN_DATE = "2025-06-03"  # the README's first run date: the sample's last order date

_PROJECT = """\
# fabgen project settings (fabgen init --example). Every key: docs/config.md ("fabgen.yaml reference").
name: {title}
configs: [exports]          # files or folders of export rows (.yaml, .yml, .json)
output: generated           # where `fabgen render` writes the Fabric items
config_lakehouse:           # holds the log tables (and the optional config table)
  workspace: {workspace}
  lakehouse: lh_config
defaults:
  timezone: UTC
  max_concurrency: 4
  engine: python            # python (Fabric Python notebooks, no Spark, no JVM) | spark
local:
  onelake_root: .onelake    # local OneLake folder (the sample tables are loaded here)
"""

_EXPORTS = """\
# Export rows: keys are the columns of config_resource_export (docs/config.md).
defaults:
  export_group_name: {group}
  is_active: true
  execution_group: 1
  source_type: lakehouse
  source_workspace: {workspace}
  source_datastore: {lakehouse}
  source_schema: dbo
  target_workspace: {workspace}
  target_lakehouse: lh_exports
exports:
  # New orders since the last run (watermark: order_id), one gzip CSV per run date and a trigger.
  - export_name: daily_orders
    source_table: orders
    extract_type: incremental
    incremental_column: order_id
    incremental_initial_watermark: "0"
    target_path: "exports/orders/{{run_date:%Y}}/"
    target_filename_pattern: "orders_{{run_date:%Y%m%d}}_{{run_id}}.csv"  # a run never replaces another
    file_format: csv
    compression: gzip
    file_format_options: {{header: "true"}}
    trigger_file_pattern: "orders_{{run_date:%Y%m%d}}_{{run_id}}.done"
  # Every customer, one Parquet file per run date.
  - export_name: customers
    source_table: customers
    target_path: "exports/customers/"
    target_filename_pattern: "customers_{{run_date:%Y%m%d}}.parquet"
    file_format: parquet
    compression: snappy
"""

_README = """\
# {title}: a fabgen example project

Made by `fabgen init --example`. The sample tables are already in the local OneLake (`.onelake/`):

| table | from | rows |
|---|---|---|
| `{workspace}/{lakehouse}/dbo.orders` | `data/orders.csv` (column types inferred) | {orders} |
| `{workspace}/{lakehouse}/dbo.customers` | `data/customers.parquet` (column types kept) | {customers} |

Try:

```
fabgen validate
fabgen run -g {group} --run-date {run_date}
fabgen status -g {group}
fabgen verify -g {group}
fabgen report -g {group}
```

The files land in `.onelake/{workspace}/lh_exports.Lakehouse/Files/exports/`. The group runs on the
python engine (no JVM); set `defaults.engine: spark` in `fabgen.yaml` to run it on local Spark.

To load the samples again (or your own files instead, under the names the rows use):

```
{load_commands}
```
"""


def group_name(name: str) -> str:
    from .scaffold import group_name as scaffold_group

    return scaffold_group(name)


def orders_csv() -> str:
    """``data/orders.csv``: 12 orders over three days (an empty note is an empty field)."""
    rows = [
        "order_id,customer_id,order_date,amount,status,note",
        "1,101,2025-06-01,120.50,shipped,first order",
        "2,102,2025-06-01,35.00,shipped,",
        "3,103,2025-06-01,99.99,cancelled,customer asked",
        "4,101,2025-06-01,12.25,shipped,",
        "5,104,2025-06-02,250.00,shipped,gift wrap",
        "6,105,2025-06-02,18.75,pending,",
        "7,102,2025-06-02,42.10,shipped,",
        '8,103,2025-06-02,7.50,shipped,"note, with a comma"',
        "9,104,2025-06-03,310.00,pending,",
        "10,105,2025-06-03,64.00,shipped,",
        "11,101,2025-06-03,5.95,shipped,",
        "12,102,2025-06-03,88.80,cancelled,",
    ]
    return "\n".join(rows) + "\n"


def customers_table() -> Any:
    """``data/customers.parquet``'s rows: five customers, with a date and a decimal column."""
    import pyarrow as pa

    return pa.table(
        {
            "customer_id": pa.array([101, 102, 103, 104, 105], pa.int64()),
            "name": ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov"],
            "country": ["GB", "US", "GB", "NL", "US"],
            "signed_up": pa.array(
                [date(2024, 1, 15), date(2024, 3, 2), date(2024, 7, 30), date(2025, 1, 9), date(2025, 5, 21)],
                pa.date32(),
            ),
            "credit_limit": pa.array(
                [Decimal(x) for x in ("1000.00", "2500.00", "500.00", "750.50", "3000.00")],
                pa.decimal128(10, 2),
            ),
        }
    )


#: (table, sample file) pairs, in load order
SAMPLES = (("orders", "data/orders.csv"), ("customers", "data/customers.parquet"))


def load_commands() -> list[str]:
    """The ``fabgen local load`` commands that load the samples (shown in the README and by init)."""
    commands = []
    for table, file in SAMPLES:
        target = f"{WORKSPACE}/{SOURCE_LAKEHOUSE}/dbo.{table}"
        commands.append(shlex.join(["fabgen", "local", "load", "--table", target, file, "--replace"]))
    return commands


def scaffold_example(directory: Path, name: str) -> list[Path]:
    """Write the example project into ``directory`` (refusing to overwrite any of its files)."""
    import pyarrow.parquet as pq

    group = group_name(name)
    files = {
        "fabgen.yaml": _PROJECT.format(title=json.dumps(name), workspace=WORKSPACE),
        "exports/exports.yaml": _EXPORTS.format(group=group, workspace=WORKSPACE, lakehouse=SOURCE_LAKEHOUSE),
        "data/orders.csv": orders_csv(),
        "README.md": _README.format(
            title=name,
            group=group,
            workspace=WORKSPACE,
            lakehouse=SOURCE_LAKEHOUSE,
            orders=len(orders_csv().splitlines()) - 1,
            customers=customers_table().num_rows,
            run_date=RUN_DATE,
            load_commands="\n".join(load_commands()),
        ),
    }
    paths = [directory / relative for relative in [*files, "data/customers.parquet"]]
    existing = [p for p in paths if p.exists()]
    if existing:
        raise ConfigError([ConfigIssue(str(p), None, "already exists; not overwriting") for p in existing])
    for relative, text in files.items():
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_text(text, encoding="utf-8")
    pq.write_table(customers_table(), directory / "data" / "customers.parquet")
    return paths


def load_samples(directory: Path) -> list[tuple[str, int]]:
    """Load the sample files into the project's local OneLake (``fabgen local load ... --replace``);
    returns (table, rows) per table."""
    from fabgen_runtime import platform as platform_mod

    from .local_load import load_lakehouse, read_file
    from .local_run import local_runtime
    from .options import load

    project = load(directory)
    loaded = []
    with local_runtime(project) as local:
        for table, file in SAMPLES:
            data = read_file(directory / file)
            uri = platform_mod.table_uri(local, WORKSPACE, SOURCE_LAKEHOUSE, "dbo", table)
            load_lakehouse(uri, data, replace=True)
            loaded.append((f"{WORKSPACE}/{SOURCE_LAKEHOUSE}/dbo.{table}", data.num_rows))
    return loaded
