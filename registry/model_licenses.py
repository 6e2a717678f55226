"""The registry's table of model and data licenses: what each allows and what it passes on.

AI model licenses are not on the SPDX License List (checked against `license-expression`'s SPDX
knowledge base: none of Llama, Gemma, OpenRAIL, OpenRAIL-M, OpenRAIL++-M, BigScience-OpenRAIL-M,
CreativeML-OpenRAIL-M, BigCode-OpenRAIL-M or OpenMDW is), so the table names them
`LicenseRef-<name>`. Their Hugging Face Hub ids (`llama3.1`, `gemma`, `openrail++`) and ScanCode's
refs (`LicenseRef-scancode-llama-3.1-license-2024`) are accepted as aliases where a license comes
from outside (external lineage edges carry the Hub's strings). Common SPDX licenses carry the same
attributes; an SPDX id missing from the table is valid but its attributes are unknown, and the
license check treats unknown terms conservatively.

This is a summary for automated gating and for reviewers, not legal advice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Commercial(StrEnum):
    YES = "yes"
    CONDITIONAL = "conditional"  # allowed under conditions, like Llama's 700M monthly-active-users clause
    NO = "no"
    UNKNOWN = "unknown"


class Category(StrEnum):
    PERMISSIVE = "permissive"
    COPYLEFT = "copyleft"  # copyleft and share-alike
    USE_RESTRICTED = "use_restricted"  # behavioural use restrictions or a non-commercial clause
    UNKNOWN = "unknown"


class Obligation(StrEnum):
    ATTRIBUTION = "attribution"  # keep notices, credit the licensor
    NAMING = "naming"  # Llama: show "Built with Llama", derived model names begin with "Llama"
    USE_RESTRICTIONS = "use_restrictions"  # pass the use policy on to every recipient and derivative
    SHARE_ALIKE = "share_alike"  # derivatives under the same license
    SOURCE = "source"  # offer the preferred form for modification
    NO_DERIVATIVES = "no_derivatives"  # adapted material may not be shared


# Obligations a derivative keeps only by carrying the license itself in its own expression.
PASS_THROUGH = frozenset({Obligation.USE_RESTRICTIONS, Obligation.SHARE_ALIKE})

# Member states, for license terms that withhold rights in the European Union.
EU_COUNTRIES = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"}
    | {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
)


@dataclass(frozen=True)
class ModelLicense:
    """One license's attributes. `pass_through`: derivatives must carry it (conservatively, also
    when its terms are unknown)."""

    id: str
    name: str
    commercial: Commercial
    category: Category
    obligations: frozenset[Obligation] = frozenset()
    aliases: tuple[str, ...] = ()
    withheld_in_eu: bool = False  # some rights are not granted to EU-domiciled licensees
    # The licensor asks every downloader to accept its terms first: published repos are gated.
    requires_acceptance: bool = False
    note: str = ""

    @property
    def known(self) -> bool:
        return self.category is not Category.UNKNOWN

    @property
    def pass_through(self) -> bool:
        return bool(self.obligations & PASS_THROUGH) or not self.known

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "known": self.known,
            "commercial": str(self.commercial),
            "category": str(self.category),
            "obligations": sorted(str(o) for o in self.obligations),
            "pass_through": self.pass_through,
            **({"note": self.note} if self.note else {}),
        }


_ATTR = frozenset({Obligation.ATTRIBUTION})
_NONE: frozenset[Obligation] = frozenset()
_RAIL = frozenset({Obligation.ATTRIBUTION, Obligation.USE_RESTRICTIONS})
_LLAMA = frozenset({Obligation.ATTRIBUTION, Obligation.NAMING, Obligation.USE_RESTRICTIONS})
_COPYLEFT = frozenset({Obligation.ATTRIBUTION, Obligation.SHARE_ALIKE, Obligation.SOURCE})
_MAU = "commercial use needs a separate license from Meta above 700 million monthly active users"
_EU = "rights to multimodal models are not granted to individuals or companies domiciled in the EU"


def _llama(version: str, hub: str, *scancode: str, naming: bool = True, eu: bool = False) -> ModelLicense:
    return ModelLicense(
        id=f"LicenseRef-Llama-{version}",
        name=f"Llama {version} Community License",
        commercial=Commercial.CONDITIONAL,
        category=Category.USE_RESTRICTED,
        obligations=_LLAMA if naming else _RAIL,
        aliases=(hub, *(f"LicenseRef-scancode-{key}" for key in scancode)),
        withheld_in_eu=eu,
        requires_acceptance=True,
        note=f"{_MAU}; {_EU}" if eu else _MAU,
    )


def _rail(id_: str, name: str, *aliases: str) -> ModelLicense:
    return ModelLicense(
        id=f"LicenseRef-{id_}",
        name=name,
        commercial=Commercial.YES,
        category=Category.USE_RESTRICTED,
        obligations=_RAIL,
        aliases=aliases,
        note="the use-based restrictions bind every downstream use and derivative",
    )


def _spdx(id_: str, category: Category, obligations: frozenset[Obligation], *aliases: str) -> ModelLicense:
    return ModelLicense(
        id=id_, name=id_, commercial=Commercial.YES, category=category, obligations=obligations, aliases=aliases
    )


_MODEL_LICENSES = [
    _llama("2", "llama2", "llama-2-license-2023", naming=False),
    _llama("3", "llama3"),
    _llama("3.1", "llama3.1", "llama-3.1-license-2024"),
    _llama("3.2", "llama3.2", "llama-3.2-license-2024", eu=True),
    _llama("3.3", "llama3.3", "llama-3.3-license-2024"),
    _llama("4", "llama4", "llama-4-license-2025", eu=True),
    ModelLicense(
        id="LicenseRef-Gemma",
        name="Gemma Terms of Use",
        commercial=Commercial.YES,
        category=Category.USE_RESTRICTED,
        obligations=_RAIL,
        aliases=("gemma", "LicenseRef-scancode-gemma-tou-2024-04-01"),
        requires_acceptance=True,
        note="the Prohibited Use Policy binds model derivatives, including models trained on Gemma outputs",
    ),
    _rail("OpenRAIL", "Open RAIL license family", "openrail"),
    _rail("OpenRAIL-M", "Open RAIL-M", "openrail-m"),
    _rail("OpenRAIL-PlusPlus-M", "CreativeML Open RAIL++-M", "openrail++", "creativeml-openrail++-m"),
    _rail(
        "BigScience-OpenRAIL-M",
        "BigScience Open RAIL-M",
        "bigscience-openrail-m",
        "LicenseRef-scancode-bigscience-open-rail-m",
    ),
    _rail(
        "BigScience-BLOOM-RAIL-1.0",
        "BigScience BLOOM RAIL 1.0",
        "bigscience-bloom-rail-1.0",
        "LicenseRef-scancode-bigscience-rail-1.0",
    ),
    _rail(
        "CreativeML-OpenRAIL-M",
        "CreativeML Open RAIL-M",
        "creativeml-openrail-m",
        "LicenseRef-scancode-stable-diffusion-2022-08-22",
    ),
    _rail(
        "BigCode-OpenRAIL-M",
        "BigCode Open RAIL-M v1",
        "bigcode-openrail-m",
        "LicenseRef-scancode-bigcode-open-rail-m-v1",
    ),
    ModelLicense(
        id="LicenseRef-OpenMDW-1.0",
        name="OpenMDW License 1.0",
        commercial=Commercial.YES,
        category=Category.PERMISSIVE,
        obligations=_ATTR,
        aliases=("openmdw", "openmdw-1.0", "LicenseRef-scancode-openmdw-1.0"),
    ),
    ModelLicense(
        id="LicenseRef-FAIR-Noncommercial-Research",
        name="FAIR Noncommercial Research License",
        commercial=Commercial.NO,
        category=Category.USE_RESTRICTED,
        obligations=_RAIL,
        aliases=("fair-noncommercial-research-license",),
    ),
    ModelLicense(
        id="LicenseRef-DeepFloyd-IF",
        name="DeepFloyd IF License Agreement",
        commercial=Commercial.NO,
        category=Category.USE_RESTRICTED,
        obligations=_RAIL,
        aliases=("deepfloyd-if-license",),
    ),
]

_P, _C = Category.PERMISSIVE, Category.COPYLEFT
_SPDX_LICENSES = [
    _spdx("MIT", _P, _ATTR),
    _spdx("MIT-0", _P, _NONE),
    _spdx("Apache-2.0", _P, _ATTR),
    _spdx("BSD-2-Clause", _P, _ATTR),
    _spdx("BSD-3-Clause", _P, _ATTR),
    _spdx("BSD-3-Clause-Clear", _P, _ATTR),
    _spdx("ISC", _P, _ATTR),
    _spdx("Zlib", _P, _ATTR),
    _spdx("BSL-1.0", _P, _ATTR),
    _spdx("PSF-2.0", _P, _ATTR),
    _spdx("Python-2.0", _P, _ATTR),
    _spdx("NCSA", _P, _ATTR),
    _spdx("PostgreSQL", _P, _ATTR),
    _spdx("AFL-3.0", _P, _ATTR),
    _spdx("ECL-2.0", _P, _ATTR),
    _spdx("0BSD", _P, _NONE),
    _spdx("Unlicense", _P, _NONE),
    _spdx("WTFPL", _P, _NONE),
    _spdx("CC0-1.0", _P, _NONE),
    _spdx("PDDL-1.0", _P, _NONE, "pddl"),
    _spdx("ODC-By-1.0", _P, _ATTR, "odc-by"),
    _spdx("CDLA-Permissive-1.0", _P, _ATTR),
    _spdx("CDLA-Permissive-2.0", _P, _ATTR),
    _spdx("ODbL-1.0", _C, _COPYLEFT, "odbl"),
    _spdx("CDLA-Sharing-1.0", _C, frozenset({Obligation.ATTRIBUTION, Obligation.SHARE_ALIKE})),
    _spdx("MPL-2.0", _C, _COPYLEFT),
    _spdx("EPL-1.0", _C, _COPYLEFT),
    _spdx("EPL-2.0", _C, _COPYLEFT),
    _spdx("EUPL-1.1", _C, _COPYLEFT),
    _spdx("EUPL-1.2", _C, _COPYLEFT),
    _spdx("OSL-3.0", _C, _COPYLEFT),
    *(
        _spdx(f"{family}-{suffix}", _C, _COPYLEFT)
        for family in ("GPL-2.0", "GPL-3.0", "LGPL-2.1", "LGPL-3.0", "AGPL-3.0")
        for suffix in ("only", "or-later")
    ),
]

# CC-BY[-NC][-ND|-SA]-<version>[-<port>] on the SPDX list: attributes follow from the name.
_CREATIVE_COMMONS = re.compile(r"^CC-BY(?P<nc>-NC)?(?P<term>-ND|-SA)?-\d\.\d(-[A-Za-z]+)?$")


def _creative_commons(key: str) -> ModelLicense | None:
    match = _CREATIVE_COMMONS.match(key)
    if match is None:
        return None
    obligations = {Obligation.ATTRIBUTION}
    if match["term"] == "-SA":
        obligations.add(Obligation.SHARE_ALIKE)
    if match["term"] == "-ND":
        obligations.add(Obligation.NO_DERIVATIVES)
    category = Category.USE_RESTRICTED if match["nc"] else _C if match["term"] == "-SA" else _P
    commercial = Commercial.NO if match["nc"] else Commercial.YES
    return ModelLicense(id=key, name=key, commercial=commercial, category=category, obligations=frozenset(obligations))


LICENSES: dict[str, ModelLicense] = {entry.id: entry for entry in [*_MODEL_LICENSES, *_SPDX_LICENSES]}
# lowercase id or alias → canonical id
_INDEX: dict[str, str] = {name.lower(): entry.id for entry in LICENSES.values() for name in (entry.id, *entry.aliases)}


def canonical_id(key: str) -> str | None:
    """The table's id for an id or alias, any case ('llama3.1' → 'LicenseRef-Llama-3.1'); or None."""
    return _INDEX.get(key.strip().lower())


def license_lookup(key: str) -> ModelLicense | None:
    """The table's entry for an id or alias, Creative Commons licenses included; or None."""
    if (found := canonical_id(key)) is not None:
        return LICENSES[found]
    return _creative_commons(key.strip())


def license_attributes(key: str) -> ModelLicense:
    """The entry for `key`, or one whose terms are unknown (a valid SPDX id the table lacks)."""
    return license_lookup(key) or ModelLicense(
        id=key, name=key, commercial=Commercial.UNKNOWN, category=Category.UNKNOWN
    )
