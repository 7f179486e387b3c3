"""The verbs beyond init/validate, each a thin wrapper over the module that owns its concern.

Importing this module registers the commands on ``fabgen.cli.main``.
"""

from __future__ import annotations

import click
from fabgen_runtime.errors import ConfigError

from .cli import main


def _reserved(name: str, issue: str) -> None:
    @main.command(name, help=f"(not available yet: {issue})", context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def _command(args: tuple[str, ...]) -> None:
        raise ConfigError(f"'fabgen {name}' is not available in this build yet ({issue})")


# ---- plan / run (runtime read path, state and orchestration) -------------------------------
_reserved("plan", "read path and orchestration")
_reserved("run", "read path and orchestration")

# ---- render (notebook generator) -------------------------------------------------------------
_reserved("render", "notebook generator")

# ---- deploy / build-runtime (shipping to Fabric) ---------------------------------------------
_reserved("deploy", "shipping to Fabric")
