"""Enumerations, sent over the wire as their codes ("L2", "MATH", "PARTIEL", "student")."""

from enum import StrEnum


class Niveau(StrEnum):
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    M1 = "M1"
    M2 = "M2"


class Filiere(StrEnum):
    MATH = "MATH"
    INFO = "INFO"
    PHYSIQUE = "PHYSIQUE"
    CHIMIE = "CHIMIE"


class EpreuveType(StrEnum):
    PARTIEL = "PARTIEL"
    EXAMEN = "EXAMEN"
    TD = "TD"
    CC = "CC"
    RATTRAPAGE = "RATTRAPAGE"


class InteractionKind(StrEnum):
    VIEW = "VIEW"
    DOWNLOAD = "DOWNLOAD"
    CLICK = "CLICK"
    RATE = "RATE"


class Role(StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"
    ADMIN = "admin"


class Surface(StrEnum):
    """Where a recommendation list was shown."""

    RECOMMENDATIONS = "recommendations"  # GET /v1/users/me/recommendations
    SIMILAR = "similar"  # GET /v1/epreuves/{id}/similar


class Arm(StrEnum):
    """An A/B test's arms: the active version, or the candidate served to a share of users."""

    CONTROL = "control"
    CANDIDATE = "candidate"
