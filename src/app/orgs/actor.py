"""Who acts in an organization: a member (through a user token) or an API key of that org."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import msgspec

from app.core.exceptions import PermissionDeniedError
from app.orgs.permissions import Permission, Role, role_allows

__all__ = ["ActorType", "OrgActor"]

ActorType = Literal["user", "api_key"]


class OrgActor(msgspec.Struct, frozen=True, kw_only=True):
    """The caller of an org-scoped route, resolved by the route's access check for the org in the path."""

    org_id: UUID
    role: Role
    actor_type: ActorType
    # The user's id, or the API key's id.
    actor_id: UUID

    @property
    def is_api_key(self) -> bool:
        return self.actor_type == "api_key"

    @property
    def user_id(self) -> UUID | None:
        return None if self.is_api_key else self.actor_id

    def can(self, permission: Permission) -> bool:
        return role_allows(self.role, permission, is_api_key=self.is_api_key)

    def require(self, permission: Permission) -> None:
        """Services re-check what the route's access check checked: defence in depth."""
        if not self.can(permission):
            raise PermissionDeniedError(_denied_message(self, permission))


def _denied_message(actor: OrgActor, permission: Permission) -> str:
    if actor.is_api_key and role_allows(actor.role, permission):
        return "API keys cannot do this; sign in as a user."
    return f"Your role ({actor.role}) does not allow this ({permission})."
