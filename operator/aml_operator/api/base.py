"""Base classes shared by every kind: camelCase models, object metadata and the resource envelope."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from .schema import JsonDict

GROUP = "azureml.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "azureml"


class ApiModel(BaseModel):
    """camelCase on the wire (aliases), snake_case in Python; either spelling parses.

    Unknown fields are ignored rather than refused: the API server already prunes what the schema
    does not know, and an older operator must still read objects written under a newer CRD.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
    )

    def to_json(self) -> JsonDict:
        """camelCase JSON-ready dict without unset optional fields, as Kubernetes stores it."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ObjectMeta(ApiModel):
    """The parts of Kubernetes object metadata the operator reads (not part of the CRD schema)."""

    name: str = Field("", description="Object name, unique in its namespace.")
    namespace: str = Field("", description="Namespace of the object.")
    uid: str = Field("", description="Unique id given by the API server.")
    generation: int = Field(0, description="Increased by the API server on every change of spec.")
    resource_version: str = Field("", description="Opaque version for optimistic concurrency.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations.")
    finalizers: list[str] = Field(default_factory=list, description="Finalizers.")
    creation_timestamp: datetime | None = Field(None, description="When the object was created.")
    deletion_timestamp: datetime | None = Field(None, description="Set when deletion was requested.")


class PrinterColumn(ApiModel):
    """One ``additionalPrinterColumns`` entry of a CRD."""

    name: str = Field(description="Column header.")
    type: str = Field(description="OpenAPI type of the column: string, integer, date, ...")
    json_path: str = Field(description="JSONPath into the object.")
    description: str = Field(description="What the column shows.")
    priority: int = Field(0, description="0 shows in the default table; 1 only with -o wide.")


def state_column() -> PrinterColumn:
    return PrinterColumn(
        name="State", type="string", json_path=".status.provisioningState", description="Azure provisioning state."
    )


def ready_column() -> PrinterColumn:
    return PrinterColumn(
        name="Ready",
        type="string",
        json_path='.status.conditions[?(@.type=="Ready")].status',
        description="Ready condition: True when Azure reports Succeeded and the spec is applied.",
    )


def reason_column() -> PrinterColumn:
    return PrinterColumn(
        name="Reason",
        type="string",
        json_path='.status.conditions[?(@.type=="Ready")].reason',
        description="Reason of the Ready condition.",
        priority=1,
    )


def age_column() -> PrinterColumn:
    return PrinterColumn(
        name="Age", type="date", json_path=".metadata.creationTimestamp", description="Age of the object."
    )


def _plain(value: Any) -> Any:
    """Copy mappings and sequences (kopf bodies are read-only views) into plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class KubeResource(ApiModel):
    """The envelope of a custom resource: apiVersion, kind, metadata; subclasses add spec and status.

    Class attributes describe the CRD; ``aml_operator.crdgen`` reads them.
    """

    KIND: ClassVar[str]
    PLURAL: ClassVar[str]
    SHORT_NAMES: ClassVar[tuple[str, ...]]
    DESCRIPTION: ClassVar[str]
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]]

    api_version: str = Field(API_VERSION, description="azureml.dev/v1alpha1.")
    metadata: ObjectMeta = Field(default_factory=ObjectMeta, description="Standard object metadata.")

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """Parse a whole object as the API server (or kopf's ``body``) returns it."""
        return cls.model_validate(_plain(body))

    @classmethod
    def root_validations(cls) -> tuple[JsonDict, ...]:
        """CEL rules on the object root: the only place a rule can see ``metadata.name``."""
        return ()

    @classmethod
    def crd_name(cls) -> str:
        return f"{cls.PLURAL}.{GROUP}"

    def status_json(self) -> JsonDict:
        """The status as camelCase JSON, ready for a status-subresource patch."""
        status = getattr(self, "status", None)
        return status.to_json() if isinstance(status, ApiModel) else {}
