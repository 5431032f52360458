"""docs/PERMISSIONS.md renders the permission matrix for people; it must say what the code does.

The table between the `permission-matrix` markers is parsed cell by cell and compared with
`ROLE_PERMISSIONS` (the role columns) and `USER_ONLY_PERMISSIONS` (the API key column), so a
changed cell, a missing or extra row, or a renamed column fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.orgs.permissions import ROLE_PERMISSIONS, USER_ONLY_PERMISSIONS, Permission, Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "PERMISSIONS.md"
START = "<!-- permission-matrix:"
END = "<!-- /permission-matrix -->"
ROLE_CELLS = {"yes": True, "-": False}
KEY_CELLS = {"never": True, "by role": False}
FLIPPED = {"yes": "-", "-": "yes", "never": "by role", "by role": "never"}


class MatrixError(Exception):
    """The table is not a well-formed permission matrix."""


def split_row(line: str) -> list[str]:
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|")):
        raise MatrixError(f"not a table row: {line!r}")
    return [cell.strip() for cell in line[1:-1].split("|")]


def matrix_lines(text: str) -> list[str]:
    """The table's lines: header, separator, one row per permission."""
    if text.count(START) != 1 or text.count(END) != 1:
        raise MatrixError("expected exactly one permission-matrix block")
    block = text.split(START, 1)[1].split(END, 1)[0]
    lines = [line for line in block.splitlines()[1:] if line.strip()]
    if len(lines) < 3:
        raise MatrixError("the permission-matrix block holds no table rows")
    return lines


def parse_matrix(text: str) -> tuple[dict[Role, set[Permission]], set[Permission]]:
    """(permissions per role, permissions API keys never get) as the document states them."""
    header, _separator, *body = matrix_lines(text)
    columns = split_row(header)
    if columns[0] != "Permission" or columns[-1] != "API key":
        raise MatrixError(f"unexpected header {columns}")
    if sorted(columns[1:-1]) != sorted(role.value for role in Role):
        raise MatrixError(f"role columns {columns[1:-1]} are not every role once")
    roles = [Role(name) for name in columns[1:-1]]

    granted: dict[Role, set[Permission]] = {role: set() for role in roles}
    never: set[Permission] = set()
    seen: set[Permission] = set()
    for line in body:
        cells = split_row(line)
        if len(cells) != len(columns):
            raise MatrixError(f"row has {len(cells)} cells, the header {len(columns)}: {line}")
        name = cells[0].strip("`")
        if name not in {p.value for p in Permission} or Permission(name) in seen:
            raise MatrixError(f"unknown or repeated permission {cells[0]!r}")
        permission = Permission(name)
        seen.add(permission)
        for role, cell in zip(roles, cells[1:-1], strict=True):
            if cell not in ROLE_CELLS:
                raise MatrixError(f"{permission} x {role}: {cell!r} is not one of {list(ROLE_CELLS)}")
            if ROLE_CELLS[cell]:
                granted[role].add(permission)
        if cells[-1] not in KEY_CELLS:
            raise MatrixError(f"{permission} x API key: {cells[-1]!r} is not one of {list(KEY_CELLS)}")
        if KEY_CELLS[cells[-1]]:
            never.add(permission)
    if seen != set(Permission):
        raise MatrixError(f"rows missing for {sorted(set(Permission) - seen)}")
    return granted, never


def agrees_with_code(text: str) -> bool:
    granted, never = parse_matrix(text)
    expected = {role: set(permissions) for role, permissions in ROLE_PERMISSIONS.items()}
    return granted == expected and never == set(USER_ONLY_PERMISSIONS)


def test_role_columns_equal_role_permissions() -> None:
    granted, _ = parse_matrix(DOC.read_text())
    assert granted == {role: set(permissions) for role, permissions in ROLE_PERMISSIONS.items()}


def test_api_key_column_equals_user_only_permissions() -> None:
    _, never = parse_matrix(DOC.read_text())
    assert never == set(USER_ONLY_PERMISSIONS)


def test_changing_any_cell_is_caught() -> None:
    text = DOC.read_text()
    variants: list[str] = []
    for line in matrix_lines(text)[2:]:
        cells = split_row(line)
        for index in range(1, len(cells)):
            changed = [*cells[:index], FLIPPED[cells[index]], *cells[index + 1 :]]
            variants.append(text.replace(line, "| " + " | ".join(changed) + " |", 1))
    assert len(variants) == len(Permission) * (len(Role) + 1)
    for variant in variants:
        assert not agrees_with_code(variant)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("| `org:read` | yes |", "| `org:read` | maybe |"),
        ("| `audit:read` |", "| `audit:write` |"),
        ("| Permission | owner | admin |", "| Permission | admin | owner |"),
        ("| `org:delete` | yes | - | - | - | never |\n", ""),
    ],
    ids=["unknown-cell", "unknown-permission", "swapped-columns", "missing-row"],
)
def test_malformed_or_wrong_tables_are_refused(old: str, new: str) -> None:
    text = DOC.read_text()
    assert old in text
    edited = text.replace(old, new, 1)
    try:
        agrees = agrees_with_code(edited)
    except MatrixError:
        return
    assert not agrees
