"""The Recommender page: the active version, every version with its metrics beside
popularity's, a run's per-epoch curve, runs in progress or failed, *Train now* and *Activate
this version*; the running A/B experiment with its arms' online metrics, *Stop* and *Promote*,
or a form to start one. Only through the recommender's HTTP API (`admin_recommender.service`, as the
JSON proxies): when the recommender is away, the page says so and the console goes on."""

from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar, get_args

from pydantic import ValidationError
from sqladmin import expose
from sqladmin.flash import Flash
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from catalog_service.admin import charts
from catalog_service.admin.pages import CatalogPage, svg
from catalog_service.admin_recommender import service as registry
from catalog_service.admin_recommender.schemas import ExperimentReport, ModelVersion
from catalog_service.admin_recommender.service import RecommenderAnswered
from catalog_service.errors import DomainError, Unavailable
from catalog_service.stats import online
from shared.experiments import ExperimentCreate
from shared.model_metrics import split_metrics
from shared.training import ModelName, TrainRequest

T = TypeVar("T")
VERSIONS_SHOWN = 50
# The metrics of the versions table, each beside popularity's on the same split.
HEADLINE = ("hr@10", "ndcg@10")
MODELS = get_args(ModelName)
# The recommender's registry activates a version that is ready, or archived (a roll back).
ACTIVATABLE = ("ready", "archived")


def _row(version: ModelVersion) -> dict[str, Any]:
    model, popularity = split_metrics(version.metrics)
    return {"version": version, "model": model, "popularity": popularity}


def _experiment_request(form: Any) -> ExperimentCreate:
    """The form's text as the JSON numbers the API takes (see `_train_request`)."""
    values: dict[str, Any] = {}
    version, traffic = str(form.get("candidate_version", "")), str(form.get("traffic", ""))
    values["candidate_version"] = int(version) if version.isdecimal() else version
    try:
        values["traffic"] = float(traffic)
    except ValueError:
        values["traffic"] = traffic
    return ExperimentCreate.model_validate(values)


def _train_request(form: Any) -> TrainRequest:
    """A form sends text: its number field becomes the JSON integer the API takes (the
    request's strict ints refuse strings, so that `"12"` never passes as 12 in JSON)."""
    values: dict[str, Any] = {k: form.get(k) for k in ("model", "epochs") if form.get(k)}
    if str(values.get("epochs", "")).isdecimal():
        values["epochs"] = int(values["epochs"])
    return TrainRequest.model_validate(values)


class RecommenderPage(CatalogPage):
    name = "Recommender"
    icon = "fa-solid fa-brain"

    @expose("/recommender", methods=["GET"], identity="recommender")
    async def page(self, request: Request) -> Response:
        client = self.catalog.recommender
        context: dict[str, Any] = {
            "title": self.name, "models": MODELS, "headline": HEADLINE, "activatable": ACTIVATABLE,
        }  # fmt: skip
        try:
            status = await registry.active_model(client=client)
            page = await registry.list_models(client=client, limit=VERSIONS_SHOWN, offset=0)
            experiment = await self._experiment()
        except Unavailable as exc:
            context["unavailable"] = exc.message
        else:
            metrics, popularity = split_metrics(status.active.metrics if status.active else {})
            context.update(
                status=status,
                active_metrics=[(k, v, popularity.get(k)) for k, v in sorted(metrics.items())],
                rows=[_row(v) for v in page.items],
                total=page.total,
                failed=[v for v in page.items if v.status == "failed"],
                curve=request.query_params.get("curve")
                or (str(status.active.id) if status.active else None),
                experiment=experiment,
                candidates=[v for v in page.items if v.status in ACTIVATABLE],
            )
        return await self.templates.TemplateResponse(request, "console/recommender.html", context)

    @expose("/recommender/train", methods=["POST"], identity="recommender-train")
    async def train(self, request: Request) -> Response:
        try:
            body = _train_request(await request.form())
        except ValidationError as exc:
            Flash.error(request, f"Not a valid training request: {exc.errors()[0]['msg']}")
            return self._back(request)
        accepted = await self._told(
            request, registry.train(client=self.catalog.recommender, request=body)
        )
        if accepted is not None:
            Flash.success(request, f"Training run {accepted.run_id} started")
        return self._back(request)

    @expose("/recommender/activate/{version_id:int}", methods=["POST"], identity="recommender-on")
    async def activate(self, request: Request) -> Response:
        version_id = request.path_params["version_id"]
        call = registry.activate(client=self.catalog.recommender, version_id=version_id)
        if await self._told(request, call) is not None:
            Flash.success(request, f"Version {version_id} is now the active one")
        return self._back(request)

    async def _experiment(self) -> ExperimentReport | None:
        """The running experiment with its arms' metrics so far; None when none runs."""
        try:
            running = await registry.current_experiment(client=self.catalog.recommender)
        except RecommenderAnswered as exc:
            if exc.status_code == 404:
                return None
            raise
        window = timedelta(minutes=self.catalog.settings.attribution_window_minutes)
        async with self.catalog.session() as session:
            metrics = await online.experiment_metrics(
                session=session, experiment_id=running.id, since=running.created_at, window=window
            )
        return ExperimentReport(**running.model_dump(), online=metrics)

    @expose("/recommender/experiment", methods=["POST"], identity="recommender-ab")
    async def start_experiment(self, request: Request) -> Response:
        try:
            body = _experiment_request(await request.form())
        except ValidationError as exc:
            error = exc.errors()[0]
            Flash.error(request, f"Not a valid experiment: {error['loc'][-1]}: {error['msg']}")
            return self._back(request)
        call = registry.start_experiment(client=self.catalog.recommender, data=body)
        started = await self._told(request, call)
        if started is not None:
            what = f"version {started.candidate_version} for {started.traffic:.0%} of the users"
            Flash.success(request, f"Experiment {started.id} started: {what}")
        return self._back(request)

    @expose("/recommender/experiment/stop", methods=["POST"], identity="recommender-ab-stop")
    async def stop_experiment(self, request: Request) -> Response:
        stopped = await self._told(
            request, registry.stop_experiment(client=self.catalog.recommender)
        )
        if stopped is not None:
            Flash.success(request, f"Experiment {stopped.id} stopped")
        return self._back(request)

    @expose("/recommender/experiment/promote", methods=["POST"], identity="recommender-ab-up")
    async def promote_experiment(self, request: Request) -> Response:
        call = registry.promote_experiment(client=self.catalog.recommender)
        promoted = await self._told(request, call)
        if promoted is not None:
            Flash.success(request, f"Version {promoted.candidate_version} is now the active one")
        return self._back(request)

    async def _told(self, request: Request, call: Awaitable[T]) -> T | None:
        """The recommender's answer, or None with its refusal (or absence) flashed."""
        try:
            return await call
        except DomainError as exc:
            Flash.error(request, exc.message)
            return None

    @expose("/recommender/curve/{version_id:int}.svg", methods=["GET"], identity="recommender-c")
    async def curve(self, request: Request) -> Response:
        version_id = request.path_params["version_id"]
        epochs = await registry.epochs(client=self.catalog.recommender, version_id=version_id)
        return await svg(charts.training_curve, epochs)

    def _back(self, request: Request) -> Response:
        # 303: the browser follows a POST's answer with a GET.
        return RedirectResponse(request.url_for("admin:view-recommender"), status_code=303)
