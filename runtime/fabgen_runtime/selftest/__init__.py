"""The self-test a user runs once per workspace: what fabgen assumes of Fabric that no local test proves.

``fabgen render`` writes the notebooks ``fabgen_selftest`` (Spark) and, when a group has
``engine: python``, ``fabgen_selftest_python`` (a Fabric Python notebook). Each runs the checks of
:data:`~.model.CHECKS` for its kind, shows one row per check (check, pass/fail, what was seen, the
document the assumption comes from) and raises :class:`~.model.SelfTestFailed` when a row failed.

- :mod:`.model`: the checks, the rows, the table;
- :mod:`.files`, :mod:`.access`, :mod:`.delta`: the checks, each over what it probes (passed in, so a
  test hands them a broken stand-in);
- :mod:`.run`: the checks of one notebook kind, in order, with their scratch folder;
- :mod:`.spark`: the Spark notebook's (``run_spark``); the Python notebook's is
  :mod:`fabgen_runtime.engines.python.selftest` (``run_python``), beside the engine it probes.

Nothing here imports Spark or delta-rs at module level (docs/runtimes.md, "Checked in a workspace:
the self-test").
"""

from .model import CHECKS, Check, Row, SelfTestFailed, checks_for, format_table, raise_on_failure

__all__ = ["CHECKS", "Check", "Row", "SelfTestFailed", "checks_for", "format_table", "raise_on_failure"]
