"""Which Delta tables the Python engine can read correctly: reader features checked before any read.

The engine reads a lakehouse table's data files with pyarrow. That is right only when the files
hold the table's rows under the table's column names, or when the engine undoes what a reader
feature changes:

* ``deletionVectors``: a DELETE, UPDATE or MERGE marks rows of a file as removed in a deletion
  vector instead of rewriting the file. Fabric Spark Runtime 2.0 enables deletion vectors on new
  tables by default. **Read**: :mod:`.dv_scan` drops each file's deleted rows (delta-rs's own
  pyarrow dataset refuses such tables in every version).
* ``columnMapping`` (``delta.columnMapping.mode`` ``name`` or ``id``; reader version 2, or the
  ``columnMapping`` reader feature at version 3): the files store columns under physical names
  (``col-<uuid>``). deltalake 1.6.6's ``to_pyarrow_dataset`` reads every column as NULL, 1.2.1's
  refuses the table. **Read**: :mod:`.column_mapping` reads the files under their physical names
  (field ids checked in ``id`` mode) and renames the batches back to the logical names.

:func:`check` refuses a table with any other reader feature, an unknown column mapping mode, or a
reader version above 3, with a :class:`SourceReadError` naming the export, the table and the
features, before the dataset is built and so before any file is written. The Spark engine reads
these tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ...errors import SourceReadError
from . import column_mapping

if TYPE_CHECKING:
    from deltalake import DeltaTable

# Reader features the engine reads correctly: timestamp_ntz columns (pyarrow reads them as they are),
# deletion vectors (applied by .dv_scan), column mapping (physical names mapped by .column_mapping).
SAFE_READER_FEATURES = frozenset({"timestampNtz", "deletionVectors", "columnMapping"})
MAX_READER_VERSION = 3

_WHY = {
    "columnMapping": "an unknown delta.columnMapping.mode, which the python engine cannot map",
}


def unreadable(
    min_reader_version: int, reader_features: Iterable[str] | None, configuration: Mapping[str, str | None]
) -> list[str]:
    """The table's reader features the Python engine cannot read correctly (empty: readable).

    ``min_reader_version``/``reader_features`` are the table's protocol, ``configuration`` its
    metadata's properties.
    """
    found: list[str] = []
    if column_mapping.mode_of(configuration) not in column_mapping.MODES:
        found.append("columnMapping")
    if min_reader_version > MAX_READER_VERSION:
        found.append(f"reader version {min_reader_version}")
    for feature in sorted(set(reader_features or ()) - SAFE_READER_FEATURES):
        if feature not in found:
            found.append(feature)
    return found


def message(label: str, features: list[str]) -> str:
    """The refusal's text: the table, each feature and why, and what to do instead."""
    reasons = "; ".join(f"{f}: {_WHY[f]}" if f in _WHY else f for f in features)
    return (
        f"cannot read lakehouse table {label} with the python engine: it uses Delta reader "
        f"feature(s) {', '.join(features)} ({reasons}); run this export on the spark engine "
        f"(groups.<group>.engine: spark)"
    )


def check(table: DeltaTable, label: str, export: str) -> None:
    """Raise :class:`SourceReadError` when the delta-rs table cannot be read correctly."""
    protocol = table.protocol()
    configuration = table.metadata().configuration
    features = unreadable(protocol.min_reader_version, protocol.reader_features, configuration or {})
    if features:
        raise SourceReadError(message(label, features), export)
