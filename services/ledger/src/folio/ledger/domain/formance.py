"""Formance Ledger v2 wire shapes (request and response bodies).

Field names and aliases mirror ``formance_sdk_python.models.ledger`` (V2Transaction,
V2Posting, V2Account, V2Volume, V2VolumesWithBalance, V2ErrorResponse, the cursor
responses) so that the official SDK parses our answers unchanged. Responses are
serialised with ``by_alias=True, exclude_none=True`` like the SDK's own models.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel

from folio.shared.inputs import Text

T = TypeVar("T")

#: Bounds of what a client may store in metadata (Formance sets none; a ledger that
#: keeps every byte forever does): entries per object, characters per key and value.
MAX_METADATA_ENTRIES = 100
MAX_METADATA_KEY = 256
MAX_METADATA_VALUE = 4096
MetadataKey = Text(MAX_METADATA_KEY, min_length=1)
MetadataValue = Text(MAX_METADATA_VALUE)
#: Metadata as clients send it: bounded, no control characters (jsonb refuses NUL).
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_ENTRIES)]


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    def wire(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class V2ErrorsEnum(StrEnum):
    INTERNAL = "INTERNAL"
    INSUFFICIENT_FUND = "INSUFFICIENT_FUND"
    VALIDATION = "VALIDATION"
    CONFLICT = "CONFLICT"
    COMPILATION_FAILED = "COMPILATION_FAILED"
    METADATA_OVERRIDE = "METADATA_OVERRIDE"
    NOT_FOUND = "NOT_FOUND"
    REVERT_OCCURRING = "REVERT_OCCURRING"
    ALREADY_REVERT = "ALREADY_REVERT"
    NO_POSTINGS = "NO_POSTINGS"
    LEDGER_NOT_FOUND = "LEDGER_NOT_FOUND"
    IMPORT = "IMPORT"
    TIMEOUT = "TIMEOUT"
    BULK_SIZE_EXCEEDED = "BULK_SIZE_EXCEEDED"
    INTERPRETER_PARSE = "INTERPRETER_PARSE"
    INTERPRETER_RUNTIME = "INTERPRETER_RUNTIME"
    LEDGER_ALREADY_EXISTS = "LEDGER_ALREADY_EXISTS"


#: HTTP status Formance answers for each error code.
ERROR_STATUS: dict[V2ErrorsEnum, int] = {
    V2ErrorsEnum.INTERNAL: 500,
    V2ErrorsEnum.INSUFFICIENT_FUND: 400,
    V2ErrorsEnum.VALIDATION: 400,
    V2ErrorsEnum.CONFLICT: 409,
    V2ErrorsEnum.COMPILATION_FAILED: 400,
    V2ErrorsEnum.METADATA_OVERRIDE: 400,
    V2ErrorsEnum.NOT_FOUND: 404,
    V2ErrorsEnum.REVERT_OCCURRING: 400,
    V2ErrorsEnum.ALREADY_REVERT: 400,
    V2ErrorsEnum.NO_POSTINGS: 400,
    V2ErrorsEnum.LEDGER_NOT_FOUND: 404,
    V2ErrorsEnum.IMPORT: 400,
    V2ErrorsEnum.TIMEOUT: 500,
    V2ErrorsEnum.BULK_SIZE_EXCEEDED: 400,
    V2ErrorsEnum.INTERPRETER_PARSE: 400,
    V2ErrorsEnum.INTERPRETER_RUNTIME: 400,
    V2ErrorsEnum.LEDGER_ALREADY_EXISTS: 400,
}


class V2ErrorResponse(_Wire):
    error_code: V2ErrorsEnum = Field(alias="errorCode")
    error_message: str = Field(alias="errorMessage")
    details: str | None = None


class V2Posting(_Wire):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    amount: int = Field(ge=0, le=2**63 - 1)  # stored as bigint
    asset: str
    destination: str
    source: str


class V2Volume(_Wire):
    input: int
    output: int
    balance: int | None = None


class V2Transaction(_Wire):
    id: int
    metadata: dict[str, str]
    postings: list[V2Posting]
    reverted: bool
    # str: a time stored before years outside 1-9999 (UTC) were refused, rendered by
    # the database (``journal_repository._time_columns``); Python cannot hold it
    timestamp: datetime | str
    inserted_at: datetime | None = Field(default=None, alias="insertedAt")
    post_commit_volumes: dict[str, dict[str, V2Volume]] | None = Field(
        default=None, alias="postCommitVolumes"
    )
    pre_commit_volumes: dict[str, dict[str, V2Volume]] | None = Field(
        default=None, alias="preCommitVolumes"
    )
    post_commit_effective_volumes: dict[str, dict[str, V2Volume]] | None = Field(
        default=None, alias="postCommitEffectiveVolumes"
    )
    pre_commit_effective_volumes: dict[str, dict[str, V2Volume]] | None = Field(
        default=None, alias="preCommitEffectiveVolumes"
    )
    reference: str | None = None
    reverted_at: datetime | None = Field(default=None, alias="revertedAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")


class V2Account(_Wire):
    address: str
    metadata: dict[str, str]
    volumes: dict[str, V2Volume] | None = None
    effective_volumes: dict[str, V2Volume] | None = Field(default=None, alias="effectiveVolumes")
    first_usage: datetime | str | None = Field(default=None, alias="firstUsage")  # str: as above
    insertion_date: datetime | None = Field(default=None, alias="insertionDate")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")


class V2VolumesWithBalance(_Wire):
    account: str
    asset: str
    balance: int
    input: int
    output: int


class V2Ledger(_Wire):
    name: str
    bucket: str
    added_at: datetime = Field(alias="addedAt")
    id: int | None = None
    metadata: dict[str, str] | None = None
    features: dict[str, str] | None = None


class V2LogDataNewTransaction(_Wire):
    transaction: V2Transaction
    account_metadata: dict[str, dict[str, str]] = Field(
        default_factory=dict, alias="accountMetadata"
    )


class V2LogDataRevertedTransaction(_Wire):
    reverted_transaction: V2Transaction = Field(alias="revertedTransaction")
    transaction: V2Transaction


class V2LogDataSetMetadata(_Wire):
    target_type: str = Field(alias="targetType")  # TRANSACTION | ACCOUNT
    target_id: int | str = Field(alias="targetId")
    metadata: dict[str, str]


class V2LogDataDeleteMetadata(_Wire):
    target_type: str = Field(alias="targetType")
    target_id: int | str = Field(alias="targetId")
    key: str


class V2LogType(StrEnum):
    NEW_TRANSACTION = "NEW_TRANSACTION"
    SET_METADATA = "SET_METADATA"
    REVERTED_TRANSACTION = "REVERTED_TRANSACTION"
    DELETE_METADATA = "DELETE_METADATA"


class V2Log(_Wire):
    """One entry of a ledger's log. ``hash``: the entry's link in Folio's chain (hex
    SHA-256 over the previous link and the entry's content), empty until sealed."""

    id: int
    type: V2LogType
    data: (
        V2LogDataNewTransaction
        | V2LogDataRevertedTransaction
        | V2LogDataSetMetadata
        | V2LogDataDeleteMetadata
    )
    hash: str
    date: datetime


class V2BulkElementResult(_Wire):
    """One element's result: ``responseType`` is the element's action, or ``ERROR``."""

    response_type: str = Field(alias="responseType")
    log_id: int = Field(alias="logID")  # the journal id of the entry it wrote (0: none)
    data: V2Transaction | None = None
    error_code: str | None = Field(default=None, alias="errorCode")
    error_description: str | None = Field(default=None, alias="errorDescription")


class V2BulkResponse(_Wire):
    data: list[V2BulkElementResult] | None = None
    error_code: V2ErrorsEnum | None = Field(default=None, alias="errorCode")
    error_message: str | None = Field(default=None, alias="errorMessage")


class V2Stats(_Wire):
    accounts: int
    transactions: int


class V2MigrationInfo(_Wire):
    version: str | None = None
    name: str | None = None
    date: datetime | None = None
    state: str | None = None  # TO DO | DONE


class V2LedgerInfoStorage(_Wire):
    migrations: list[V2MigrationInfo] | None = None


class V2LedgerInfo(_Wire):
    name: str | None = None
    storage: V2LedgerInfoStorage | None = None


class Cursor(_Wire, Generic[T]):
    page_size: int = Field(alias="pageSize")
    has_more: bool = Field(alias="hasMore")
    previous: str | None = None
    next: str | None = None
    data: list[T]


class CursorResponse(_Wire, Generic[T]):
    """``{"cursor": {"pageSize", "hasMore", "previous", "next", "data"}}``."""

    cursor: Cursor[T]


class DataResponse(_Wire, Generic[T]):
    """``{"data": ...}`` wrapper of single-object answers."""

    data: T


# --- requests -----------------------------------------------------------------


class V2PostTransactionScript(BaseModel):
    model_config = ConfigDict(extra="allow")

    plain: Annotated[str, Field(max_length=100_000)] | None = None
    template: Text(MAX_METADATA_KEY) | None = None
    vars: Metadata | None = None


class V2PostTransaction(BaseModel):
    """Body of ``POST /v2/{ledger}/transactions``. Unknown fields are refused so a
    typo never silently drops part of a financial instruction."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    metadata: Metadata = Field(default_factory=dict)
    postings: Annotated[list[V2Posting], Field(max_length=1000)] | None = None
    script: V2PostTransactionScript | None = None
    reference: Text(512, min_length=1) | None = None
    timestamp: AwareDatetime | None = None
    account_metadata: dict[Text(MAX_METADATA_KEY), Metadata] | None = Field(
        default=None, alias="accountMetadata", max_length=MAX_METADATA_ENTRIES
    )
    force: bool | None = None
    runtime: Text(64) | None = None


class V2RevertTransactionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: Metadata | None = None


class V2MetadataRequest(RootModel[Metadata]):
    """Body of the metadata routes (``PUT …/metadata``, ``POST …/{id}/metadata``): the
    keys to set, bounded like every stored metadata."""


class V2CreateLedgerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bucket: Text(63, min_length=1) | None = None
    features: Metadata | None = None
    metadata: Metadata | None = None


TargetType = Literal["TRANSACTION", "ACCOUNT"]


class V2BulkTargetMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    target_type: TargetType = Field(alias="targetType")
    target_id: Annotated[int, Field(ge=0, le=2**63 - 1)] | Text(
        512, min_length=1
    ) = Field(alias="targetId")
    metadata: Metadata


class V2BulkTargetKey(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    target_type: TargetType = Field(alias="targetType")
    target_id: Annotated[int, Field(ge=0, le=2**63 - 1)] | Text(
        512, min_length=1
    ) = Field(alias="targetId")
    key: MetadataKey


class V2BulkRevert(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: Annotated[int, Field(ge=0, le=2**63 - 1)]
    force: bool | None = None
    at_effective_date: bool | None = Field(default=None, alias="atEffectiveDate")
    metadata: Metadata | None = None


class V2BulkElement(BaseModel):
    """One element of ``POST /v2/{ledger}/_bulk``; ``data`` is read per ``action``."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["CREATE_TRANSACTION", "ADD_METADATA", "DELETE_METADATA", "REVERT_TRANSACTION"]
    ik: Text(255, min_length=1) | None = None
    data: dict | None = None


class V2ImportedTransaction(BaseModel):
    """A transaction as a log export holds it (Formance's or Folio's); the fields the
    import does not replay (volumes, ``reverted``, ``insertedAt``) are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: Annotated[int, Field(ge=0, le=2**63 - 1)]
    postings: Annotated[list[V2Posting], Field(min_length=1, max_length=1000)]
    metadata: Metadata = Field(default_factory=dict)
    timestamp: AwareDatetime
    reference: Text(512, min_length=1) | None = None


class V2ImportedLog(BaseModel):
    """One line of a log export: ``type`` and its ``data`` (read per type)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["NEW_TRANSACTION", "REVERTED_TRANSACTION", "SET_METADATA", "DELETE_METADATA"]
    data: dict
