"""The results section of docs/BENCHMARKS.md and the chart, from a full run's report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"
CHART = ROOT / "docs" / "benchmarks.png"
BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"


def machine_lines(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in sorted(m["packages"].items()))
    return [
        f"- Run: `{report['command']}`, started {report['started_at']}",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}",
        f"- Pinning: servers on CPU {m['server_cpus'] or 'any'}, wrk and pgbench on CPU"
        f" {m['load_cpus'] or 'any'}; PostgreSQL and Redis unpinned",
        f"- PostgreSQL {m['postgres']}, Redis {m['redis']}, {m['wrk']}, {m['pgbench']},"
        f" openloop built with {m.get('cc', 'cc')}",
        f"- Python {m['python']}; {packages}",
        "- Settings: " + ", ".join(f"{key} {value}" for key, value in report["settings"].items()),
    ]


def write_docs(report: dict[str, Any], table: str) -> None:
    """Replace the results section of docs/BENCHMARKS.md and redraw docs/benchmarks.png."""
    chart(report)
    section = "\n".join(
        [BEGIN, "", *machine_lines(report), "", table, "", "![requests per second](benchmarks.png)", "", END]
    )
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + section + tail)


def chart(report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(name, entry["rps"] or 0.0) for name, entry in report["scenarios"].items()]
    rows += [(f"baseline: {name}", entry["rps"] or 0.0) for name, entry in report["baselines"].items()]
    names = [name for name, _ in rows]
    values = [value for _, value in rows]
    colours = ["#4c72b0" if not name.startswith("baseline") else "#999999" for name in names]
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.2))
    axes.barh(names, values, color=colours)
    axes.invert_yaxis()
    axes.set_xlabel("requests per second (median of rounds; pgbench: transactions per second)")
    axes.set_title(f"{report['command']} on {report['machine']['cpu']} ({report['machine']['cores']} cores)")
    for y, value in enumerate(values):
        axes.text(value, y, f" {value:,.0f}", va="center", fontsize=8)
    figure.tight_layout()
    figure.savefig(CHART, dpi=110)
    plt.close(figure)


def main() -> int:
    """Rewrite docs/BENCHMARKS.md and the chart from bench/results/latest.json (a full run)."""
    import json

    from bench.run import RESULTS, table

    report = json.loads((RESULTS / "latest.json").read_text())
    if report["mode"] != "full":
        print("latest.json is not a full run; run `just bench`")
        return 2
    write_docs(report, table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
