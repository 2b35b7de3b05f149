"""Token revocation: each user's token version against the `ver` claim of every token.

The version is bumped (one UPDATE, in the transaction of the change) by a password change, an
admin's role change or deactivation (users.service), and by a refresh token presented a second
time: every token issued before stops working at once, on every replica, because each use
compares the token with the user's row.

Refresh tokens rotate: a refresh token is redeemed once (its `jti` is stored until it expires);
a second presentation is a stolen or replayed token, so the account's tokens are all revoked.

Reads without a database round trip (`auth.readers`) compare the claim with the standing
mirrored at each bump (`auth.standing`).
"""

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.auth.models import UsedRefreshToken
from catalog_service.auth.standing import Standing, changed_at_commit, mirrored
from catalog_service.auth.tokens import TokenClaims
from catalog_service.errors import Unauthorized
from catalog_service.users.models import User

# Expired redemption records deleted per refresh: the table stays as small as the live tokens.
_PURGE_CHUNK = 100


def check_current(user: User | None, claims: TokenClaims) -> User:
    """`user` when the token is still theirs to use; Unauthorized otherwise."""
    if user is None or not user.is_active:
        raise Unauthorized("User is unknown or deactivated", code="inactive_user")
    if user.token_version != claims.version:
        raise Unauthorized("Token revoked, sign in again", code="token_revoked")
    return user


async def revoke_tokens(*, session: AsyncSession, user_id: int) -> None:
    """Every token of the user issued so far stops working when the transaction commits, for
    the reads that check the mirrored standing too (`auth.standing`)."""
    row = (
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(token_version=User.token_version + 1)
            .returning(User.token_version, User.is_active)
        )
    ).one_or_none()
    if row is not None:
        changed_at_commit(session, user_id, Standing(row.token_version, row.is_active))


async def redeem_refresh(*, session: AsyncSession, claims: TokenClaims) -> User:
    """The user a refresh token may mint one new pair for; commits.

    A token already redeemed is refused, and revokes every token of its user: the legitimate
    client and the thief both hold it, and only one may go on. Two concurrent redemptions of
    one token serialise on its row: the second sees the first's and is refused.
    """
    if claims.token_id is None:  # not a refresh token's claims (verify requires a jti there)
        raise Unauthorized("Invalid token", code="invalid_token")
    user = check_current(await session.get(User, claims.user_id), claims)
    redeemed = await session.scalar(
        insert(UsedRefreshToken)
        .values(jti=claims.token_id, expires_at=claims.expires_at)
        .on_conflict_do_nothing(index_elements=[UsedRefreshToken.jti])
        .returning(UsedRefreshToken.jti)
    )
    if redeemed is None:
        await revoke_tokens(session=session, user_id=user.id)
        await session.commit()
        await mirrored(session)
        raise Unauthorized(
            "Refresh token already used: every token of this account is revoked",
            code="refresh_token_reused",
        )
    expired = (
        select(UsedRefreshToken.jti)
        .where(UsedRefreshToken.expires_at < func.now())
        .limit(_PURGE_CHUNK)
    )
    await session.execute(delete(UsedRefreshToken).where(UsedRefreshToken.jti.in_(expired)))
    await session.commit()
    return user
