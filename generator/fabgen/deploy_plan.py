"""What a deploy changes: the items of a deploy folder, fabgen's ownership rule, prune selection.

Pure functions over item references (type, display name, description), so they are tested without
a workspace. fabric-cicd pairs repository and workspace items by type and display name, as here.

An item is fabgen-owned (:func:`owned`) when its ``.platform`` description starts with ``fabgen:``
(every item fabgen renders has one) and its name follows fabgen's naming for its type:
``<group>_eg<N>`` notebooks, ``<group>_pipeline`` pipelines, ``<project>_env`` for the Environment.
``--prune`` removes only owned items that the current render no longer produces.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .fabric_environment import environment_item_name
from .items import PLATFORM_FILE

ITEM_TYPES = ("Environment", "Notebook", "DataPipeline")  # fabric-cicd publishes in this order
OWNER_MARKER = "fabgen:"  # every .platform description fabgen writes starts with it


@dataclass(frozen=True, order=True)
class ItemRef:
    """An item by type and display name (how fabric-cicd pairs repository and workspace items)."""

    type: str
    name: str
    description: str = field(default="", compare=False)


@dataclass(frozen=True)
class Action:
    """What a deploy does (or would do) to one item: ``create``, ``update``, ``publish``, ``remove``."""

    verb: str
    item: ItemRef

    def __str__(self) -> str:
        return f"{self.verb:<7} {self.item.type:<12} {self.item.name}"


_NAME_PATTERNS = {
    "Notebook": re.compile(r"^(?:[A-Za-z0-9_-]+_eg\d+|fabgen_selftest(?:_python)?)$"),  # groups, self-tests
    "DataPipeline": re.compile(r"^[A-Za-z0-9_-]+_pipeline$"),
}


def owned(item: ItemRef, project: str) -> bool:
    """True when ``item`` is one fabgen renders for ``project`` (its naming and a ``fabgen:`` description)."""
    if not item.description.startswith(OWNER_MARKER):
        return False
    if item.type == "Environment":
        return item.name == environment_item_name(project)
    pattern = _NAME_PATTERNS.get(item.type)
    return bool(pattern and pattern.match(item.name))


def plan_actions(
    local: list[ItemRef], deployed: list[ItemRef] | None, project: str, prune: bool
) -> list[Action]:
    """Create or update each local item (``publish`` when the workspace is unknown), then owned orphans."""
    local = sorted(local, key=_publish_order)
    if deployed is None:
        return [Action("publish", item) for item in local]
    present = {(d.type, d.name) for d in deployed}
    actions = [Action("update" if (i.type, i.name) in present else "create", i) for i in local]
    if prune:
        actions += [Action("remove", o) for o in prune_selection(local, deployed, project)]
    return actions


def _publish_order(item: ItemRef) -> tuple[int, str]:
    return (ITEM_TYPES.index(item.type) if item.type in ITEM_TYPES else len(ITEM_TYPES), item.name)


def prune_selection(local: list[ItemRef], deployed: list[ItemRef], project: str) -> list[ItemRef]:
    """The deployed items ``--prune`` removes: fabgen-owned, of fabgen's types, no longer rendered."""
    keep = {(i.type, i.name) for i in local}
    chosen = [d for d in deployed if (d.type, d.name) not in keep and owned(d, project)]
    return sorted(chosen, key=_publish_order, reverse=True)  # removed in fabric-cicd's unpublish order


def only_these_regex(names: list[str]) -> str:
    """An ``item_name_exclude_regex`` excluding every name but ``names`` (fabric-cicd uses re.match)."""
    alternatives = "|".join(re.escape(n) for n in sorted(names))
    return rf"^(?!(?:{alternatives})$)"


def scan_items(folder: Path) -> list[ItemRef]:
    """The items of a deploy folder: every folder holding a ``.platform`` file (as fabric-cicd scans)."""
    found = []
    for platform in sorted(folder.rglob(PLATFORM_FILE)):
        metadata = json.loads(platform.read_text(encoding="utf-8"))["metadata"]
        found.append(ItemRef(metadata["type"], metadata["displayName"], metadata.get("description", "")))
    return found
