"""The write-path benchmark's report: ratios, verdicts against the targets, the table, the JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cases import METHODS, TARGETS


def ratios(result: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    def ratio(a: str, b: str) -> float | None:
        if a in result and b in result and result[b]["median"]:
            return round(result[a]["median"] / result[b]["median"], 2)
        return None

    return {
        "fabgen/bare": ratio("fabgen", "bare"),
        "naive/fabgen": ratio("naive", "fabgen"),
        "fabgen/polars": ratio("fabgen", "polars"),
    }


def verdict(case: str, r: dict[str, float | None]) -> str:
    max_bare, min_naive = TARGETS[case]
    checks = []
    if r["fabgen/bare"] is not None:
        checks.append(("ok" if r["fabgen/bare"] <= max_bare else "MISS") + f" <= {max_bare}x bare")
    if min_naive and r["naive/fabgen"] is not None:
        checks.append(
            ("ok" if r["naive/fabgen"] >= min_naive else "MISS") + f" >= {min_naive}x faster than naive"
        )
    return "; ".join(checks)


def print_table(cases: dict[str, Any]) -> None:
    header = (
        f"{'case':<10}"
        + "".join(f"{m:>9}" for m in METHODS)
        + f"{'fab/bare':>10}{'naive/fab':>11}{'fab/polars':>12}  target"
    )
    print(header)
    print("-" * len(header))
    for case, entry in cases.items():
        cells = "".join(
            f"{entry['methods'][m]['median']:>9.2f}" if m in entry["methods"] else f"{'-':>9}"
            for m in METHODS
        )
        r = entry["ratios"]
        fmt = lambda v: f"{v:.2f}" if v is not None else "-"  # noqa: E731
        print(
            f"{case:<10}{cells}{fmt(r['fabgen/bare']):>10}{fmt(r['naive/fabgen']):>11}"
            f"{fmt(r['fabgen/polars']):>12}  {entry['verdict']}"
        )
    print("\nCPU seconds (Spark JVM + Python), medians:")
    for case, entry in cases.items():
        cells = "".join(
            f"{entry['methods'][m]['cpu_median']:>9.2f}" if m in entry["methods"] else f"{'-':>9}"
            for m in METHODS
        )
        print(f"{case:<10}{cells}")


def write_results(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results written to {path}")
