"""Roles and what each may do in an organization: the permission matrix, defined once.

docs/PERMISSIONS.md renders this table for people; `tests/orgs/test_permissions_doc.py` checks
that the two agree. Each org route's access check (app.orgs.auth.requires) checks the permission
it needs; services re-check it and add the rules that depend on the object (an admin cannot
touch an owner, members edit only their own resources).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = [
    "API_KEY_ROLES",
    "ROLE_PERMISSIONS",
    "USER_ONLY_PERMISSIONS",
    "Permission",
    "Role",
    "can_grant",
    "role_allows",
]


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Permission(StrEnum):
    ORG_READ = "org:read"
    ORG_UPDATE = "org:update"
    ORG_DELETE = "org:delete"
    ORG_TRANSFER = "org:transfer"
    MEMBERS_READ = "members:read"
    MEMBERS_MANAGE = "members:manage"
    INVITATIONS_MANAGE = "invitations:manage"
    API_KEYS_MANAGE = "api_keys:manage"
    AUDIT_READ = "audit:read"
    RESOURCES_READ = "resources:read"
    RESOURCES_CREATE = "resources:create"
    RESOURCES_EDIT_OWN = "resources:edit_own"
    RESOURCES_EDIT_ANY = "resources:edit_any"
    WEBHOOKS_MANAGE = "webhooks:manage"


_VIEWER = frozenset({Permission.ORG_READ, Permission.MEMBERS_READ, Permission.RESOURCES_READ})
_MEMBER = _VIEWER | {Permission.RESOURCES_CREATE, Permission.RESOURCES_EDIT_OWN}
_ADMIN = _MEMBER | {
    Permission.ORG_UPDATE,
    Permission.MEMBERS_MANAGE,
    Permission.INVITATIONS_MANAGE,
    Permission.API_KEYS_MANAGE,
    Permission.AUDIT_READ,
    Permission.RESOURCES_EDIT_ANY,
    Permission.WEBHOOKS_MANAGE,
}
_OWNER = _ADMIN | {Permission.ORG_DELETE, Permission.ORG_TRANSFER}

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.OWNER: _OWNER,
    Role.ADMIN: _ADMIN,
    Role.MEMBER: _MEMBER,
    Role.VIEWER: _VIEWER,
}

# A machine client never mints other credentials (keys, or invitations that become accounts):
# a leaked key must not be able to make more.
USER_ONLY_PERMISSIONS = frozenset(
    {
        Permission.API_KEYS_MANAGE,
        Permission.INVITATIONS_MANAGE,
        Permission.ORG_DELETE,
        Permission.ORG_TRANSFER,
    }
)
# Keys never own an organization.
API_KEY_ROLES = (Role.ADMIN, Role.MEMBER, Role.VIEWER)


def role_allows(role: Role, permission: Permission, *, is_api_key: bool = False) -> bool:
    if is_api_key and permission in USER_ONLY_PERMISSIONS:
        return False
    return permission in ROLE_PERMISSIONS[role]


def can_grant(granter: Role, role: Role) -> bool:
    """Owners may grant any role; admins any role but owner; others none."""
    if granter is Role.OWNER:
        return True
    return granter is Role.ADMIN and role is not Role.OWNER
