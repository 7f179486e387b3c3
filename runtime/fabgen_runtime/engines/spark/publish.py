"""Publishing on Spark: :mod:`fabgen_runtime.publish` over Hadoop's FileSystem API (``HadoopFS``).

For a notebook or a test that writes with :func:`.writer.write` and publishes the result itself;
an orchestrator run publishes through its engine's ``FileStore`` (:mod:`fabgen_runtime.export`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ... import platform as platform_mod
from ...publish import PublishedOutput, publish_staged
from ...publish import discard as discard_staging
from .fs import HadoopFS

if TYPE_CHECKING:
    from ...plan import ExportPlan
    from ...protocol.journal import Journal
    from ...staged import StagedOutput


def publish(
    staged: StagedOutput,
    plan: ExportPlan,
    platform: platform_mod.Platform | None = None,
    journal: Journal | None = None,
    failpoint: Callable[[str], None] | None = None,
    keep_journal: bool = False,
) -> PublishedOutput:
    """Publish ``staged`` (see :func:`fabgen_runtime.publish.publish_staged`) on the platform's Spark."""
    platform = platform or platform_mod.current()
    fs = HadoopFS(platform.spark())
    return publish_staged(fs, staged, plan, platform, journal, failpoint, keep_journal)


def discard(plan: ExportPlan, platform: platform_mod.Platform | None = None) -> None:
    """Remove the plan's staging directory, journal included (safe after any failure, or twice)."""
    platform = platform or platform_mod.current()
    discard_staging(plan, platform, HadoopFS(platform.spark()))
