"""What users did: Comments (moderated: delete, one or many, through `comments.service`),
Evaluations and Interactions (read-only). Filters by user, épreuve, kind and date take ids and
dates rather than listing every account, so they stay usable on a large catalogue."""

from typing import Any, ClassVar

from markupsafe import Markup
from sqladmin.filters import OperationColumnFilter
from starlette.requests import Request

from catalog_service.admin.auth import current_user
from catalog_service.admin.views.base import CatalogView, row_id
from catalog_service.admin.views.fields import codes_filter
from catalog_service.comments import service as comments
from catalog_service.comments.models import Comment
from catalog_service.evaluations.models import Evaluation
from catalog_service.interactions.models import Interaction
from shared.enums import InteractionKind


def _link(identity: str, column: str) -> Any:
    def formatter(model: Any, _attribute: str, request: Request) -> Markup:
        value = getattr(model, column)
        url = request.url_for("admin:details", identity=identity, pk=str(value))
        return Markup('<a href="{}">{}</a>').format(url, value)

    return formatter


_USER = _link("user", "user_id")
_EPREUVE = _link("epreuve", "epreuve_id")


class _ReadOnly(CatalogView):
    can_create = False
    can_edit = False
    can_delete = False
    column_default_sort: ClassVar[Any] = [("created_at", True), ("id", True)]


class CommentAdmin(_ReadOnly, model=Comment):
    identity = "comment"
    name = "Comment"
    name_plural = "Comments"
    icon = "fa-solid fa-comments"
    can_delete = True  # moderation: sqladmin's delete (one or a selection) calls remove()

    column_list: ClassVar[Any] = [
        Comment.id, Comment.epreuve_id, Comment.author_id, Comment.content, Comment.created_at,
    ]  # fmt: skip
    column_labels: ClassVar[Any] = {
        "id": "#", "epreuve_id": "Épreuve", "author_id": "Author", "content": "Comment",
        "created_at": "Posted",
    }  # fmt: skip
    column_formatters: ClassVar[Any] = {
        Comment.epreuve_id: _EPREUVE,
        Comment.author_id: _link("user", "author_id"),
    }
    column_formatters_detail = column_formatters
    column_searchable_list: ClassVar[Any] = [Comment.content]
    column_sortable_list: ClassVar[Any] = [Comment.id, Comment.created_at]
    column_filters: ClassVar[Any] = [
        OperationColumnFilter(Comment.epreuve_id, title="Épreuve id"),
        OperationColumnFilter(Comment.author_id, title="Author id"),
        OperationColumnFilter(Comment.created_at, title="Date"),
    ]

    async def delete_model(self, request: Request, pk: Any) -> None:
        async with self.catalog.session() as session:
            comment = await comments.get_editable(
                session=session, user=current_user(request), comment_id=row_id(str(pk))
            )
            await comments.remove(session=session, comment=comment)


class EvaluationAdmin(_ReadOnly, model=Evaluation):
    identity = "evaluation"
    name = "Evaluation"
    name_plural = "Evaluations"
    icon = "fa-solid fa-star-half-stroke"

    column_list: ClassVar[Any] = [
        Evaluation.id, Evaluation.user_id, Evaluation.epreuve_id, Evaluation.difficulty,
        Evaluation.relevance, Evaluation.created_at, Evaluation.updated_at,
    ]  # fmt: skip
    column_labels: ClassVar[Any] = {
        "id": "#", "user_id": "User", "epreuve_id": "Épreuve", "difficulty": "Difficulty",
        "relevance": "Relevance", "created_at": "Rated", "updated_at": "Updated",
    }  # fmt: skip
    column_formatters: ClassVar[Any] = {Evaluation.user_id: _USER, Evaluation.epreuve_id: _EPREUVE}
    column_formatters_detail = column_formatters
    column_sortable_list: ClassVar[Any] = [
        Evaluation.id, Evaluation.difficulty, Evaluation.relevance, Evaluation.created_at,
    ]  # fmt: skip
    column_filters: ClassVar[Any] = [
        OperationColumnFilter(Evaluation.user_id, title="User id"),
        OperationColumnFilter(Evaluation.epreuve_id, title="Épreuve id"),
        OperationColumnFilter(Evaluation.created_at, title="Date"),
    ]


class InteractionAdmin(_ReadOnly, model=Interaction):
    identity = "interaction"
    name = "Interaction"
    name_plural = "Interactions"
    icon = "fa-solid fa-arrow-pointer"

    column_list: ClassVar[Any] = [
        Interaction.id, Interaction.user_id, Interaction.epreuve_id, Interaction.kind,
        Interaction.relevance, Interaction.created_at,
    ]  # fmt: skip
    column_details_list: ClassVar[Any] = [*column_list, Interaction.meta]
    column_labels: ClassVar[Any] = {
        "id": "#", "user_id": "User", "epreuve_id": "Épreuve", "kind": "Kind",
        "relevance": "Relevance", "created_at": "At", "meta": "Metadata",
    }  # fmt: skip
    column_formatters: ClassVar[Any] = {
        Interaction.user_id: _USER,
        Interaction.epreuve_id: _EPREUVE,
    }
    column_formatters_detail = column_formatters
    column_sortable_list: ClassVar[Any] = [Interaction.id, Interaction.created_at]
    column_filters: ClassVar[Any] = [
        OperationColumnFilter(Interaction.user_id, title="User id"),
        OperationColumnFilter(Interaction.epreuve_id, title="Épreuve id"),
        codes_filter(Interaction.kind, InteractionKind, "Kind"),
        OperationColumnFilter(Interaction.created_at, title="Date"),
    ]
