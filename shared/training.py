"""The training request, as the recommender accepts it and the catalog relays it (declared
once: the catalog's 422 is the recommender's, with the field named)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from shared.strict import IntOnly

# A model family, or `auto`: the best candidate on a validation split, never the test items.
# `neumf_features` adds the users' and papers' metadata (niveau, filière, matière…), so that a
# paper or a student the model never saw is ranked from its metadata.
ModelName = Literal["neumf", "neumf_features", "gmf", "mlp", "mf", "ease", "ials", "auto"]


class TrainRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model": "neumf", "epochs": 20}]},
    )

    model: ModelName | None = None
    epochs: Annotated[int, Field(ge=1, le=500), IntOnly] | None = None
    batch_size: Annotated[int, Field(ge=8, le=65536), IntOnly] | None = None
    lr: Annotated[StrictFloat, Field(gt=0, le=1)] | None = None
    embedding_dim: Annotated[int, Field(ge=2, le=512), IntOnly] | None = None
    seed: Annotated[int, Field(ge=0, le=2**32 - 1), IntOnly] | None = None
