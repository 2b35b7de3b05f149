"""JWT handling: only unexpired HS256 tokens of the expected type, signed with our secret."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt

from catalog_service.auth.tokens import TokenSigner, TokenType
from catalog_service.errors import Unauthorized
from tests.catalog.conftest import JWT_SECRET

SIGNER = TokenSigner(secret=JWT_SECRET)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides: object) -> dict[str, object]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, object] = {
        "sub": "7",
        "type": "access",
        "ver": 0,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _refused(token: str, expected: TokenType = TokenType.ACCESS) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        SIGNER.verify(token, expected)
    return caught.value


def test_access_token_round_trip_gives_user_id_and_version() -> None:
    claims = SIGNER.verify(SIGNER.issue(42, TokenType.ACCESS, version=3), TokenType.ACCESS)
    assert (claims.user_id, claims.version) == (42, 3)


def test_token_carries_sub_type_version_id_iat_and_exp() -> None:
    claims = jwt.get_unverified_claims(SIGNER.issue(5, TokenType.REFRESH, version=2))
    assert claims["sub"] == "5"
    assert claims["type"] == "refresh"
    assert claims["ver"] == 2
    assert claims["exp"] - claims["iat"] == int(timedelta(days=7).total_seconds())
    verified = SIGNER.verify(SIGNER.issue(5, TokenType.REFRESH, version=2), TokenType.REFRESH)
    assert verified.expires_at.timestamp() - datetime.now(UTC).timestamp() > 6 * 86400


def test_each_token_has_its_own_id() -> None:
    tokens = [SIGNER.issue(5, TokenType.REFRESH, version=0) for _ in range(3)]
    assert len({SIGNER.verify(t, TokenType.REFRESH).token_id for t in tokens}) == 3


@pytest.mark.parametrize("version", [True, "0", -1, 1.0, None, 2**31])
def test_token_whose_version_is_not_a_small_int_is_refused(version: object) -> None:
    claims = {**_claims(), "ver": version}
    assert _refused(jwt.encode(claims, JWT_SECRET, algorithm="HS256")).code == "invalid_token"


@pytest.mark.parametrize("token_id", ["not-a-uuid", 12, "", None])
def test_refresh_token_whose_id_is_not_a_uuid_is_refused(token_id: object) -> None:
    claims = {**_claims(type="refresh"), "jti": token_id}
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    assert _refused(token, TokenType.REFRESH).code == "invalid_token"


def test_access_tokens_carry_no_id_and_refresh_tokens_do() -> None:
    access = jwt.get_unverified_claims(SIGNER.issue(5, TokenType.ACCESS, version=0))
    refresh = jwt.get_unverified_claims(SIGNER.issue(5, TokenType.REFRESH, version=0))
    assert "jti" not in access
    assert uuid.UUID(hex=refresh["jti"])


def test_expired_token_is_refused_as_expired() -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    assert _refused(SIGNER.issue(1, TokenType.ACCESS, version=0, now=past)).code == "token_expired"


def test_token_with_tampered_payload_is_refused() -> None:
    header, _payload, signature = SIGNER.issue(1, TokenType.ACCESS, version=0).split(".")
    forged = f"{header}.{_b64(_claims(sub='2'))}.{signature}"
    assert _refused(forged).code == "invalid_token"


def test_token_with_tampered_signature_is_refused() -> None:
    token = SIGNER.issue(1, TokenType.ACCESS, version=0)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert _refused(flipped).code == "invalid_token"


def test_token_signed_with_another_secret_is_refused() -> None:
    token = jwt.encode(_claims(), "another-secret-of-some-length!!", algorithm="HS256")
    assert _refused(token).code == "invalid_token"


def test_unsigned_alg_none_token_is_refused() -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}."
    assert _refused(token).code == "invalid_token"


def test_hs512_token_with_our_secret_is_refused() -> None:
    token = jwt.encode(_claims(), JWT_SECRET, algorithm="HS512")
    assert _refused(token).code == "invalid_token"


def test_rs256_token_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token = jwt.encode(_claims(), pem.decode(), algorithm="RS256")
    assert _refused(token).code == "invalid_token"


def test_refresh_token_is_refused_where_access_is_expected() -> None:
    assert _refused(SIGNER.issue(1, TokenType.REFRESH, version=0)).code == "invalid_token"


def test_access_token_is_refused_where_refresh_is_expected() -> None:
    token = SIGNER.issue(1, TokenType.ACCESS, version=0)
    assert _refused(token, TokenType.REFRESH).code == "invalid_token"


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "type", "ver"])
def test_token_without_required_claim_is_refused(missing: str) -> None:
    claims = _claims()
    del claims[missing]
    assert _refused(jwt.encode(claims, JWT_SECRET, algorithm="HS256")).code == "invalid_token"


@pytest.mark.parametrize("subject", ["admin", "0", "9" * 25])
def test_token_with_subject_that_is_no_user_id_is_refused(subject: str) -> None:
    token = jwt.encode(_claims(sub=subject), JWT_SECRET, algorithm="HS256")
    assert _refused(token).code == "invalid_token"


def test_garbage_token_is_refused() -> None:
    assert _refused("not.a.jwt").code == "invalid_token"


async def test_api_refuses_expired_token_with_401(client: httpx.AsyncClient) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    token = SIGNER.issue(1, TokenType.ACCESS, version=0, now=past)
    response = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_api_refuses_refresh_token_as_bearer(client: httpx.AsyncClient, make_user) -> None:
    user, _ = await make_user()
    token = SIGNER.issue(user.id, TokenType.REFRESH, version=0)
    response = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
