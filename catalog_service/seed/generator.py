"""A reproducible demo set of the reference system's size, with structure a recommender can learn.

Everything is drawn from one `random.Random(seed)`, so the same seed and scale give the same set,
value for value. The planted structure:
- students mostly work on papers of their filière and niveau (a little on neighbouring niveaux
  and other filières), so a collaborative model finds the communities;
- a Zipf-like popularity, correlated with a latent quality per paper;
- ratings follow that quality (relevance) and the niveau (difficulty);
- activity is long-tailed (log-normal per student);
- times follow an academic year, September to June, with peaks at the exam sessions.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from catalog_service.seed import sampling
from catalog_service.seed.vocabulary import (
    FILIERE_WEIGHTS,
    FIRST_NAMES,
    LAST_NAMES,
    MATIERES,
    NIVEAU_WEIGHTS,
    TYPE_LABELS,
    TYPE_WEIGHTS,
)
from shared.enums import EpreuveType, Filiere, InteractionKind, Niveau, Role

DEMO_DOMAIN = "demo.imsp.fr"
# Every generated account shares this password; it is printed by the seed and in the README.
DEMO_PASSWORD = "demo-imsp-2025"  # noqa: S105 (public demo credential, by design)
ADMIN_EMAIL = f"admin@{DEMO_DOMAIN}"
TEACHER_EMAIL = f"prof@{DEMO_DOMAIN}"
ACADEMIC_YEAR_START = 2024  # interactions fall between 1 Sept 2024 and 30 June 2025


@dataclass(frozen=True)
class Counts:
    users: int
    epreuves: int
    interactions: int
    evaluations: int
    comments: int

    @classmethod
    def at_scale(cls, scale: float) -> Counts:
        """The reference counts times `scale`, never below what the demo accounts need.

        Below scale ~0.15 the evaluations may be fewer than asked: one per distinct
        (student, paper) pair at most.
        """
        if scale <= 0:
            raise ValueError("scale must be positive")
        cells = len(Filiere) * len(Niveau)
        return cls(
            users=max(round(200 * scale), cells + 10),
            epreuves=max(round(150 * scale), 3 * cells),
            interactions=max(round(15_000 * scale), 300),
            evaluations=max(round(1_470 * scale), 20),
            comments=max(round(750 * scale), 10),
        )


REFERENCE_COUNTS = Counts.at_scale(1.0)


@dataclass(frozen=True)
class SeedUser:
    key: int
    email: str
    full_name: str
    role: Role
    niveau: Niveau | None
    filiere: Filiere | None
    demo: bool  # a named demo account listed in the README
    activity: float


@dataclass(frozen=True)
class SeedEpreuve:
    key: int
    title: str
    matiere: str
    filiere: Filiere
    niveau: Niveau
    type: EpreuveType
    annee: int
    description: str
    teacher_key: int
    quality: float  # latent: drives popularity and relevance ratings
    difficulty: float  # latent: drives difficulty ratings
    exercises: tuple[str, ...]


@dataclass(frozen=True)
class SeedInteraction:
    user_key: int
    epreuve_key: int
    kind: InteractionKind
    at: datetime
    relevance: int | None = None  # RATE only


@dataclass(frozen=True)
class SeedEvaluation:
    user_key: int
    epreuve_key: int
    difficulty: int
    relevance: int
    at: datetime


@dataclass(frozen=True)
class SeedComment:
    user_key: int
    epreuve_key: int
    content: str
    at: datetime


@dataclass(frozen=True)
class DemoSet:
    seed: int
    users: tuple[SeedUser, ...]
    epreuves: tuple[SeedEpreuve, ...]
    # Chronological; the RATE interactions are those of the evaluations.
    interactions: tuple[SeedInteraction, ...]
    evaluations: tuple[SeedEvaluation, ...]
    comments: tuple[SeedComment, ...]

    @property
    def demo_accounts(self) -> tuple[SeedUser, ...]:
        return tuple(u for u in self.users if u.demo)


def student_email(filiere: Filiere, niveau: Niveau) -> str:
    return f"etudiant.{filiere.lower()}.{niveau.lower()}@{DEMO_DOMAIN}"


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return folded.lower().replace(" ", "-")


def _with_article(label: str, matiere: str) -> str:
    elided = unicodedata.normalize("NFKD", matiere)[0].lower() in "aeiouyh"
    return f"{label} d'{matiere}" if elided else f"{label} de {matiere}"


def _users(rng: random.Random, counts: Counts) -> list[SeedUser]:
    users = [
        SeedUser(0, ADMIN_EMAIL, "Administrateur Démo", Role.ADMIN, None, None, True, 0.0),
        SeedUser(1, TEACHER_EMAIL, "Professeur Démo", Role.TEACHER, None, Filiere.MATH, True, 0.0),
    ]
    emails = {ADMIN_EMAIL, TEACHER_EMAIL}

    def person(domain: str) -> tuple[str, str]:
        while True:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{_ascii(first)}.{_ascii(last)}@{domain}"
            suffix = 2
            while email in emails:
                email, suffix = f"{_ascii(first)}.{_ascii(last)}{suffix}@{domain}", suffix + 1
            emails.add(email)
            return f"{first} {last}", email

    filieres = list(Filiere)
    for i in range(max(2, round(counts.users * 0.05)) - 1):
        name, email = person("imsp.fr")
        filiere = filieres[(i + 1) % len(filieres)]
        users.append(SeedUser(len(users), email, name, Role.TEACHER, None, filiere, False, 0.0))
    for filiere in Filiere:
        for niveau in Niveau:
            name = f"Étudiant démo {filiere} {niveau}"
            email = student_email(filiere, niveau)
            activity = max(rng.lognormvariate(0.0, 1.0), 1.0)  # enough history to personalise
            users.append(
                SeedUser(len(users), email, name, Role.STUDENT, niveau, filiere, True, activity)
            )
    while len(users) < counts.users:
        name, email = person("etu.imsp.fr")
        niveau = sampling.weighted(rng, NIVEAU_WEIGHTS)
        filiere = sampling.weighted(rng, FILIERE_WEIGHTS)
        activity = rng.lognormvariate(0.0, 1.0)
        users.append(
            SeedUser(len(users), email, name, Role.STUDENT, niveau, filiere, False, activity)
        )
    return users


def _epreuves(rng: random.Random, counts: Counts, users: list[SeedUser]) -> list[SeedEpreuve]:
    cells = [(f, n) for f in Filiere for n in Niveau]
    # Every cell gets papers; the rest follows the students (blended with uniform).
    weights = {
        c: 0.5 / len(cells) + 0.5 * FILIERE_WEIGHTS[c[0]] * NIVEAU_WEIGHTS[c[1]] for c in cells
    }
    chosen = cells + [sampling.weighted(rng, weights) for _ in range(counts.epreuves - len(cells))]
    teachers = {
        f: [u.key for u in users if u.role == Role.TEACHER and u.filiere == f] for f in Filiere
    }
    titles: set[str] = set()
    epreuves: list[SeedEpreuve] = []
    for filiere, niveau in chosen:
        matiere = rng.choice(MATIERES[filiere][niveau])
        kind = sampling.weighted(rng, TYPE_WEIGHTS)
        annee = rng.randint(2016, 2024)
        label = f"TD {rng.randint(1, 8)}" if kind == EpreuveType.TD else TYPE_LABELS[kind]
        title = f"{_with_article(label, matiere)} ({annee}-{annee + 1})"
        for variant in "BCDEFGH":
            if title not in titles:
                break
            title = f"{_with_article(label, matiere)} ({annee}-{annee + 1}, sujet {variant})"
        titles.add(title)
        description = (
            f"{TYPE_LABELS[kind]} de l'année {annee}-{annee + 1}, {niveau} {filiere}. "
            f"Durée : {rng.choice(('1 h 30', '2 h', '3 h'))}, documents non autorisés."
        )
        epreuves.append(
            SeedEpreuve(
                key=len(epreuves), title=title, matiere=matiere, filiere=filiere, niveau=niveau,
                type=kind, annee=annee, description=description,
                teacher_key=rng.choice(teachers[filiere] or [1]),
                quality=rng.gauss(0.0, 1.0), difficulty=rng.gauss(0.0, 0.6),
                exercises=sampling.exercises(rng, filiere),
            )
        )  # fmt: skip
    return epreuves


def _affinity(user: SeedUser, paper: SeedEpreuve) -> float:
    steps = abs(list(Niveau).index(user.niveau) - list(Niveau).index(paper.niveau))  # type: ignore[arg-type]
    if paper.filiere == user.filiere:
        return (1.0, 0.12, 0.03, 0.01, 0.01)[steps]
    return 0.03 if steps == 0 else 0.004


def _interactions(
    rng: random.Random, counts: Counts, users: list[SeedUser], papers: list[SeedEpreuve]
) -> list[SeedInteraction]:
    students = [u for u in users if u.role == Role.STUDENT]
    total = counts.interactions - counts.evaluations  # the RATE ones come with the evaluations
    floors = [25 if u.demo else 3 for u in students]
    quotas = sampling.apportion(total, [u.activity for u in students], floors)
    # Zipf-like popularity: rank papers by quality plus noise; the shift keeps the head from
    # swallowing whole communities.
    order = sorted(papers, key=lambda p: -(p.quality + rng.gauss(0.0, 0.8)))
    popularity = {p.key: (rank + 3.0) ** -1.1 for rank, p in enumerate(order)}
    events: list[SeedInteraction] = []
    for user, quota in zip(students, quotas, strict=True):
        weights = [_affinity(user, p) * popularity[p.key] for p in papers]
        cumulative = list(_accumulate(weights))
        produced = 0
        while produced < quota:
            paper = rng.choices(papers, cum_weights=cumulative)[0]
            start = sampling.academic_time(rng, ACADEMIC_YEAR_START)
            session = [(InteractionKind.VIEW, start + timedelta(seconds=rng.randint(5, 90)))]
            if rng.random() < 0.35:
                session.insert(0, (InteractionKind.CLICK, start))
            if rng.random() < 0.3 + 0.1 * max(min(paper.quality, 2.0), -2.0):
                session.append(
                    (InteractionKind.DOWNLOAD, start + timedelta(minutes=rng.randint(1, 20)))
                )
            for kind, at in session[: quota - produced]:
                events.append(SeedInteraction(user.key, paper.key, kind, at))
            produced += min(len(session), quota - produced)
    return events


def _accumulate(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for v in values:
        total += v
        out.append(total)
    return out


def _evaluations(
    rng: random.Random,
    counts: Counts,
    users: list[SeedUser],
    papers: list[SeedEpreuve],
    events: list[SeedInteraction],
) -> list[SeedEvaluation]:
    last_seen: dict[tuple[int, int], datetime] = {}
    downloaded: set[tuple[int, int]] = set()
    for e in events:
        pair = (e.user_key, e.epreuve_key)
        last_seen[pair] = max(last_seen.get(pair, e.at), e.at)
        if e.kind == InteractionKind.DOWNLOAD:
            downloaded.add(pair)
    pairs = sorted(last_seen)
    # Students mostly rate what they downloaded.
    # At tiny scales there may be fewer distinct pairs than ratings asked for.
    wanted = min(counts.evaluations, len(pairs))
    picked = sampling.weighted_sample(
        rng, pairs, [3.0 if p in downloaded else 1.0 for p in pairs], wanted
    )
    end = datetime(ACADEMIC_YEAR_START + 1, 6, 30, 23, 0, tzinfo=UTC)
    evaluations = []
    for user_key, paper_key in sorted(picked):
        user, paper = users[user_key], papers[paper_key]
        fit = 0.4 if (user.filiere, user.niveau) == (paper.filiere, paper.niveau) else -0.4
        relevance = round(3.0 + 0.9 * paper.quality + fit + rng.gauss(0.0, 0.6))
        level = list(Niveau).index(paper.niveau)
        difficulty = round(2.2 + 0.35 * level + paper.difficulty + rng.gauss(0.0, 0.5))
        at = min(last_seen[(user_key, paper_key)] + timedelta(minutes=rng.randint(10, 4000)), end)
        evaluations.append(
            SeedEvaluation(user_key, paper_key, _clamp(difficulty), _clamp(relevance), at)
        )
    return evaluations


def _clamp(score: int) -> int:
    return max(1, min(5, score))


def _comments(
    rng: random.Random, counts: Counts, papers: list[SeedEpreuve], events: list[SeedInteraction]
) -> list[SeedComment]:
    # Drawn from the interactions themselves: popular papers collect more comments.
    comments = []
    for _ in range(counts.comments):
        event = rng.choice(events)
        paper = papers[event.epreuve_key]
        at = event.at + timedelta(minutes=rng.randint(1, 2880))
        content = sampling.comment(rng, paper.quality)
        comments.append(SeedComment(event.user_key, paper.key, content, at))
    return sorted(comments, key=lambda c: (c.at, c.user_key, c.epreuve_key))


def generate(seed: int = 42, scale: float = 1.0) -> DemoSet:
    """The demo set for `seed` at `scale` (1.0 = the reference counts)."""
    counts = Counts.at_scale(scale)
    rng = random.Random(seed)
    users = _users(rng, counts)
    papers = _epreuves(rng, counts, users)
    events = _interactions(rng, counts, users, papers)
    evaluations = _evaluations(rng, counts, users, papers, events)
    rates = [
        SeedInteraction(e.user_key, e.epreuve_key, InteractionKind.RATE, e.at, e.relevance)
        for e in evaluations
    ]
    interactions = sorted([*events, *rates], key=lambda i: (i.at, i.user_key, i.epreuve_key))
    comments = _comments(rng, counts, papers, events)
    return DemoSet(
        seed, tuple(users), tuple(papers), tuple(interactions), tuple(evaluations), tuple(comments)
    )
