"""Every SQL file of the project is where `just sql-lint` and `just migration-lint` look.

The linters run over `sql/` and `migrations/` only (Justfile, docs/sql/LINTING.md): a `.sql` file
anywhere else would go unlinted, so this test names it. Purely a file-system check: no database.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINTED = ("sql", "migrations")


def project_sql_files() -> list[Path]:
    """The `.sql` files git would commit (tracked or not ignored); every one on disk without git."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.sql"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        skipped = {".git", ".venv", "node_modules"}
        return [
            p.relative_to(ROOT)
            for p in ROOT.rglob("*.sql")
            if not skipped.intersection(p.relative_to(ROOT).parts)
        ]
    return [Path(line) for line in listed if (ROOT / line).exists()]


def test_sql_files_live_where_the_linters_look() -> None:
    files = project_sql_files()
    assert any(path.parts[0] == "sql" for path in files), "no SQL found under sql/: is ROOT right?"
    outside = sorted(str(path) for path in files if path.parts[0] not in LINTED)
    assert outside == [], (
        f"SQL files outside {', '.join(f'{d}/' for d in LINTED)} are not linted by `just sql-lint`"
        f" / `just migration-lint`: move them there or add their folder to the linters: {outside}"
    )
