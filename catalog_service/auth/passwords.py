"""Password hashing with argon2id (pwdlib), the current OWASP recommendation."""

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from starlette.concurrency import run_in_threadpool

_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the email is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    # argon2 is CPU-bound by design: keep it off the event loop.
    return await run_in_threadpool(_hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    return await run_in_threadpool(_hasher.verify, password, password_hash or _DUMMY_HASH) and (
        password_hash is not None
    )
