"""Building blocks shared by the schemas, and the translation of pydantic errors into
`(field path, message)` pairs a pusher can act on.

Cross-field rules live in each section's `rules()`, which yields `(field, message)` pairs; they are
raised together as one pydantic error and expanded back into one problem per rule, so every broken
rule is reported with its own field path.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Self, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

SLUG = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"  # registry.models.organizations.SLUG_RE, unanchored
NUMBER = r"(?:0|[1-9][0-9]{0,8})(?:\.(?:0|[1-9][0-9]{0,8})){0,2}(?:-[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?"
REGISTRY_REF = re.compile(rf"(?P<org>{SLUG})/(?P<artifact>{SLUG})@(?P<number>{NUMBER})")
HUB_REPO = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?/[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
)
COMMIT = re.compile(r"[0-9a-f]{40}")
IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9_.+-]{0,63}")
# Tags of discriminated unions: pydantic puts them in error locations; they are not field names.
UNION_TAGS = frozenset({"registry ref", "hub ref"})
SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


class Section(BaseModel):
    """A part of a document: unknown fields are errors, and `rules()` holds cross-field checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def rules(self) -> Iterator[tuple[str, str]]:
        """(field relative to this section, message) for each broken cross-field rule."""
        return iter(())

    @model_validator(mode="after")
    def _apply_rules(self) -> Self:
        found = list(self.rules())
        if found:
            summary = "; ".join(f"{f}: {m}" if f else m for f, m in found)
            raise PydanticCustomError("rules", "{summary}", {"summary": summary, "problems": found})
        return self


def _registry_ref(value: str) -> str:
    if not REGISTRY_REF.fullmatch(value):
        raise ValueError(
            f"'{value[:200]}' is not a registry reference like 'open-lab/web-mix@1.2.0' (org/artifact@version)"
            " or a Hub reference {hub: owner/name, revision: <40-hex commit>}"
        )
    return value


def _hub_repo(value: str) -> str:
    if not HUB_REPO.fullmatch(value):
        raise ValueError(f"'{value[:200]}' is not a Hub repository id like 'allenai/c4'")
    return value


def _commit(value: str) -> str:
    if not COMMIT.fullmatch(value):
        raise ValueError(f"'{value[:200]}' is not a full commit id (40 lowercase hex characters)")
    return value


def _identifier(value: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise ValueError(f"'{value[:200]}' is not a lowercase name (letters, digits, '_', '.', '+', '-')")
    return value


def _count(value: Any) -> Any:
    """7000000000, 7e9, '7B', '1.5T': a whole count; K/M/B/T are decimal (10^3 … 10^12)."""
    if isinstance(value, bool):
        raise ValueError("expected a count like 7000000000 or '7B'")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        suffix = text[-1:].upper() if text[-1:].upper() in SUFFIXES else ""
        try:
            number = Decimal(text[: len(text) - len(suffix)]) * SUFFIXES[suffix]
        except InvalidOperation:
            raise ValueError(f"'{value[:50]}' is not a count like 7000000000 or '7B'") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError(f"'{value[:50]}' is not a whole count")
        return int(number)
    return value


RegistryRef = Annotated[str, AfterValidator(_registry_ref)]
HubRepo = Annotated[str, AfterValidator(_hub_repo)]
Commit = Annotated[str, AfterValidator(_commit)]
Identifier = Annotated[str, AfterValidator(_identifier)]
Count = Annotated[int, BeforeValidator(_count), Field(gt=0)]
Text = Annotated[str, Field(min_length=1, max_length=10_000)]


class HubRef(Section):
    """A Hub repository pinned to a commit: outside work carries lineage as exactly what was used."""

    hub: HubRepo
    revision: Commit

    def __str__(self) -> str:
        return f"hub:{self.hub}@{self.revision}"


def _source_tag(value: Any) -> str | None:
    if isinstance(value, dict | HubRef):
        return "hub ref"
    return "registry ref" if isinstance(value, str) else None


# What a recipe or environment builds on: `org/artifact@version` in the registry, or a pinned Hub repo.
Source = Annotated[
    Annotated[RegistryRef, Tag("registry ref")] | Annotated[HubRef, Tag("hub ref")],
    Discriminator(
        _source_tag,
        custom_error_type="source",
        custom_error_message="expected 'org/artifact@version' or {hub: owner/name, revision: <40-hex commit>}",
    ),
]


def field_path(loc: tuple[int | str, ...]) -> str:
    """('data_mixture', 1, 'weight') → 'data_mixture[1].weight'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in UNION_TAGS:
            path += f".{part}" if path else str(part)
    return path


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Annotated, Union, types.UnionType, list, tuple, dict) or get_args(annotation):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or part in UNION_TAGS or model is None:
            continue
        field = model.model_fields.get(part) or next((f for f in model.model_fields.values() if f.alias == part), None)
        found = _models_in(field.annotation) if field else []
        model = found[0] if found else None
    return model


def _allowed(model: type[BaseModel]) -> str:
    return ", ".join(f.alias or name for name, f in model.model_fields.items())


def problems(error: PydanticValidationError, root: type[BaseModel]) -> list[tuple[str, str]]:
    """(field path, message) for each error, with the `rules` bundle expanded one per rule."""
    found: list[tuple[str, str]] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        kind, message = item["type"], item["msg"].removeprefix("Value error, ")
        if kind == "rules":
            base = field_path(loc)
            for field, text in item["ctx"]["problems"]:
                found.append((".".join(p for p in (base, field) if p).replace(".[", "["), text))
            continue
        if kind == "extra_forbidden":
            parent = _model_at(root, loc[:-1])
            message = "unknown field" + (f"; allowed here: {_allowed(parent)}" if parent else "")
        elif kind == "missing":
            message = "required"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = f"expected a mapping of fields, found {type(item['input']).__name__}"
        elif kind == "list_type":
            message = f"expected a list, found {type(item['input']).__name__}"
        found.append((field_path(loc), message))
    return found
