"""``fabgen local ...``: local Fabric's own data (issue #28): ``load`` puts a file into a local
lakehouse or warehouse table under the names the export rows use (:mod:`fabgen.local_load`)."""

from __future__ import annotations

from pathlib import Path

import click

from .options import load, project_option


@click.group("local")
def local_group() -> None:
    """Local Fabric's data: load your own tables into the local OneLake and warehouse."""


@local_group.command("load")
@project_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--table", "lakehouse_table", help="Lakehouse table WORKSPACE/LAKEHOUSE/schema.table.")
@click.option("--warehouse-table", help="Warehouse table WAREHOUSE/schema.table (the local PostgreSQL).")
@click.option(
    "--format", "file_format", type=click.Choice(["csv", "parquet", "json"]), help="Default: the suffix."
)
@click.option("--replace", is_flag=True, help="Replace the table when it exists (data and columns).")
def local_load(
    project_dir: Path,
    file: Path,
    lakehouse_table: str | None,
    warehouse_table: str | None,
    file_format: str | None,
    replace: bool,
) -> None:
    """Load FILE (CSV with a header, Parquet, or JSON lines) into a local lakehouse or warehouse table.

    The names are those your export rows use (source_workspace / source_datastore / source_schema /
    source_table), so `fabgen run` reads it at once. CSV column types are inferred, Parquet's kept;
    warehouse column types are mapped as docs/local-fabric.md lists. An existing table is refused
    unless --replace.
    """
    from fabgen_runtime import platform as platform_mod
    from fabgen_runtime.errors import ConfigError, ConfigIssue

    from .local_load import connect, load_lakehouse, load_warehouse, parse_target, read_file

    if (lakehouse_table is None) == (warehouse_table is None):
        raise ConfigError(ConfigIssue("local load", "--table", "give one of --table or --warehouse-table"))
    project = load(project_dir)
    target = parse_target(lakehouse_table or warehouse_table or "", lakehouse=lakehouse_table is not None)
    data = read_file(file, file_format)
    with project.local_environment():
        if target.lakehouse:
            from .local_run import local_runtime

            with local_runtime(project) as local:
                uri = platform_mod.table_uri(
                    local, target.workspace or "", target.datastore, target.schema, target.table
                )
                load_lakehouse(uri, data, replace)
        else:
            load_warehouse(connect, target, data, replace)
    click.secho(
        f"loaded {data.num_rows} row(s), {data.num_columns} column(s) into {target.label}", fg="green"
    )
