"""Ratings of an épreuve: the caller's own (PUT, GET) and everyone's aggregates (GET)."""

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from catalog_service.auth.dependencies import CurrentUser
from catalog_service.dependencies import SessionDep
from catalog_service.epreuves.dependencies import EpreuveDep
from catalog_service.evaluations import service
from catalog_service.evaluations.schemas import EvaluationRead, EvaluationSummary, EvaluationWrite
from catalog_service.recommendations.dependencies import AnswersDep
from shared.http_errors import error_responses

router = APIRouter(
    prefix="/v1/epreuves/{epreuve_id}",
    tags=["evaluations"],
    responses=error_responses(400, 401, 404, 422, 503),
)

EpreuveId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.put(
    "/evaluation",
    name="put_evaluation",
    responses={201: {"model": EvaluationRead, "description": "First rating of this épreuve"}},
)
async def put_evaluation(
    epreuve_id: EpreuveId,
    data: EvaluationWrite,
    user: CurrentUser,
    session: SessionDep,
    answers: AnswersDep,
    response: Response,
) -> EvaluationRead:
    """Rates the épreuve (difficulty and relevance, 1 to 5); rating again replaces the rating.

    201 the first time, 200 afterwards; the body includes the épreuve's new averages.
    """
    evaluation, created = await service.upsert(
        session=session, user=user, epreuve_id=epreuve_id, data=data
    )
    # A RATE interaction: their recommendations change, and the épreuve's averages.
    await answers.forget(users=[user.id], rated=[epreuve_id])
    if created:
        response.status_code = status.HTTP_201_CREATED
    return evaluation


@router.get("/evaluation", name="get_own_evaluation")
async def get_own_evaluation(
    epreuve: EpreuveDep, user: CurrentUser, session: SessionDep
) -> EvaluationRead:
    """The caller's own rating of the épreuve (404 when they have not rated it)."""
    return await service.get_own(session=session, user=user, epreuve_id=epreuve.id)


@router.get("/evaluations", name="evaluation_summary")
async def evaluation_summary(
    epreuve: EpreuveDep, _user: CurrentUser, session: SessionDep
) -> EvaluationSummary:
    """Count, averages and per-score histograms of all ratings; nobody's identity."""
    return await service.summary(session=session, epreuve_id=epreuve.id)
