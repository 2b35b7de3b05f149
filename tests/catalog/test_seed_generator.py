"""The demo generator alone (no database): counts, planted structure, reproducibility, PDFs."""

from __future__ import annotations

import io
import re
import statistics
from collections import Counter
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from catalog_service.seed.generator import (
    ADMIN_EMAIL,
    REFERENCE_COUNTS,
    TEACHER_EMAIL,
    Counts,
    DemoSet,
    generate,
    student_email,
)
from catalog_service.seed.pdf import render
from catalog_service.seed.sampling import apportion
from catalog_service.seed.vocabulary import MATIERES
from shared.enums import EpreuveType, Filiere, InteractionKind, Niveau, Role


@pytest.fixture(scope="module")
def demo() -> DemoSet:
    return generate(seed=42)


def _cell_share(demo: DemoSet, *, same_niveau: bool) -> float:
    users = {u.key: u for u in demo.users}
    papers = {p.key: p for p in demo.epreuves}
    hits = 0
    for i in demo.interactions:
        user, paper = users[i.user_key], papers[i.epreuve_key]
        if user.filiere == paper.filiere and (not same_niveau or user.niveau == paper.niveau):
            hits += 1
    return hits / len(demo.interactions)


def test_full_scale_matches_the_reference_counts(demo: DemoSet) -> None:
    assert Counts(200, 150, 15_000, 1_470, 750) == REFERENCE_COUNTS
    assert len(demo.users) == 200
    assert len(demo.epreuves) == 150
    assert len(demo.interactions) == 15_000
    assert len(demo.evaluations) == 1_470
    assert len(demo.comments) == 750


def test_same_seed_gives_the_same_set_and_another_seed_another(demo: DemoSet) -> None:
    assert generate(seed=42) == demo
    other = generate(seed=7)
    assert other.interactions != demo.interactions
    assert [u.email for u in other.demo_accounts] == [u.email for u in demo.demo_accounts]


def test_reduced_scale_scales_every_count() -> None:
    small = generate(seed=1, scale=0.2)
    assert (len(small.users), len(small.epreuves)) == (40, 60)
    assert (len(small.interactions), len(small.evaluations), len(small.comments)) == (
        3_000,
        294,
        150,
    )


def test_demo_accounts_cover_every_filiere_and_niveau(demo: DemoSet) -> None:
    emails = {u.email: u for u in demo.demo_accounts}
    assert emails[ADMIN_EMAIL].role == Role.ADMIN
    assert emails[TEACHER_EMAIL].role == Role.TEACHER
    for filiere in Filiere:
        for niveau in Niveau:
            student = emails[student_email(filiere, niveau)]
            assert (student.role, student.filiere, student.niveau) == (
                Role.STUDENT,
                filiere,
                niveau,
            )
    assert len(emails) == 22
    assert "etudiant.math.l2@demo.imsp.fr" in emails


def test_emails_are_unique(demo: DemoSet) -> None:
    assert len({u.email for u in demo.users}) == len(demo.users)


def test_every_cell_and_type_has_papers_with_its_own_matieres(demo: DemoSet) -> None:
    cells = Counter((p.filiere, p.niveau) for p in demo.epreuves)
    assert len(cells) == 20
    assert set(Counter(p.type for p in demo.epreuves)) == set(EpreuveType)
    for paper in demo.epreuves:
        assert paper.matiere in MATIERES[paper.filiere][paper.niveau]
        assert 2016 <= paper.annee <= 2024
    assert len({p.title for p in demo.epreuves}) == 150


def test_students_mostly_work_on_their_filiere_and_niveau(demo: DemoSet) -> None:
    assert _cell_share(demo, same_niveau=True) > 0.5
    assert _cell_share(demo, same_niveau=False) > 0.75


def test_only_students_interact(demo: DemoSet) -> None:
    roles = {u.key: u.role for u in demo.users}
    assert {roles[i.user_key] for i in demo.interactions} == {Role.STUDENT}


def test_popularity_is_zipf_like(demo: DemoSet) -> None:
    per_paper = sorted(Counter(i.epreuve_key for i in demo.interactions).values(), reverse=True)
    top_tenth = sum(per_paper[:15]) / sum(per_paper)
    assert top_tenth > 0.3
    assert per_paper[0] > 8 * statistics.median(per_paper)


def test_activity_is_long_tailed(demo: DemoSet) -> None:
    per_user = sorted(Counter(i.user_key for i in demo.interactions).values(), reverse=True)
    top_fifth = sum(per_user[: len(per_user) // 5]) / sum(per_user)
    assert top_fifth > 0.4
    assert per_user[0] > 5 * statistics.median(per_user)


def test_demo_students_have_enough_history_to_personalise(demo: DemoSet) -> None:
    per_user = Counter(i.user_key for i in demo.interactions)
    students = [u for u in demo.demo_accounts if u.role == Role.STUDENT]
    assert min(per_user[u.key] for u in students) >= 25


def test_relevance_follows_the_latent_quality(demo: DemoSet) -> None:
    quality = {p.key: p.quality for p in demo.epreuves}
    relevance = [e.relevance for e in demo.evaluations]
    assert (
        statistics.correlation([quality[e.epreuve_key] for e in demo.evaluations], relevance) > 0.5
    )
    assert set(relevance) == {1, 2, 3, 4, 5}


def test_evaluations_are_one_per_user_and_paper_each_with_its_rate(demo: DemoSet) -> None:
    pairs = [(e.user_key, e.epreuve_key) for e in demo.evaluations]
    assert len(set(pairs)) == len(pairs)
    rates = [i for i in demo.interactions if i.kind == InteractionKind.RATE]
    assert sorted((r.user_key, r.epreuve_key, r.relevance) for r in rates) == sorted(
        (e.user_key, e.epreuve_key, e.relevance) for e in demo.evaluations
    )


def test_users_rate_and_comment_only_papers_they_interacted_with(demo: DemoSet) -> None:
    seen = {
        (i.user_key, i.epreuve_key) for i in demo.interactions if i.kind != InteractionKind.RATE
    }
    assert all((e.user_key, e.epreuve_key) in seen for e in demo.evaluations)
    assert all((c.user_key, c.epreuve_key) in seen for c in demo.comments)


def test_times_span_one_academic_year_in_order(demo: DemoSet) -> None:
    times = [i.at for i in demo.interactions]
    assert times == sorted(times)
    assert times[0] >= datetime(2024, 9, 1, tzinfo=UTC)
    assert times[-1] < datetime(2025, 7, 1, tzinfo=UTC)
    months = Counter(t.month for t in times)
    assert set(months) == {9, 10, 11, 12, 1, 2, 3, 4, 5, 6}
    # Exam sessions are busier than the start of the year.
    assert months[12] > 2 * months[9]


def test_apportion_is_exact_and_respects_floors() -> None:
    assert apportion(10, [1.0, 1.0, 2.0], [1, 1, 1]) == [3, 3, 4]
    assert sum(apportion(13_530, [0.3, 2.5, 7.1, 0.01], [3, 3, 25, 3])) == 13_530
    with pytest.raises(ValueError, match="cannot cover"):
        apportion(2, [1.0, 1.0, 1.0], [1, 1, 1])


def test_pdf_is_a_small_deterministic_one_page_document(demo: DemoSet) -> None:
    pdf = render(demo.epreuves[0])
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1  # what uploads are checked with
    assert len(pdf) < 80_000
    assert render(demo.epreuves[0]) == pdf
    assert render(demo.epreuves[1]) != pdf
