"""Where an artifact lands on the Hub (repo type, repo id, tags) and how its license reads there.

The Hub has model, dataset and space repos only, so recipes and RL environments go to model repos
and say what they are with a tag. Licenses go into the card's `license` field as one of the Hub's
identifiers when the declared expression is exactly one license the Hub lists; anything else is
`license: other` with a `license_name` slug and, where one can be backed, a `license_link`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from license_expression import LicenseExpression, LicenseSymbol, LicenseWithExceptionSymbol

from registry.licenses import license_choices, license_parse, unknown_keys
from registry.model_licenses import canonical_id, license_attributes, license_lookup
from registry.models import Artifact, Kind, Version

REGISTRY_TAG = "consortium-registry"

# kind → (Hub repo type, tags beyond REGISTRY_TAG). The one place this mapping lives.
_TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    Kind.CHECKPOINT: ("model", ()),
    Kind.ADAPTER: ("model", ()),
    Kind.DATASET: ("dataset", ()),
    Kind.EVAL_SUITE: ("dataset", ("eval-suite",)),
    # No Hub repo type fits these: model repos, marked by kind so they can be filtered.
    Kind.PRETRAINING_RECIPE: ("model", ("pretraining-recipe",)),
    Kind.POSTTRAINING_RECIPE: ("model", ("posttraining-recipe",)),
    Kind.RL_ENVIRONMENT: ("model", ("rl-environment",)),
}

# The Hub's license identifiers: huggingface/hub-docs docs/hub/repositories-licenses.md
# ("region licenses"), as of commit 242f4a1e (2026-08-22): what a card's `license` may say.
HUB_LICENSE_IDS: frozenset[str] = frozenset(
    {"apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m"}
    | {"bigscience-bloom-rail-1.0", "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd"}
    | {"bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0"}
    | {"cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0"}
    | {"cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0"}
    | {"cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0"}
    | {"wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl"}
    | {"gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "h-research", "intel-research"}
    | {"lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0", "odc-by", "odbl", "openmdw-1.0"}
    | {"openmdw-1.1", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl"}
    | {"lgpl-lr", "deepfloyd-if-license", "fair-noncommercial-research-license", "llama2", "llama3"}
    | {"llama3.1", "llama3.2", "llama3.3", "llama4", "grok2-community", "gemma", "unknown", "other"}
)
OTHER = "other"
# Never the Hub id of a declared license: placeholders, and families too vague to name one license.
_NEVER_MAPPED = frozenset({"unknown", OTHER, "bsd", "cc", "gfdl", "gpl", "lgpl"})

# SPDX ids whose Hub id is neither their lowercase form nor an alias in the license table. The
# Hub's `gpl-3.0` etc. predate SPDX's -only/-or-later split and mean the -only license (SPDX's
# deprecated `GPL-3.0` is `GPL-3.0-only`); -or-later has no Hub id and becomes `other`.
_SPDX_TO_HUB = {
    "GPL-2.0-only": "gpl-2.0",
    "GPL-3.0-only": "gpl-3.0",
    "LGPL-2.1-only": "lgpl-2.1",
    "LGPL-3.0-only": "lgpl-3.0",
    "AGPL-3.0-only": "agpl-3.0",
    "C-UDA-1.0": "c-uda",
    "LGPLLR": "lgpl-lr",
}

SPDX_PAGE = "https://spdx.org/licenses/{}.html"
_LICENSE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt")


@dataclass(frozen=True)
class HubTarget:
    repo_type: str  # "model" or "dataset"
    repo_id: str  # "namespace/name"
    tags: tuple[str, ...]


@dataclass(frozen=True)
class HubLicense:
    """The card's license fields. `license_name`/`license_link` only with `license: other`."""

    license: str
    license_name: str | None = None
    license_link: str | None = None

    def card_fields(self) -> dict[str, str]:
        fields = {"license": self.license, "license_name": self.license_name, "license_link": self.license_link}
        return {key: value for key, value in fields.items() if value is not None}


def hub_target(artifact: Artifact) -> HubTarget:
    """The Hub repo an artifact publishes to: one repo per artifact, in its org's namespace."""
    repo_type, kind_tags = _TARGETS[artifact.kind]
    return HubTarget(
        repo_type=repo_type,
        repo_id=f"{artifact.organization.hub_namespace}/{artifact.slug}",
        tags=(REGISTRY_TAG, *kind_tags),
    )


def version_tag(version: Version) -> str:
    return f"v{version.number}"


def hub_license_id(key: str) -> str | None:
    """The Hub's identifier for one license key (an SPDX id, a table id or alias), or None."""
    key = canonical_id(key) or key.strip()
    if key in _SPDX_TO_HUB:
        return _SPDX_TO_HUB[key]
    entry = license_lookup(key)
    for name in (key, *(entry.aliases if entry else ())):
        if name.lower() in HUB_LICENSE_IDS and name.lower() not in _NEVER_MAPPED:
            return name.lower()
    return None


def hub_license(expression: str, *, paths: Collection[str] = ()) -> HubLicense:
    """How `expression` (a normalized SPDX expression) reads on the Hub. `paths` is the version's
    file manifest: a root LICENSE file there is what `license_link` points at for licenses that
    have no page of their own. Raises ValueError when the expression does not parse."""
    parsed = _parse(expression)
    if isinstance(parsed, LicenseSymbol) and not isinstance(parsed, LicenseWithExceptionSymbol):
        hub_id = hub_license_id(parsed.key)
        if hub_id is not None:
            return HubLicense(hub_id)
    unknown = set(unknown_keys(parsed))
    spdx_ids = [key for key in _keys(parsed) if not key.startswith("LicenseRef-") and key not in unknown]
    if isinstance(parsed, LicenseSymbol) and spdx_ids:
        link: str | None = SPDX_PAGE.format(spdx_ids[0])  # one SPDX license the Hub does not list
    else:
        link = license_file(paths)
        if link is None and spdx_ids:
            link = SPDX_PAGE.format(spdx_ids[0])
    return HubLicense(OTHER, license_name=license_slug(str(parsed)), license_link=link)


def hub_gated(expression: str) -> bool:
    """True when any license in `expression` asks downloaders to accept its terms first (Llama,
    Gemma). An OR counts too: the Hub cannot gate one side of a choice. Raises ValueError when the
    expression does not parse."""
    parsed = _parse(expression)
    choices = license_choices(parsed)
    if choices is None:  # too many alternatives to expand: look at each license on its own
        return any(license_attributes(key).requires_acceptance for key in _keys(parsed))
    return any(entry.requires_acceptance for choice in choices for entry in choice.licenses)


def license_slug(expression: str) -> str:
    """A `license_name` the Hub accepts (lowercase letters, digits, hyphens) for an expression:
    'Apache-2.0 AND LicenseRef-Acme-1' → 'apache-2-0-and-acme-1'."""
    text = re.sub(r"licenseref-", "", expression.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "custom"


def _parse(expression: str) -> LicenseExpression:
    parsed, problem = license_parse(expression)
    if parsed is None:
        raise ValueError(problem)
    return parsed


def _keys(node: LicenseExpression) -> Iterator[str]:
    """License keys in reading order (exceptions left out)."""
    if isinstance(node, LicenseWithExceptionSymbol):
        yield node.license_symbol.key
    elif isinstance(node, LicenseSymbol):
        yield node.key
    else:
        for arg in node.args:
            yield from _keys(arg)


def license_file(paths: Collection[str]) -> str | None:
    """The manifest's root LICENSE file (a relative link from the card), if it has one."""
    root = {path for path in paths if "/" not in path}
    return next((name for name in _LICENSE_FILES if name in root), None)
