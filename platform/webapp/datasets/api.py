"""Dataset endpoints of the JSON API."""

from datetime import datetime

from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from webapp.datasets.models import Dataset
from webapp.lib.errors import ErrorOut
from webapp.lib.ownership import get_owned_or_404
from webapp.lib.pages import SEARCH, Page, search
from webapp.lib.uploads import FILE_REQUIRED, upload_refusal

router = Router(tags=["datasets"])


class ColumnOut(Schema):
    name: str
    kind: str
    inferred_kind: str
    missing: float
    distinct: int
    count: int
    examples: list
    stats: dict


class CheckOut(Schema):
    id: str = Field(..., description="What was checked: leakage, disguised_missing, "
                    "duplicate_rows, time_drift, identifier, constant...")  # fmt: skip
    status: str = Field(..., description="passed, info, alert (look at it before trusting "
                        "a model) or acted (found, and something was done: `action`)")  # fmt: skip
    title: str
    message: str
    columns: list[str]
    action: str = Field(..., description="What was done about it, or what you can do")
    details: dict = Field(..., description="The numbers behind it: scores, counts, values")


class DatasetOut(Schema):
    id: int
    name: str
    filename: str
    size: int
    status: str
    error: str
    created: datetime
    n_rows: int | None
    n_columns: int | None


class DatasetDetail(DatasetOut):
    dialect: dict | None
    notes: list[str] = Field(..., description="What reading the file changed, such as names "
                             "made up for blank or repeated column names")  # fmt: skip
    columns: list[ColumnOut]
    checks: list[CheckOut] = Field(..., description="What the checks of the table found, "
                                   "alerts first (with the target's once analysed)")  # fmt: skip
    target: str
    keep: list[str] = Field(..., description="Columns used as they are whatever the checks say")
    target_profile: dict | None

    @staticmethod
    def resolve_columns(dataset):
        return dataset.columns()

    @staticmethod
    def resolve_checks(dataset):
        return dataset.checks()


class DatasetFilters(Schema):
    status: Dataset.Status | None = None
    q: str = Field("", description=SEARCH)


class ColumnsIn(Schema):
    kinds: dict[str, str] = {}
    exclude: list[str] = []
    keep: list[str] | None = Field(None, description="Columns to use as they are whatever the "
                                   "checks say (replaces the list; [] for none)")  # fmt: skip


@router.post(
    "/datasets",
    response={201: DatasetOut, 400: ErrorOut, 413: ErrorOut, 429: ErrorOut, 507: ErrorOut},
    summary="Upload a table (multipart field `file`); it is ingested on a worker",
    openapi_extra=FILE_REQUIRED,
)
def create_dataset(request, file: File[UploadedFile] = None, name: Form[str] = ""):
    refusal = upload_refusal(request)
    if refusal:
        return Status(refusal[0], {"detail": refusal[1]})
    if file is None:
        return Status(400, {"detail": "Send the table in the multipart field 'file'."})
    try:
        dataset = Dataset.create_from_upload(request.user, file, name.strip())
    except ValueError as err:
        return Status(400, {"detail": str(err)})
    return Status(201, dataset)


@router.get("/datasets", response=list[DatasetOut], summary="Your datasets, newest first")
@paginate(Page)
def list_datasets(request, filters: Query[DatasetFilters]):
    datasets = search(Dataset.objects.owned_by(request.user), filters.q, "name")
    return datasets.filter(status=filters.status) if filters.status else datasets


@router.get("/datasets/{dataset_id}", response=DatasetDetail, summary="A dataset and its profile")
def get_dataset(request, dataset_id: int):
    return get_owned_or_404(Dataset, request.user, pk=dataset_id)


@router.patch(
    "/datasets/{dataset_id}/columns",
    response={200: DatasetDetail, 400: ErrorOut, 409: ErrorOut},
    summary="Correct column kinds (`kinds`), leave columns out (`exclude`), or use columns as "
    "they are whatever the checks say (`keep`)",
)
def update_columns(request, dataset_id: int, payload: ColumnsIn):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id)
    if dataset.status != Dataset.Status.READY:
        return Status(409, {"detail": f"The dataset is {dataset.status}, not ready."})
    try:
        if payload.keep is not None:
            dataset.set_keep(payload.keep, reprofile=False)  # correcting kinds profiles again
        dataset.correct_kinds({**payload.kinds, **dict.fromkeys(payload.exclude, "excluded")})
    except ValueError as err:
        return Status(400, {"detail": str(err)})
    return dataset


@router.delete(
    "/datasets/{dataset_id}",
    response={204: None, 409: ErrorOut},
    summary="Delete a dataset, its files and its experiments",
)
def delete_dataset(request, dataset_id: int):
    dataset = get_owned_or_404(Dataset, request.user, pk=dataset_id)
    blocker = dataset.deletion_blocker()
    if blocker:
        return Status(409, {"detail": blocker})
    dataset.delete()
    return Status(204, None)
