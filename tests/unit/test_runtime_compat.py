"""Guards that keep fabgen-runtime loadable on Fabric Runtime 1.3 (Spark 3.5, Delta 3.2, Python 3.11).

The real check runs the runtime on Spark 3.5 (``scripts/compat-runtime-1.3.sh``); these fast
checks (no JVM) catch the known traps in the main run: APIs that only Spark 4 / Delta 4 have,
syntax newer than Python 3.11, and packages Fabric does not provide.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
from fabgen_runtime import state_model
from fabgen_runtime.engines.spark import schema as spark_schema
from pyspark.sql import types as T

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
SOURCES = sorted((RUNTIME / "fabgen_runtime").rglob("*.py"))

# Spark 4 / Delta 4 only APIs (name pattern -> what to use instead). Found by running on Spark 3.5.
SPARK4_ONLY = {
    r"\bfromDDL\b": "StructType/DataType.fromDDL are Spark 4.0+: build StructFields (spark_schema.struct)",
    r"\.mergeInto\(": "DataFrame.mergeInto is Spark 4.0+: use DeltaTable.merge",
    r"\.transpose\(": "DataFrame.transpose is Spark 4.0+",
    r"\.asTable\(": "DataFrame.asTable is Spark 4.0+",
    r"\.executionInfo\b": "DataFrame.executionInfo is Spark 4.0+ (Connect)",
    r"\.try_cast\(": "Column.try_cast is Spark 4.0+: use F.expr('try_cast(...)')",
    r"\.toArrow\(": "DataFrame.toArrow is Spark 4.0+",
    r"\.lateralJoin\(": "DataFrame.lateralJoin is Spark 4.0+",
    r"\.metadataColumn\(": "DataFrame.metadataColumn is Spark 4.0+",
    r"\bVariantType\b|\bparse_json\b": "the VARIANT type is Spark 4.0+",
    r"\bspark\.tvf\b|\.tvf\.": "spark.tvf is Spark 4.0+",
    r"\bpyspark\.sql\.connect\b": "Spark Connect is not how Fabric notebooks run",
}
# Python newer than 3.11 (Runtime 1.3): stdlib names added in 3.12+.
PY312_NAMES = {
    r"\bitertools\.batched\b|\bfrom itertools import[^\n]*\bbatched\b": "itertools.batched is 3.12+",
    r"\bfrom typing import[^\n]*\boverride\b|\btyping\.override\b": "typing.override is 3.12+",
    r"\bfrom warnings import[^\n]*\bdeprecated\b": "warnings.deprecated is 3.13+",
}


def _code(path: Path) -> str:
    """The module's text without comments and docstrings (mentions there are fine)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                body[0] = ast.Pass()
    return ast.unparse(tree)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(RUNTIME)))
def test_no_spark4_only_api_or_python312_name(path: Path) -> None:
    code = _code(path)
    found = [
        f"{path.name}: {why}"
        for pattern, why in {**SPARK4_ONLY, **PY312_NAMES}.items()
        if re.search(pattern, code)
    ]
    assert not found, found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(RUNTIME)))
def test_python_311_grammar(path: Path) -> None:
    # feature_version rejects grammar newer than 3.11 (type statements, PEP 695 generics, ...).
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 11))


def test_imports_only_what_fabric_provides() -> None:
    """Top-level imports are the standard library, pyspark/py4j/delta (provided by Fabric) or ourselves."""
    provided = {"pyspark", "py4j", "delta", "notebookutils", "com"}  # com.microsoft.spark.fabric
    optional = {"brotli"}  # imported on demand, with a CompressionError naming the package when missing
    # pyodbc: imported lazily (sources/odbc.py), a PlatformError when missing; Runtime 1.3 ships 5.0.1
    # (microsoft/synapse-spark-runtime, Fabric/Runtime 1.3 (Spark 3.5)/Fabric-Python311-CPU.yml).
    optional |= {"pyodbc"}
    stdlib = set(sys.stdlib_module_names)
    strangers = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            allowed = PYTHON_ENGINE_IMPORTS if PYTHON_ENGINE in path.parents else set()
            unknown = roots - stdlib - provided - optional - allowed - {"fabgen_runtime"}
            strangers |= {f"{path.name}:{r}" for r in unknown}
    assert not strangers, sorted(strangers)


# The Python engine runs in Fabric Python notebooks, which preinstall these (docs/runtimes.md;
# duckdb 1.4.4 and sqlglot 30.x run lakehouse queries: engines/python/query.py);
# only its own package imports them, and nothing outside the package imports it.
PYTHON_ENGINE = RUNTIME / "fabgen_runtime" / "engines" / "python"
PYTHON_ENGINE_IMPORTS = {"deltalake", "numpy", "pyarrow", "duckdb", "sqlglot"}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped |= {id(inner) for child in node.body for inner in ast.walk(child)}
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def test_only_the_python_engine_imports_deltalake_and_pyarrow_and_nothing_imports_it() -> None:
    """Spark notebooks never import the python engine (type hints aside), which imports no Spark."""
    offenders = []
    for path in SOURCES:
        inside = PYTHON_ENGINE in path.parents
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [("." * node.level) + node.module]
            else:
                continue
            for name in names:
                if not inside and (name.split(".")[0] in PYTHON_ENGINE_IMPORTS or "engines.python" in name):
                    offenders.append(f"{path.name}: {name}")
                if inside and name.split(".")[0] in {"pyspark", "py4j", "delta"}:
                    offenders.append(f"{path.name}: {name} (the python engine runs without Spark)")
    assert not offenders, offenders


# Removed from the standard library by Python 3.13 (Runtime 2.0's Python; PEP 594 and lib2to3).
REMOVED_IN_313 = {
    "aifc",
    "audioop",
    "cgi",
    "cgitb",
    "chunk",
    "crypt",
    "imghdr",
    "mailcap",
    "msilib",
    "nis",
    "nntplib",
    "ossaudiodev",
    "pipes",
    "sndhdr",
    "spwd",
    "sunau",
    "telnetlib",
    "uu",
    "xdrlib",
    "lib2to3",
}


def test_no_module_python_313_removed() -> None:
    used = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                used |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                used.add(node.module.split(".")[0])
    assert not used & REMOVED_IN_313


def test_runtime_declares_python_311() -> None:
    text = (RUNTIME / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^requires-python = ">=3\.11"', text, re.M)
    assert re.search(r"^dependencies = \[\]", text, re.M)


def test_state_schemas_are_built_without_the_jvm() -> None:
    # StructType.fromDDL needs Spark 4 and a live JVM; these schemas need neither.
    schema = spark_schema.struct(
        {
            "a": "string",
            "b": "bigint",
            "c": "int",
            "d": "boolean",
            "e": "date",
            "f": "timestamp",
            "g": "double",
            "h": "array<string>",
            "i": "map<string,string>",
        }
    )
    assert [f.dataType for f in schema.fields] == [
        T.StringType(),
        T.LongType(),
        T.IntegerType(),
        T.BooleanType(),
        T.DateType(),
        T.TimestampType(),
        T.DoubleType(),
        T.ArrayType(T.StringType(), True),
        T.MapType(T.StringType(), T.StringType(), True),
    ]
    assert all(f.nullable for f in schema.fields)
    log = spark_schema.struct(state_model.LOG_COLUMNS)
    assert log.fieldNames() == list(state_model.LOG_COLUMNS)
    with pytest.raises(ValueError, match="unsupported column type 'decimal"):
        spark_schema.spark_type("decimal(18,2)")
