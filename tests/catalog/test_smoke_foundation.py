"""Foundation smoke test: register, log in, read /me, upload, view, download."""

import httpx

from shared.enums import Role


async def test_register_login_and_read_me(client: httpx.AsyncClient) -> None:
    body = {
        "email": "Awa@Univ.example",
        "password": "long-password",
        "full_name": "Awa",
        "niveau": "L2",
        "filiere": "MATH",
    }
    created = await client.post("/v1/auth/register", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "awa@univ.example"
    token = await client.post(
        "/v1/auth/token", data={"username": "awa@univ.example", "password": "long-password"}
    )
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    me = await client.get("/v1/users/me", headers={"Authorization": f"Bearer {access}"})
    assert me.json()["role"] == "student"


async def test_factories_and_download(client, make_user, make_epreuve, pdf_bytes) -> None:
    teacher, _ = await make_user(Role.TEACHER, niveau=None)
    epreuve = await make_epreuve(teacher=teacher)
    _, headers = await make_user()
    read = await client.get(f"/v1/epreuves/{epreuve.id}", headers=headers)
    assert read.status_code == 200, read.text
    assert read.json()["views"] == 1
    got = await client.get(f"/v1/epreuves/{epreuve.id}/file", headers=headers)
    assert got.status_code == 200, got.text
    assert got.content == pdf_bytes
    metrics = await client.get("/metrics")
    assert 'route="/v1/epreuves/{epreuve_id}/file"' in metrics.text
