"""``fabgen local ...``: local Fabric's own data (issue #28): ``load`` puts a file (or a sample of a
workspace's table) into a local lakehouse or warehouse table under the names the export rows use
(:mod:`fabgen.local_load`)."""

from __future__ import annotations

from pathlib import Path

import click

from .options import load, project_option


@click.group("local")
def local_group() -> None:
    """Local Fabric's data: load your own tables into the local OneLake and warehouse."""


@local_group.command("load")
@project_option
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--table", "lakehouse_table", help="Lakehouse table WORKSPACE/LAKEHOUSE/schema.table.")
@click.option("--warehouse-table", help="Warehouse table WAREHOUSE/schema.table (the local PostgreSQL).")
@click.option(
    "--format", "file_format", type=click.Choice(["csv", "parquet", "json"]), help="Default: the suffix."
)
@click.option("--replace", is_flag=True, help="Replace the table when it exists (data and columns).")
@click.option(
    "--env",
    "-e",
    "env",
    metavar="ENV",
    help="Instead of FILE: sample the --table from environment ENV's workspace (over OneLake).",
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    help="With --env: how many rows to copy (the first N in the table's file order).",
)
def local_load(
    project_dir: Path,
    file: Path | None,
    lakehouse_table: str | None,
    warehouse_table: str | None,
    file_format: str | None,
    replace: bool,
    env: str | None,
    limit: int | None,
) -> None:
    """Load FILE (CSV with a header, Parquet, or JSON lines) into a local lakehouse or warehouse table,
    or (--env ENV --limit N, no FILE) the first N rows of the --table in ENV's workspace.

    The names are those your export rows use (source_workspace / source_datastore / source_schema /
    source_table), so `fabgen run` reads it at once. CSV column types are inferred, Parquet's kept;
    warehouse column types are mapped as docs/own-data.md lists. A sampled table keeps its column
    types, partition columns and column mapping mode; it is read with deploy's OneLake credential
    (docs/operations.md). An existing table is refused unless --replace.
    """
    from fabgen_runtime import platform as platform_mod
    from fabgen_runtime.errors import ConfigError, ConfigIssue

    from .local_load import connect, load_lakehouse, load_warehouse, parse_target, read_file, sample_lakehouse

    if (lakehouse_table is None) == (warehouse_table is None):
        raise ConfigError(ConfigIssue("local load", "--table", "give one of --table or --warehouse-table"))
    check_source(file, env, limit, warehouse_table is not None, file_format)
    project = load(project_dir)
    target = parse_target(lakehouse_table or warehouse_table or "", lakehouse=lakehouse_table is not None)
    partition_by: list[str] | None = None  # a sample: the table's (perhaps none); a file: not given
    mapping_mode = "none"
    if env is not None:
        taken = sample_lakehouse(project, env, target, limit or 0)
        data, partition_by, mapping_mode = taken.rows, taken.partition_columns, taken.column_mapping_mode
        of_total = "" if taken.rows_in_table is None else f" of {taken.rows_in_table}"
        source = f"{env}'s version {taken.version}{of_total}"
    else:
        data = read_file(file or Path(), file_format)
        source = str(file)
    with project.local_environment():
        if target.lakehouse:
            from .local_run import local_runtime

            with local_runtime(project) as local:
                uri = platform_mod.table_uri(
                    local, target.workspace or "", target.datastore, target.schema, target.table
                )
                load_lakehouse(uri, data, replace, partition_by, mapping_mode)
        else:
            load_warehouse(connect, target, data, replace)
    shape = "".join(
        [
            f", partitioned by {', '.join(partition_by)}" if partition_by else "",
            f", column mapping {mapping_mode}" if mapping_mode != "none" else "",
        ]
    )
    click.secho(
        f"loaded {data.num_rows} row(s), {data.num_columns} column(s) into {target.label}{shape} "
        f"(from {source})",
        fg="green",
    )


def check_source(
    file: Path | None, env: str | None, limit: int | None, warehouse: bool, file_format: str | None
) -> None:
    """FILE, or --env with --limit (a lakehouse table only); a ConfigError naming the option otherwise."""
    from fabgen_runtime.errors import ConfigError, ConfigIssue

    def refuse(option: str, message: str) -> None:
        raise ConfigError(ConfigIssue("local load", option, message))

    if env is None:
        if file is None:
            refuse("FILE", "give the FILE to load, or --env ENV --limit N to sample the workspace's table")
        if limit is not None:
            refuse("--limit", "--limit goes with --env (sampling a workspace's table)")
        return
    if file is not None:
        refuse("--env", "give either FILE or --env, not both")
    if warehouse:
        refuse("--env", "sampling reads a lakehouse table (--table); a warehouse table loads from a FILE")
    if limit is None:
        refuse("--limit", "--env needs --limit N: how many rows to copy")
    if file_format is not None:
        refuse("--format", "--format is for a FILE; a sampled table keeps its own types")
