"""docker-compose.yml validates and keeps the properties that `--scale recommender=3` needs.

Validation uses Debian's `docker-compose` (v1, a Python program). Its normalised output is
YAML; the interpreter that runs docker-compose ships PyYAML, so that interpreter turns it into
JSON for the structural assertions (our own virtualenv has no YAML parser and needs none).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = shutil.which("docker-compose")
TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
SECRETS = {"POSTGRES_PASSWORD": "pg-test", "SERVICE_API_KEY": "key-test", "JWT_SECRET": "jwt-test"}

requires_compose = pytest.mark.skipif(
    COMPOSE is None,
    reason="docker-compose (Debian's package) is not installed: compose file not validated",
)


def _compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(  # noqa: S603
        [str(COMPOSE), "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"),
         *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip


def _config() -> dict[str, Any]:
    result = _compose("--profile", "demo", "config", env=SECRETS)
    assert result.returncode == 0, result.stderr
    interpreter = Path(str(COMPOSE)).read_text().splitlines()[0].removeprefix("#!").split()
    converted = subprocess.run(  # noqa: S603
        [*interpreter, "-c", TO_JSON],
        input=result.stdout,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )  # fmt: skip
    if converted.returncode != 0:
        pytest.skip(f"docker-compose's interpreter cannot parse YAML: {converted.stderr[-200:]}")
    return json.loads(converted.stdout)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return _config()


@requires_compose
def test_compose_file_validates_with_docker_compose() -> None:
    result = _compose("config", "-q", env=SECRETS)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@requires_compose
@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_compose_refuses_to_start_without_each_secret(secret: str) -> None:
    env = {k: v for k, v in SECRETS.items() if k != secret}
    result = _compose("config", "-q", env=env)
    assert result.returncode != 0
    assert secret in result.stderr


@requires_compose
def test_compose_declares_the_services_and_named_volumes(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {
        "postgres", "redis", "catalog-migrate", "recommender-migrate", "seed", "catalog",
        "recommender",
    }  # fmt: skip
    assert set(config["volumes"]) == {"pgdata", "redisdata", "uploads", "modelruns"}
    assert config["services"]["postgres"]["image"] == "postgres:16-alpine"
    assert config["services"]["redis"]["image"] == "redis:7-alpine"
    assert "--appendonly" in config["services"]["redis"]["command"]


@requires_compose
def test_only_the_catalog_publishes_a_host_port(config: dict[str, Any]) -> None:
    published = {name for name, svc in config["services"].items() if svc.get("ports")}
    assert published == {"catalog"}
    assert config["services"]["catalog"]["ports"][0]["target"] == 8000


@requires_compose
def test_recommender_can_be_scaled_to_several_replicas(config: dict[str, Any]) -> None:
    recommender = config["services"]["recommender"]
    assert "container_name" not in recommender
    assert "ports" not in recommender
    # The catalog reaches every replica through the service name.
    assert config["services"]["catalog"]["environment"]["RECOMMENDER_URL"] == (
        "http://recommender:8001"
    )


@requires_compose
def test_long_running_services_have_healthchecks_and_restart_policies(
    config: dict[str, Any],
) -> None:
    for name in ("postgres", "redis", "catalog", "recommender"):
        service = config["services"][name]
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
    for name in ("catalog", "recommender"):
        assert "/readyz" in " ".join(config["services"][name]["healthcheck"]["test"])


@requires_compose
def test_services_start_after_their_migration_completes(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["catalog"]["depends_on"]["catalog-migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["recommender"]["depends_on"]["recommender-migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["catalog-migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["seed"]["profiles"] == ["demo"]


@requires_compose
def test_secrets_reach_services_only_from_the_environment(config: dict[str, Any]) -> None:
    environment = config["services"]["catalog"]["environment"]
    assert environment["SERVICE_API_KEY"] == SECRETS["SERVICE_API_KEY"]
    assert environment["JWT_SECRET"] == SECRETS["JWT_SECRET"]
    assert (
        config["services"]["recommender"]["environment"]["SERVICE_API_KEY"]
        == (SECRETS["SERVICE_API_KEY"])
    )


@pytest.mark.parametrize("service", ["catalog_service", "recommender_service"])
def test_images_run_as_a_non_root_user(service: str) -> None:
    lines = (ROOT / service / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users == ["app"]
