"""Small documents a check reads whole (YAML manifests and task configs): bounded in bytes and in
shape, parsed safely, and validated against a schema with one reason per problem, each naming its
field path (`data_mixture[1].weight`).

YAML is read with a SafeLoader subclass: no Python objects are ever built. lm-eval's `!function`
tag is read as plain text (a `FunctionRef`); the code it names is never imported. Duplicate keys,
which PyYAML silently resolves last-wins, are errors. Aliases are allowed, but the loaded value is
walked with a node budget so an alias bomb ("billion laughs") cannot exhaust a worker.
"""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from django.conf import settings
from pydantic import BaseModel, ValidationError
from yaml.constructor import ConstructorError

from jobs.checks.base import CheckContext, FileRef
from jobs.checks.schemas.common import problems

MAX_NODES = 200_000  # values in one loaded document, aliases counted each time they are used

M = TypeVar("M", bound=BaseModel)


def max_document_bytes() -> int:
    return settings.FORMAT_MAX_DOCUMENT_BYTES


class FunctionRef(str):
    """The text of an lm-eval `!function module.attr` tag."""

    __slots__ = ()


class ConfigLoader(yaml.SafeLoader):
    """safe_load's loader, plus `!function` as text and duplicate keys as errors."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = key_node.value
            if key in seen:
                raise ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _function(loader: yaml.SafeLoader, node: yaml.Node) -> FunctionRef:
    if not isinstance(node, yaml.ScalarNode):
        raise ConstructorError(None, None, "!function takes a name like utils.process_docs", node.start_mark)
    return FunctionRef(loader.construct_scalar(node))


ConfigLoader.add_constructor("!function", _function)


def problem_count(ctx: CheckContext) -> str:
    """'1 problem', '3 problems': the start of a failed check's summary."""
    return f"{len(ctx.reasons)} problem{'' if len(ctx.reasons) == 1 else 's'}"


def read_text(ctx: CheckContext, file: FileRef) -> str | None:
    """The file as UTF-8 text, or None (with a reason) if it is too large or not UTF-8."""
    limit = max_document_bytes()
    if file.size > limit:
        ctx.fail("document_too_large", f"{file.size} bytes, over the {limit}-byte limit for documents", path=file.path)
        return None
    try:
        return file.read(0, file.size).decode("utf-8")
    except UnicodeDecodeError as exc:
        ctx.fail("not_utf8", f"not UTF-8 text: byte {exc.start} is invalid", path=file.path)
        return None


def _within_budget(value: Any, budget: int) -> bool:
    stack = [value]
    while stack:
        budget -= 1
        if budget < 0:
            return False
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


class DocumentProblem(ValueError):
    """Why a YAML text is not a usable document: a stable code and a message naming the line."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(message)


def parse_mapping(text: str) -> dict[str, Any]:
    """The YAML text's top-level mapping, or DocumentProblem naming the line of the problem."""
    try:
        value = yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - ConfigLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise DocumentProblem("invalid_yaml", f"invalid YAML: {where}{exc.problem or exc.context}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise DocumentProblem("invalid_yaml", f"invalid YAML: {exc}") from None
    if not _within_budget(value, MAX_NODES):
        raise DocumentProblem("document_too_large", f"expands to more than {MAX_NODES} values (alias bomb?)")
    if not isinstance(value, dict):
        found = "an empty document" if value is None else f"a {type(value).__name__}"
        raise DocumentProblem("invalid_document", f"expected a mapping of fields at the top level, found {found}")
    return value


def load_mapping(ctx: CheckContext, file: FileRef) -> dict[str, Any] | None:
    """The YAML file's top-level mapping, or None with a reason naming the line of the problem."""
    text = read_text(ctx, file)
    if text is None:
        return None
    try:
        return parse_mapping(text)
    except DocumentProblem as exc:
        ctx.fail(exc.code, exc.message, path=file.path)
        return None


def validate(ctx: CheckContext, file: FileRef, model: type[M], data: dict[str, Any]) -> M | None:
    """`model` built from `data`, or None with one reason per schema problem, each naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for field, message in problems(exc, model):
            ctx.fail("schema", f"{field}: {message}" if field else message, path=file.path)
        return None
