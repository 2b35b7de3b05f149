"""python -m catalog_service create-user | migrate | outbox-backlog, run as real processes."""

import asyncio
import os
import re
import sys

from fastapi import FastAPI
from sqlalchemy import select

from catalog_service.config import Settings
from catalog_service.outbox.relay import OutboxRelay
from catalog_service.users.models import User
from shared.enums import Role
from tests.catalog.conftest import MakeUser


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


async def test_outbox_backlog_counts_the_events_not_yet_on_the_stream(
    database_url: str, make_user: MakeUser
) -> None:
    await make_user()
    await make_user()  # the relay is off: two user.upserted events wait

    code, output = await _cli(database_url, "outbox-backlog")

    assert code == 0, output
    assert re.fullmatch(r"outbox: 2 events not yet on the stream, oldest \d+ s\n", output), output


async def test_outbox_backlog_wait_fails_when_time_is_up_first(
    database_url: str, make_user: MakeUser
) -> None:
    await make_user()

    code, output = await _cli(database_url, "outbox-backlog", "--wait", "0")

    assert code == 1
    assert "outbox: 1 events not yet on the stream" in output
    assert "after 0 s" in output


async def test_outbox_backlog_wait_ends_once_the_relay_published_everything(
    database_url: str, make_user: MakeUser, app: FastAPI, settings: Settings
) -> None:
    await make_user()
    relay = OutboxRelay(
        engine=app.state.engine, redis=app.state.redis, stream=settings.events_stream
    )
    assert await relay.publish_pending() == 1

    code, output = await _cli(database_url, "outbox-backlog", "--wait", "60")

    assert code == 0, output
    assert output == "outbox: 0 events not yet on the stream\n"
