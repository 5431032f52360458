"""Invitations end to end: emailed token, accept with a verified matching address, expiry,
reuse, revocation and refresh."""

from __future__ import annotations

from typing import Any

from tests.factories import Client, User, emailed_token, expect_data, expect_problem, signed_in_user, unique


def auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.access_token}"}


async def verified_user(client: Client, db: Any) -> User:
    user = await signed_in_user(client)
    token = await emailed_token(db, user.email, "verify_email")
    expect_data(await client.post("/auth/verify-email", json={"token": token}))
    return user


async def org_of(client: Client) -> tuple[str, User]:
    owner = await signed_in_user(client)
    org = expect_data(
        await client.post("/orgs", json={"name": "Inv", "slug": unique("i")}, headers=auth(owner)), 201
    )
    return org["id"], owner


async def invite(client: Client, db: Any, org_id: str, owner: User, email: str, role: str = "member") -> str:
    expect_data(
        await client.post(
            f"/orgs/{org_id}/invitations", json={"email": email, "role": role}, headers=auth(owner)
        ),
        201,
    )
    return await emailed_token(db, email, "org_invitation")


async def accept(client: Client, user: User, token: str) -> Any:
    return await client.post("/invitations/accept", json={"token": token}, headers=auth(user))


async def test_accepting_joins_with_the_invited_role(client: Client, db: Any) -> None:
    org_id, owner = await org_of(client)
    invitee = await verified_user(client, db)
    token = await invite(client, db, org_id, owner, invitee.email.upper(), role="admin")

    joined = expect_data(await accept(client, invitee, token))

    assert (joined["id"], joined["role"]) == (org_id, "admin")
    mine = expect_data(await client.get("/orgs", headers=auth(invitee)))
    assert [(org["id"], org["role"]) for org in mine] == [(org_id, "admin")]
    stored = await db.fetchval("SELECT count(*) FROM org_invitations WHERE token_hash = $1", token.encode())
    assert stored == 0  # only the digest is stored


async def test_a_token_works_once(client: Client, db: Any) -> None:
    org_id, owner = await org_of(client)
    invitee = await verified_user(client, db)
    token = await invite(client, db, org_id, owner, invitee.email)
    expect_data(await accept(client, invitee, token))

    expect_problem(await accept(client, invitee, token), 400, "INVALID_TOKEN")


async def test_an_expired_invitation_is_refused(client: Client, db: Any) -> None:
    org_id, owner = await org_of(client)
    invitee = await verified_user(client, db)
    token = await invite(client, db, org_id, owner, invitee.email)
    await db.execute(
        "UPDATE org_invitations SET expires_at = now() - interval '1 second' WHERE org_id = $1", org_id
    )

    expect_problem(await accept(client, invitee, token), 400, "INVALID_TOKEN")
    listed = expect_data(await client.get(f"/orgs/{org_id}/invitations", headers=auth(owner)))
    assert [item["expired"] for item in listed] == [True]


async def test_reinviting_refreshes_the_link_and_retires_the_old_one(client: Client, db: Any) -> None:
    org_id, owner = await org_of(client)
    invitee = await verified_user(client, db)
    old = await invite(client, db, org_id, owner, invitee.email)
    new = await invite(client, db, org_id, owner, invitee.email, role="viewer")

    expect_problem(await accept(client, invitee, old), 400, "INVALID_TOKEN")
    assert expect_data(await accept(client, invitee, new))["role"] == "viewer"
    assert await db.fetchval("SELECT count(*) FROM org_invitations WHERE org_id = $1", org_id) == 1


async def test_a_revoked_invitation_is_refused(client: Client, db: Any) -> None:
    org_id, owner = await org_of(client)
    invitee = await verified_user(client, db)
    token = await invite(client, db, org_id, owner, invitee.email)
    [listed] = expect_data(await client.get(f"/orgs/{org_id}/invitations", headers=auth(owner)))
    revoked = await client.delete(f"/orgs/{org_id}/invitations/{listed['id']}", headers=auth(owner))
    assert revoked.status_code == 204

    expect_problem(await accept(client, invitee, token), 400, "INVALID_TOKEN")


async def test_an_unverified_address_must_be_verified_first(client: Client, db: Any) -> None:
    org_id, owner = await org_of(client)
    invitee = await signed_in_user(client)
    token = await invite(client, db, org_id, owner, invitee.email)

    expect_problem(await accept(client, invitee, token), 403, "EMAIL_NOT_VERIFIED")
    verify = await emailed_token(db, invitee.email, "verify_email")
    expect_data(await client.post("/auth/verify-email", json={"token": verify}))
    expect_data(await accept(client, invitee, token))  # the refusal did not spend the invitation


async def test_another_address_cannot_accept(client: Client, db: Any) -> None:
    org_id, owner = await org_of(client)
    invitee = await verified_user(client, db)
    stranger = await verified_user(client, db)
    token = await invite(client, db, org_id, owner, invitee.email)

    expect_problem(await accept(client, stranger, token), 403, "INVITATION_EMAIL_MISMATCH")
    expect_data(await accept(client, invitee, token))


async def test_inviting_a_member_is_a_conflict(client: Client, db: Any) -> None:
    org_id, owner = await org_of(client)

    response = await client.post(
        f"/orgs/{org_id}/invitations", json={"email": owner.email, "role": "member"}, headers=auth(owner)
    )

    expect_problem(response, 409, "ALREADY_MEMBER")


async def test_an_admin_cannot_invite_an_owner(client: Client, db: Any) -> None:
    org_id, owner = await org_of(client)
    admin = await verified_user(client, db)
    expect_data(
        await accept(client, admin, await invite(client, db, org_id, owner, admin.email, role="admin"))
    )

    response = await client.post(
        f"/orgs/{org_id}/invitations",
        json={"email": "boss@example.com", "role": "owner"},
        headers=auth(admin),
    )

    expect_problem(response, 403, "PERMISSION_DENIED")
