"""python -m catalog_service create-user | migrate | wait-outbox, run as real processes."""

import asyncio
import os
import sys

import redis.asyncio as aioredis
from sqlalchemy import select

from catalog_service.outbox.relay import OutboxRelay
from catalog_service.users.models import User
from shared.enums import Role


async def _cli(database_url: str, *args: str) -> tuple[int, str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "catalog_service", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


async def test_create_user_creates_a_teacher_once(database_url: str, session) -> None:
    args = ("create-user", "--email", "Prof@Univ.example", "--password", "long-password")
    code, output = await _cli(database_url, *args, "--role", "teacher", "--full-name", "Prof X")
    assert code == 0, output
    assert "created teacher prof@univ.example" in output
    again, output = await _cli(database_url, *args, "--role", "teacher")
    assert again == 1
    assert "already exists" in output
    users = (await session.scalars(select(User))).all()
    assert [(u.email, u.role, u.full_name) for u in users] == [
        ("prof@univ.example", Role.TEACHER, "Prof X")
    ]


async def test_create_user_with_short_password_exits_2(database_url: str) -> None:
    args = ("create-user", "--email", "a@univ.example", "--password", "short", "--role", "admin")
    code, output = await _cli(database_url, *args)
    assert code == 2
    assert "password" in output


async def test_migrate_on_a_migrated_database_is_a_no_op(database_url: str) -> None:
    code, output = await _cli(database_url, "migrate")
    assert code == 0, output


async def test_wait_outbox_waits_for_a_relay_to_publish_the_backlog(
    database_url: str, app, make_user, redis_url: str
) -> None:
    await make_user()  # one user.upserted event, pending: no relay runs in the test app
    code, output = await _cli(database_url, "wait-outbox", "--timeout", "0")
    assert code == 1
    assert "1 events still pending" in output

    waiting = asyncio.create_task(_cli(database_url, "wait-outbox", "--timeout", "60"))
    redis = aioredis.from_url(redis_url)
    relay = OutboxRelay(engine=app.state.engine, redis=redis, stream="test.cli")
    try:
        assert await relay.publish_pending() == 1
        code, output = await waiting
    finally:
        await redis.aclose()
    assert code == 0, output
