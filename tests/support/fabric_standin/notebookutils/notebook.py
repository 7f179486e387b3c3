"""``notebookutils.notebook.exit(value)``: end the notebook and hand ``value`` (a string) to the caller.

Microsoft documents ``notebookutils.notebook.exit("value string")`` (notebook-utilities, "Exit a
notebook"); a pipeline reads it as ``@activity('<name>').output.result.exitValue``. It has no effect
inside try/except on Fabric; the stand-in cannot reproduce that and only records the value.
"""

from __future__ import annotations

import os

exit_values: list[str] = []


def exit(value: str) -> None:
    """Record ``value`` (and write it to ``FABRIC_STANDIN_EXIT_FILE`` when set)."""
    if not isinstance(value, str):
        raise TypeError(f"notebookutils.notebook.exit takes a string, got {type(value).__name__}")
    exit_values.append(value)
    target = os.environ.get("FABRIC_STANDIN_EXIT_FILE")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(value)
