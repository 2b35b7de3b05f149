"""Schemathesis over both services' OpenAPI specs, on real uvicorn servers, as a student, an
admin and the service credential: no server error, and every answer matches its schema.

Bounded and seeded for `make test` (FUZZ_EXAMPLES cases per operation and generation mode).
The long run of the issue is the same test with more cases and every check:

    FUZZ_EXAMPLES=60 FUZZ_CHECKS=all nice make test PYTEST_ARGS="tests/test_fuzz_openapi.py -s"

It prints, per service and role, the cases sent, the server errors and the schema violations.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import uvicorn
from hypothesis import HealthCheck, Phase
from schemathesis import checks as st_checks
from schemathesis import openapi
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from catalog_service.config import Settings as CatalogSettings
from catalog_service.main import create_app as create_catalog
from recommender_service.main import create_app as create_recommender
from shared.service_auth import SERVICE_KEY_HEADER
from tests.catalog.conftest import JWT_SECRET, PDF_BYTES
from tests.e2e.servers import free_port
from tests.recommender.conftest import SERVICE_KEY, make_settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
ADMIN = ("fuzz-admin@univ.example", "fuzz-admin-password")
STUDENT = ("fuzz-student@univ.example", "fuzz-student-password")
# In `make test`: what the issue asks of every answer. FUZZ_CHECKS=all adds the others
# (negative data rejected, positive data accepted, allowed methods, authentication ignored…).
SUITE_CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]
SERVER_ERROR_CHECKS = {"not_a_server_error"}
SCHEMA_CHECKS = {
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
}


class ThreadServer:
    """uvicorn in a thread with its own event loop: schemathesis calls are blocking."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@dataclass
class Report:
    cases: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def record(self, label: str, exc: BaseException, case: Any, response: Any) -> None:
        for failure in getattr(exc, "exceptions", [exc]):
            name = getattr(failure, "check_name", None) or type(failure).__name__
            self.failures[name] += 1
            sent = f"query={case.query} body={str(case.body)[:160]!r}"
            self.examples.setdefault(
                f"{name} {label}", f"{sent} -> {response.status_code} {response.text[:200]}"
            )

    def count(self, names: set[str]) -> int:
        return sum(n for name, n in self.failures.items() if name in names)


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    *,
    base_url: str,
    headers: dict[str, str],
    checks: list[Callable[..., Any]] | None,
    report: Report,
) -> None:
    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        report.cases += 1
        response = case.call(base_url=base_url, headers=headers)
        try:
            case.validate_response(response, checks=checks)
        except (AssertionError, FailureGroup) as exc:
            report.record(operation.label, exc, case, response)

    # Nothing to make invalid (no parameter, no body): no negative case.
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()


def fuzz(base_url: str, headers: dict[str, str], checks: list[Callable[..., Any]] | None) -> Report:
    """Every operation of the service's spec, valid then invalid inputs, seeded."""
    schema = openapi.from_dict(httpx.get(f"{base_url}/openapi.json", timeout=30).json())
    report = Report()
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(
                result.ok(), mode, base_url=base_url, headers=headers, checks=checks, report=report
            )
    return report


def _token(base_url: str, email: str, password: str) -> dict[str, str]:
    answer = httpx.post(f"{base_url}/v1/auth/token", data={"username": email, "password": password})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _arrange(base_url: str) -> dict[str, dict[str, str]]:
    """A student and an admin, two épreuves, a comment, an interaction: ids 1 and 2 exist."""
    register = {
        "email": STUDENT[0], "password": STUDENT[1], "full_name": "Fuzz Student",
        "niveau": "L2", "filiere": "MATH",
    }  # fmt: skip
    httpx.post(f"{base_url}/v1/auth/register", json=register).raise_for_status()
    admin, student = _token(base_url, *ADMIN), _token(base_url, *STUDENT)
    form = {"title": "Partiel", "matiere": "Analyse", "filiere": "MATH", "niveau": "L2",
            "type": "PARTIEL", "annee": "2024"}  # fmt: skip
    for _ in range(2):
        files = {"file": ("sujet.pdf", PDF_BYTES, "application/pdf")}
        httpx.post(f"{base_url}/v1/epreuves", data=form, files=files, headers=admin)
    httpx.post(f"{base_url}/v1/epreuves/1/comments", json={"content": "ok"}, headers=student)
    httpx.post(
        f"{base_url}/v1/interactions", json={"epreuve_id": 1, "kind": "CLICK"}, headers=student
    )
    return {"student": student, "admin": admin, "service": {SERVICE_KEY_HEADER: SERVICE_KEY}}


@pytest.fixture
def stack(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    recommender_settings = make_settings(database_url, redis_url, tmp_path)
    with ThreadServer(create_recommender(recommender_settings)) as recommender:
        catalog_settings = CatalogSettings(
            database_url=database_url, redis_url=redis_url, jwt_secret=JWT_SECRET,
            service_api_key=SERVICE_KEY, data_dir=tmp_path, upload_dir=tmp_path / "uploads",
            outbox_relay_enabled=False, first_admin_email=ADMIN[0], first_admin_password=ADMIN[1],
            recommender_url=recommender.url, db_pool_size=5,
            auth_rate_limit_account=10_000, auth_rate_limit_ip=10_000,
        )  # fmt: skip
        with ThreadServer(create_catalog(catalog_settings)) as catalog:
            yield {"catalog": catalog.url, "recommender": recommender.url,
                   "headers": _arrange(catalog.url)}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("service", "roles"),
    [("catalog", ("student", "admin", "service")), ("recommender", ("service",))],
)
def test_fuzzed_requests_get_no_server_error_and_answers_match_the_schema(
    stack: dict[str, Any], service: str, roles: tuple[str, ...]
) -> None:
    checks = None if os.environ.get("FUZZ_CHECKS") == "all" else SUITE_CHECKS
    failed: dict[str, str] = {}
    for role in roles:
        report = fuzz(stack[service], stack["headers"][role], checks)
        print(
            f"\n[fuzz] {service} as {role}: {report.cases} cases, "
            f"{report.count(SERVER_ERROR_CHECKS)} server errors, "
            f"{report.count(SCHEMA_CHECKS)} schema violations, all failures {dict(report.failures)}"
        )
        failed |= report.examples
    assert not failed, "\n".join(f"{k}: {v}" for k, v in sorted(failed.items())[:20])
