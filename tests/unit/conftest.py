"""Fixtures shared by the unit tests of one area (the session-wide ones are in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="module")
def orders(local_platform) -> Any:
    """The Python engine tests' orders table (name, rows), written with delta-rs once per module."""
    from python_engine_support import orders_table

    return orders_table(local_platform)
