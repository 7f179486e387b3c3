"""``--env`` reads' settings (deploy's OneLake variables turned into delta-rs storage options), the
usage errors of ``local load --env/--limit``, and ``init --example``'s files, refusal and loaded
samples (delta-rs writes into a tmp OneLake; no child process)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from deltalake import DeltaTable
from fabgen.cli import main
from fabgen.onelake_read import StorageOptions, blob_endpoint, storage_token


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        (None, None),
        ("https://onelake.dfs.fabric.microsoft.com", None),
        ("https://onelake.dfs.fabric.microsoft.com/", None),
        ("https://127.0.0.1:10000/onelake", "https://127.0.0.1:10000/onelake"),
        ("https://other.dfs.example.net/", "https://other.blob.example.net"),
    ],
)
def test_the_onelake_url_becomes_delta_rs_blob_endpoint(monkeypatch, url, endpoint) -> None:
    if url is None:
        monkeypatch.delenv("FABGEN_ONELAKE_URL", raising=False)
    else:
        monkeypatch.setenv("FABGEN_ONELAKE_URL", url)
    assert blob_endpoint() == endpoint


def test_storage_options_carry_the_token_and_ask_for_it_once(monkeypatch) -> None:
    monkeypatch.setenv("FABGEN_ONELAKE_URL", "https://127.0.0.1:1/onelake")
    asked: list[int] = []

    def token() -> str:
        asked.append(1)
        return "tok"

    options = StorageOptions(token)
    assert options() == {
        "bearer_token": "tok",
        "use_fabric_endpoint": "true",
        "azure_storage_endpoint": "https://127.0.0.1:1/onelake",
    }
    options()
    assert len(asked) == 1


def test_the_onelake_token_variable_is_the_storage_token(monkeypatch) -> None:
    monkeypatch.setenv("FABGEN_ONELAKE_TOKEN", "a-storage-token")
    assert storage_token() == "a-storage-token"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "WS/lh/dbo.t"], "FILE: give the FILE to load, or --env ENV --limit N"),
        (["--table", "WS/lh/dbo.t", "x.csv", "--limit", "3"], "--limit: --limit goes with --env"),
        (["--table", "WS/lh/dbo.t", "x.csv", "--env", "prod", "-n", "3"], "give either FILE or --env"),
        (["--table", "WS/lh/dbo.t", "--env", "prod"], "--env needs --limit N"),
        (["--warehouse-table", "wh/dbo.t", "--env", "prod", "-n", "3"], "sampling reads a lakehouse table"),
        (["--table", "WS/lh/dbo.t", "--env", "prod", "-n", "3", "--format", "csv"], "--format is for a FILE"),
    ],
)
def test_local_load_refuses_a_wrong_source_with_exit_2(args: list[str], message: str) -> None:
    result = run("local", "load", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_local_load_help_documents_env_and_limit() -> None:
    result = run("local", "load", "--help")
    assert result.exit_code == 0
    assert "--env ENV" in result.stdout and "--limit" in result.stdout


def test_init_example_writes_and_loads_the_samples_and_refuses_to_overwrite(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("FABGEN_ONELAKE_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    first = run("init", "--example", "demo")
    assert first.exit_code == 0, first.output
    root = tmp_path / "demo"
    for name in (
        "fabgen.yaml",
        "exports/exports.yaml",
        "data/orders.csv",
        "data/customers.parquet",
        "README.md",
    ):
        assert (root / name).is_file(), name
    assert "engine: python" in (root / "fabgen.yaml").read_text()
    tables = root / ".onelake" / "DEV_WORKSPACE" / "lh_gold.Lakehouse" / "Tables" / "dbo"
    orders = DeltaTable(str(tables / "orders")).to_pyarrow_table()
    assert orders.num_rows == 12 and orders.column("order_id").to_pylist() == list(range(1, 13))
    customers = DeltaTable(str(tables / "customers")).to_pyarrow_table()
    assert str(customers.schema.field("credit_limit").type) == "decimal128(10, 2)"
    assert "loaded 5 row(s) into DEV_WORKSPACE/lh_gold/dbo.customers" in first.stdout

    again = run("init", "--example", "demo")
    assert again.exit_code == 2
    assert "fabgen.yaml: already exists; not overwriting" in " ".join(again.stderr.split())
    assert Path(root / "data" / "orders.csv").read_text().startswith("order_id,customer_id,")
