"""Part numbering for ``max_rows_per_file`` (pure arithmetic; the Spark side lives in the writer).

Rows keep the order Spark reads them in: partition by partition, and in order within each
partition. With each partition's row count known, a row's global index is its partition's
offset plus its index inside the partition, and its part is ``index // max_rows + 1``. So every
part but the last holds exactly ``max_rows`` rows and there are ``ceil(rows / max_rows)`` parts
(one header-only part when there are no rows at all).
"""

from __future__ import annotations

from collections.abc import Mapping

# monotonically_increasing_id() puts the partition id in the upper 31 bits and the
# row's index within the partition in the lower 33 bits.
INDEX_BITS = 33
INDEX_MASK = (1 << INDEX_BITS) - 1


def part_count(rows: int, max_rows: int) -> int:
    """How many parts ``rows`` rows make (at least one, so an empty export still has a file)."""
    if max_rows < 1:
        raise ValueError("max_rows must be 1 or more")
    return max(1, -(-rows // max_rows))


def part_rows(rows: int, max_rows: int) -> list[int]:
    """Rows in each part, in part order."""
    count = part_count(rows, max_rows)
    return [min(max_rows, rows - index * max_rows) if rows else 0 for index in range(count)]


def partition_offsets(counts: Mapping[int, int], partitions: int) -> list[int]:
    """Global index of each partition's first row, from per-partition counts (missing = 0)."""
    offsets, total = [], 0
    for partition in range(partitions):
        offsets.append(total)
        total += counts.get(partition, 0)
    return offsets
