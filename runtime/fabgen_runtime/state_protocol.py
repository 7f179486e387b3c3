"""The state tables' Delta protocol: pinned at creation by either engine, checked before delta-rs uses one.

Fabric's Spark Runtime 2.0 gives every new Delta table deletion vectors (reader 3 / writer 7,
``deletionVectors``) unless the table says otherwise. delta-rs 1.2.1, the ``deltalake`` of Fabric's
python3.12 kernel, refuses every read and every commit on a table whose protocol lists that feature,
DV files or not (1.6.6 commits to it, but its pyarrow read still refuses it). So the log and
watermark tables, which a Spark group and a Python group share in one config lakehouse, are created
with their properties spelled out, whatever the session's defaults
(``spark.databricks.delta.properties.defaults.*``): reader 1 / writer 2, no table features.

* :data:`SPARK_PROPERTIES` / :func:`spark_properties`: what Spark's ``TableSetup.create`` sets:
  deletion vectors off, and off too every other feature a session default can switch on that
  delta-rs 1.2.1 cannot read or write (row tracking, V2 checkpoints, column mapping, type widening,
  in-commit timestamps; change data feed, which it can, is pinned off as well so the protocol stays
  1 / 2). Every key exists in Delta 3.2 (Runtime 1.3) and 4.2 (Runtime 2.0); in-commit timestamps
  only on Spark 4 (Delta 3.2 names that property ``...-preview``).
* :data:`DELTA_RS_PROPERTIES`: what ``DeltaRsTables`` sets (delta-rs has no session defaults and
  refuses configuration keys it does not know, e.g. ``delta.enableRowTracking`` in 1.2.1).
* :func:`unsupported`: the protocol parts of an existing table the Python engine cannot read and
  write; :func:`refusal`: its :class:`~fabgen_runtime.errors.StateTableError` text, naming the fix
  (``fabgen_runtime.engines.spark.state_tables.rebuild_state_table`` in a Spark notebook, or Delta's own
  ``DROP FEATURE ... TRUNCATE HISTORY``; docs/runtimes.md, "State tables: a pinned protocol").

Pure Python, no Spark and no delta-rs: both engines import it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Table properties Spark sets on a state table it creates (any Spark; see :func:`spark_properties`).
SPARK_PROPERTIES: dict[str, str] = {
    "delta.minReaderVersion": "1",
    "delta.minWriterVersion": "2",
    "delta.enableDeletionVectors": "false",
    "delta.enableRowTracking": "false",
    "delta.checkpointPolicy": "classic",
    "delta.columnMapping.mode": "none",
    "delta.enableTypeWidening": "false",
    "delta.enableChangeDataFeed": "false",
}
#: Added on Spark 4 (Delta 4.x): Delta 3.2 refuses this key (its name there ends in ``-preview``).
SPARK_4_PROPERTIES: dict[str, str] = {"delta.enableInCommitTimestamps": "false"}
#: Table properties delta-rs sets on a state table it creates (it makes reader 1 / writer 2 anyway).
DELTA_RS_PROPERTIES: dict[str, str] = {"delta.enableDeletionVectors": "false"}
#: The protocol both engines create the state tables at.
PROTOCOL = (1, 2)

#: Writer features of a reader-1 table that delta-rs 1.2.1 and 1.6.6 were checked to append to and
#: MERGE into (Spark writes ``appendOnly`` and ``invariants`` into every writer-7 protocol it makes).
WRITER_FEATURES = frozenset({"appendOnly", "invariants", "changeDataFeed"})
#: The feature Fabric Runtime 2.0 turns on by default, and the one Delta's own DROP FEATURE removes.
DELETION_VECTORS = "deletionVectors"
REBUILD = "fabgen_runtime.engines.spark.state_tables.rebuild_state_table"


def spark_properties(spark_version: str) -> dict[str, str]:
    """The properties Spark ``spark_version`` (``spark.version``) sets on a state table it creates."""
    major = spark_version.split(".", 1)[0]
    newer = SPARK_4_PROPERTIES if major.isdigit() and int(major) >= 4 else {}
    return {**SPARK_PROPERTIES, **newer}


def unsupported(
    min_reader_version: int,
    min_writer_version: int,
    reader_features: Iterable[str] | None,
    writer_features: Iterable[str] | None,
) -> list[str]:
    """What in a table's protocol the Python engine cannot read and write (empty: usable).

    Reader side: any reader feature (``to_pyarrow_dataset`` of 1.2.1 and 1.6.6 refuses
    ``deletionVectors``, ``v2Checkpoint`` and ``columnMapping`` alike) and reader version 2 (column
    mapping). Writer side: a legacy writer version above 2, or a writer feature outside
    :data:`WRITER_FEATURES` (1.2.1 refuses ``rowTracking``, ``domainMetadata``,
    ``inCommitTimestamp`` and ``checkpointProtection``, which Delta 4's fast DROP FEATURE adds).
    """
    readers = sorted(set(reader_features or ()))
    found = list(readers)
    if min_reader_version > 1 and not readers:
        found.append(f"reader version {min_reader_version}")
    if writer_features is None:
        if min_writer_version > PROTOCOL[1]:
            found.append(f"writer version {min_writer_version}")
    else:
        found += sorted(set(writer_features) - WRITER_FEATURES - set(readers))
    return found


def describe(min_reader_version: int, min_writer_version: int) -> str:
    """``reader 3 / writer 7``."""
    return f"reader {min_reader_version} / writer {min_writer_version}"


def fix(path: str, features: list[str]) -> str:
    """What to run once in a Spark notebook so the Python engine can use the table at ``path``."""
    quoted = path.replace("`", "``")
    text = (
        "in a Spark notebook with fabgen-runtime, while no fabgen run uses this config lakehouse, run "
        "from fabgen_runtime.engines.spark.state_tables import rebuild_state_table; "
        f'rebuild_state_table(spark, "{path}") '
        "-- it copies the rows into a new table at the same path (reader 1 / writer 2, no table "
        "features) and keeps the old table beside it as a backup"
    )
    if features == [DELETION_VECTORS]:
        text += (
            f"; or, keeping the table itself: ALTER TABLE delta.`{quoted}` DROP FEATURE deletionVectors "
            "TRUNCATE HISTORY, and the same statement again 24 hours later (Delta's own route; REORG "
            "TABLE ... APPLY (PURGE) alone leaves the feature in the protocol, and DROP FEATURE without "
            "TRUNCATE HISTORY adds checkpointProtection, which delta-rs cannot write either)"
        )
    return text + " (docs/runtimes.md, 'State tables: a pinned protocol')"


def refusal(
    table: str,
    path: str,
    min_reader_version: int,
    min_writer_version: int,
    features: list[str],
    deltalake_version: str,
) -> str:
    """The Python engine's refusal of the state table ``table`` at ``path`` (nothing read or written)."""
    return (
        f"the state table {table} at {path} uses Delta {describe(min_reader_version, min_writer_version)} "
        f"with {', '.join(features)}, which the python engine (deltalake {deltalake_version}) cannot use; "
        "nothing was read or written. A table like this was created by an older fabgen under "
        "Fabric Runtime 2.0's defaults (deletion vectors on for new tables); fabgen now creates the "
        "state tables at reader 1 / writer 2 without table features, and the spark engine keeps working "
        f"with this one. To share it with python groups, fix it once: {fix(path, features)}"
    )
