"""python -m catalog_service create-user | migrate, run as real processes."""

import asyncio
import os
import sys

from sqlalchemy import select

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
