"""One-page PDFs of the demo épreuves, drawn with matplotlib's PDF backend.

Deterministic: the same épreuve gives the same bytes (no creation date in the metadata), so a
seeded run stores identical files. The Figure is built without pyplot, so no global state.
"""

from __future__ import annotations

import io
import textwrap

from matplotlib.backends.backend_pdf import FigureCanvasPdf
from matplotlib.figure import Figure

from catalog_service.seed.generator import SeedEpreuve
from catalog_service.seed.vocabulary import TYPE_LABELS

A4_INCHES = (8.27, 11.69)
# Marks out of 20 for papers of 3 or 4 exercises.
POINTS = {3: (6, 7, 7), 4: (4, 5, 5, 6)}
INSTITUTE = "Institut de Mathématiques et de Sciences Physiques"


def _escape(text: str) -> str:
    """Plain text for matplotlib: `$` starts mathtext, so literal text keeps none."""
    return text.replace("$", r"\$")


def render(epreuve: SeedEpreuve) -> bytes:
    figure = Figure(figsize=A4_INCHES)
    FigureCanvasPdf(figure)
    text = figure.text
    text(0.08, 0.95, INSTITUTE, fontsize=10, style="italic")
    text(0.92, 0.95, f"Année universitaire {epreuve.annee}-{epreuve.annee + 1}", fontsize=10,
         ha="right")  # fmt: skip
    # textwrap rather than matplotlib's wrap=True, which measures every word and is ~10x slower.
    title = "\n".join(textwrap.wrap(_escape(epreuve.title), 60))
    text(0.5, 0.89, title, fontsize=15, weight="bold", ha="center", va="center")
    details = (
        f"{TYPE_LABELS[epreuve.type]} · {_escape(epreuve.matiere)} · "
        f"{epreuve.niveau} {epreuve.filiere}"
    )
    text(0.5, 0.855, details, fontsize=11, ha="center")
    text(0.08, 0.81, "\n".join(textwrap.wrap(_escape(epreuve.description), 100)), fontsize=9)
    y = 0.74
    points = POINTS[len(epreuve.exercises)]
    for number, statement in enumerate(epreuve.exercises, start=1):
        text(
            0.08, y, f"Exercice {number} ({points[number - 1]} points)", fontsize=11, weight="bold"
        )
        # Statements may hold mathtext ($…$) on purpose.
        text(0.10, y - 0.03, statement, fontsize=10)
        y -= 0.09
    text(0.5, 0.05, "Le barème est donné à titre indicatif.", fontsize=8, ha="center")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="pdf", metadata={"CreationDate": None, "Creator": INSTITUTE})
    return buffer.getvalue()
