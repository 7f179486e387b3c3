"""The self-test's checks (what fabgen assumes of Fabric, and the documents it relies on), its rows
and the table the notebook shows.

:data:`CHECKS` is the one list of what the self-test checks: the rendered notebooks' header,
docs/runtimes.md ("Checked in a workspace: the self-test", kept equal by a unit test) and the rows'
``doc`` column all come from it. A check runs in the notebook kinds named by its ``engines``
(``spark``: the Spark notebook ``fabgen_selftest``; ``python``: the Fabric Python notebook
``fabgen_selftest_python``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import FabgenError

log = logging.getLogger(__name__)

NOTEBOOK_UTILITIES = "https://learn.microsoft.com/fabric/data-engineering/notebook-utilities"
HADOOP_RENAME = (
    "https://hadoop.apache.org/docs/stable/hadoop-project-dist/hadoop-common/filesystem/filesystem.html"
    " (rename: HDFS refuses an existing destination, the local file system replaces it); hadoop-azure"
    " AbfsClient.renamePath (If-None-Match: *)"
)
ONELAKE_API = "https://learn.microsoft.com/fabric/onelake/onelake-access-api"
RELEASE_NOTES = (
    "https://github.com/microsoft/synapse-spark-runtime (Fabric/, Components.json: SQLServerODBCDriver)"
)
CONNECTOR = "https://learn.microsoft.com/fabric/data-engineering/spark-data-warehouse-connector"
DELTA_PROTOCOL = "https://github.com/delta-io/delta/blob/master/PROTOCOL.md"
DV_DEFAULT = "https://learn.microsoft.com/fabric/data-engineering/fabric-notebook-selection-guide"
WORKSPACE_ROLES = "https://learn.microsoft.com/fabric/fundamentals/roles-workspaces"

SPARK = "spark"
PYTHON = "python"


@dataclass(frozen=True)
class Check:
    """One assumption fabgen makes about Fabric that only a workspace can confirm."""

    name: str
    engines: tuple[str, ...]  # the notebook kinds that run it: "spark", "python"
    assumption: str  # what fabgen assumes, in one sentence
    relied_on_by: str  # the code that relies on it
    doc: str  # the document the assumption comes from


CHECKS: tuple[Check, ...] = (
    Check(
        "onelake_rename",
        (SPARK, PYTHON),
        "a OneLake rename refuses an existing destination (leaving it untouched), of renames racing onto "
        "one name exactly one wins, and a renamed file arrives whole with its source gone: Hadoop's "
        "FileSystem.rename in Spark, notebookutils.fs.mv(src, dst, create_path, overwrite=False) in Python",
        "publish (fs.HadoopFS.rename, engines/python/onelake.NotebookFileStore.rename), the journal",
        f"{HADOOP_RENAME}; {NOTEBOOK_UTILITIES} (fs.mv)",
    ),
    Check(
        "notebookutils_fs",
        (PYTHON,),
        "notebookutils.fs behaves as NotebookFileStore assumes: exists, mkdirs, put/head round trip "
        "UTF-8 text, put(overwrite=True) replaces, ls gives name/size/isDir, cp to and from file:, rm "
        "of a file and of a folder (recurse=True)",
        "engines/python/onelake.NotebookFileStore (journals, manifests, uploads, SHA-256)",
        f"{NOTEBOOK_UTILITIES} (File system utilities)",
    ),
    Check(
        "storage_token",
        (PYTHON,),
        'notebookutils.credentials.getToken("storage") issues a token to the identity running the '
        "notebook (delta-rs's OneLake bearer token)",
        "engines/python/onelake.FabricStorageOptions",
        f"{NOTEBOOK_UTILITIES} (Credentials utilities)",
    ),
    Check(
        "database_token",
        (SPARK, PYTHON),
        'notebookutils.credentials.getToken("https://database.windows.net/") issues a token to the '
        "identity running the notebook (warehouses with a sql_endpoint: JDBC accessToken, ODBC)",
        "sources/odbc.fabric_token, sources/warehouse.py",
        f"{NOTEBOOK_UTILITIES} (Credentials utilities)",
    ),
    Check(
        "odbc_driver_18",
        (SPARK, PYTHON),
        'pyodbc imports and lists "ODBC Driver 18 for SQL Server"',
        "sources/odbc.py (control queries), engines/python/warehouse.py",
        RELEASE_NOTES,
    ),
    Check(
        "synapsesql_connector",
        (SPARK,),
        "import com.microsoft.spark.fabric adds DataFrameReader.synapsesql, with "
        "Constants.DatabaseName and Constants.WorkspaceId",
        "sources/warehouse.py (warehouses without a sql_endpoint)",
        CONNECTOR,
    ),
    Check(
        "state_table_protocol",
        (SPARK, PYTHON),
        "the state tables come out as fabgen pins them (fabgen_runtime.state_protocol: reader 1 / "
        "writer 2, no table features, delta.enableDeletionVectors false or absent) whatever the "
        "session's defaults: a scratch table made by this engine's creation code, and the config "
        "lakehouse's log and watermark tables when they exist",
        "state_tables.TableSetup, engines/python/tables.DeltaRsTables",
        f"{DELTA_PROTOCOL} (Table Features, Deletion Vectors); {DV_DEFAULT}",
    ),
    Check(
        "delta_commit_race",
        (SPARK, PYTHON),
        "two writers committing to one Delta table at the same version exclude each other: one wins, "
        "the other gets a concurrent-modification error or retries onto the next version, no commit "
        "is lost (a Spark and a delta-rs writer where both exist, else two of the one engine)",
        "commits.retry_conflicts over the state tables, both engines sharing them",
        f"{DELTA_PROTOCOL} (mutual exclusion of commits)",
    ),
    Check(
        "files_writable",
        (SPARK, PYTHON),
        "the identity running the notebook can write and remove files in the Files/ of every target "
        "lakehouse of the project's exports (one row per lakehouse)",
        "writer (staging), publish",
        f"{ONELAKE_API}; {WORKSPACE_ROLES}",
    ),
    Check(
        "scratch_removed",
        (SPARK, PYTHON),
        "the self-test's scratch folder (Files/_fabgen_selftest/<run> of the config lakehouse) is gone "
        "after a recursive delete",
        "bookkeeping (removing staging), the self-test's own clean-up",
        ONELAKE_API,
    ),
)

BY_NAME: dict[str, Check] = {check.name: check for check in CHECKS}


def checks_for(engine: str) -> list[Check]:
    """The checks the ``engine`` notebook (``spark`` or ``python``) runs, in table order."""
    return [check for check in CHECKS if engine in check.engines]


@dataclass(frozen=True)
class Row:
    """One row of the self-test's table: a check, whether it passed, what was seen, its document."""

    check: str
    passed: bool
    seen: str
    doc: str
    subject: str = ""  # what the row is about when a check has several rows (a lakehouse)

    @property
    def label(self) -> str:
        """The check's name, with its subject when it has one."""
        return f"{self.check} ({self.subject})" if self.subject else self.check

    def to_dict(self) -> dict[str, Any]:
        """The row as a plain dict (the notebook's exit value, tests)."""
        return asdict(self)


def outcome(check: str, passed: bool, seen: str, subject: str = "") -> Row:
    """A row of ``check`` (its document from :data:`CHECKS`)."""
    return Row(check, passed, " ".join(seen.split()), BY_NAME[check].doc, subject)


def guarded(check: str, probe: Callable[[], Row], subject: str = "") -> Row:
    """``probe()``, or a failed row naming the exception it raised (a check never stops the others)."""
    try:
        return probe()
    except Exception as exc:  # every failure of a probe is a finding, reported in its row
        log.warning("self-test check %s%s raised", check, f" ({subject})" if subject else "", exc_info=True)
        return outcome(check, False, f"raised {type(exc).__name__}: {exc}", subject)


class SelfTestFailed(FabgenError):
    """At least one row of the self-test failed; ``rows`` are all of them."""

    def __init__(self, rows: Sequence[Row]):
        self.rows = list(rows)
        failed = [row.label for row in self.rows if not row.passed]
        super().__init__(
            f"{len(failed)} of {len(self.rows)} self-test check(s) failed: {', '.join(failed)} "
            "(the table above says what was seen)"
        )


def raise_on_failure(rows: Sequence[Row]) -> None:
    """Raise :class:`SelfTestFailed` when any row failed."""
    if any(not row.passed for row in rows):
        raise SelfTestFailed(rows)


def format_table(rows: Iterable[Row], width: int = 110) -> list[str]:
    """The rows as a text table: check, result, what was seen (wrapped at ``width``), then each
    row's document below the table."""
    import textwrap

    rows = list(rows)
    if not rows:
        return ["(no checks ran)"]
    label = max(len("check"), *(len(row.label) for row in rows))
    seen_width = max(30, width - label - 8)
    lines = [f"{'check'.ljust(label)}  result  seen", f"{'-' * label}  ------  {'-' * seen_width}"]
    for row in rows:
        wrapped = textwrap.wrap(row.seen, seen_width) or [""]
        result = "pass" if row.passed else "FAIL"
        lines.append(f"{row.label.ljust(label)}  {result.ljust(6)}  {wrapped[0]}")
        lines += [f"{'':{label}}  {'':6}  {more}" for more in wrapped[1:]]
    lines.append("")
    lines += [f"{check.name}: {check.doc}" for check in CHECKS if any(r.check == check.name for r in rows)]
    return lines
