"""Publication formats: OSV 1.7 and CSAF 2.0, each validated before it leaves.

Two gaps in the schemas are closed here (see docs/disclosure.md, "Export"):

* The OSV JSON schema requires only ``id`` and ``modified``; the prose spec (1.7.5, section
  "schema_version") requires ``schema_version`` for versions above 1.0.0. We always write
  it and :func:`validate_osv` refuses a record without a 1.7.x one.
* CSAF 2.0 scores carry only CVSS v2/v3 (``scores[].cvss_v3``); a CVSS 4.0 vector does not
  fit and converting it to a v3 vector would invent a different assessment. We therefore put
  no ``scores`` entry and publish the 4.0 vector, its score and the scoring library in a
  vulnerability note titled "CVSS v4.0" (category "other"), which CSAF consumers display.
  The CSAF "Security Advisory" profile rules (spec section 4.5), which are prose and not in
  the JSON schema, are checked by :func:`validate_csaf`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT7

from enclave.disclosure.findings import parse_purl
from enclave.disclosure.interface import Case, DisclosureError, Finding, FindingId
from enclave.errors import ConfigError

# The OSV and CSAF 2.0 schemas, copied unchanged from upstream (see schemas/README.md).
SHIPPED_SCHEMAS = Path(__file__).parent / "schemas"

OSV_SCHEMA_VERSION = "1.7.5"

# Names from the CWE list (cwe.mitre.org, 2024 Top 25); CSAF requires a name with the id.
CWE_NAMES: dict[int, str] = {
    20: "Improper Input Validation",
    22: "Improper Limitation of a Pathname to a Restricted Directory ('Path Traversal')",
    77: "Improper Neutralization of Special Elements used in a Command ('Command Injection')",
    78: "Improper Neutralization of Special Elements used in an OS Command "
    "('OS Command Injection')",
    79: "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')",
    89: "Improper Neutralization of Special Elements used in an SQL Command ('SQL Injection')",
    94: "Improper Control of Generation of Code ('Code Injection')",
    119: "Improper Restriction of Operations within the Bounds of a Memory Buffer",
    125: "Out-of-bounds Read",
    190: "Integer Overflow or Wraparound",
    200: "Exposure of Sensitive Information to an Unauthorized Actor",
    269: "Improper Privilege Management",
    287: "Improper Authentication",
    306: "Missing Authentication for Critical Function",
    352: "Cross-Site Request Forgery (CSRF)",
    400: "Uncontrolled Resource Consumption",
    416: "Use After Free",
    434: "Unrestricted Upload of File with Dangerous Type",
    476: "NULL Pointer Dereference",
    502: "Deserialization of Untrusted Data",
    787: "Out-of-bounds Write",
    798: "Use of Hard-coded Credentials",
    862: "Missing Authorization",
    863: "Incorrect Authorization",
    918: "Server-Side Request Forgery (SSRF)",
}


class InvalidAdvisory(DisclosureError):
    """An export failed its schema: a bug here, never the user's input (500 / exit 1)."""

    code = "invalid_advisory"
    status = 500


@dataclass(frozen=True, slots=True)
class Published:
    """What an advisory needs beyond the stored rows: the decrypted descriptions."""

    case: Case
    findings: Sequence[Finding]  # originals only, duplicates are credited not repeated
    descriptions: dict[FindingId, str]  # finding id -> plaintext
    credits: Sequence[str]  # reporting organisations (incl. those of duplicates)
    page_url: str


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def osv_record(pub: Published, *, prefix: str, now: datetime) -> dict[str, Any]:
    case = pub.case
    first = pub.findings[0]
    package = parse_purl(first.purl)
    versions = sorted({v for f in pub.findings for v in f.versions})
    affected: dict[str, Any] = {
        "package": {"ecosystem": package.ecosystem, "name": package.osv_name, "purl": package.purl},
        "versions": versions,
    }
    if case.fixed_version and package.ecosystem != "GIT":
        affected["ranges"] = [
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": case.fixed_version}]}
        ]
    details = "\n\n".join(pub.descriptions[f.id] for f in pub.findings)
    return {
        "schema_version": OSV_SCHEMA_VERSION,
        "id": f"{prefix}-{case.id}",
        "modified": _ts(now),
        "published": _ts(case.published_at or now),
        "summary": case.title[:120],
        "details": details,
        "affected": [affected],
        "severity": [{"type": "CVSS_V4", "score": first.cvss.vector}],
        "references": [{"type": "ADVISORY", "url": pub.page_url}],
        "credits": [{"name": org, "type": "FINDER"} for org in pub.credits],
        "database_specific": {
            "cwe_ids": sorted({f"CWE-{f.cwe}" for f in pub.findings}),
            "cvss_v4_score": first.cvss.score,
            "cvss_score_computed_by": first.cvss.computed_by,
        },
    }


def csaf_document(
    pub: Published, *, publisher: str, namespace: str, prefix: str, now: datetime
) -> dict[str, Any]:
    case = pub.case
    package = parse_purl(pub.findings[0].purl)
    vendor = package.namespace or package.name
    ids: dict[str, str] = {}
    version_branches = []
    for number, version in enumerate(sorted({v for f in pub.findings for v in f.versions}), 1):
        ids[version] = f"CSAFPID-{number:04d}"
        version_branches.append(_version_branch(package.purl, package.name, version, ids[version]))
    if case.fixed_version and case.fixed_version not in ids:
        ids[case.fixed_version] = f"CSAFPID-{len(ids) + 1:04d}"
        version_branches.append(
            _version_branch(package.purl, package.name, case.fixed_version, ids[case.fixed_version])
        )
    fixed = [ids[case.fixed_version]] if case.fixed_version else []
    affected = sorted(pid for v, pid in ids.items() if pid not in fixed)
    published = _ts(case.published_at or now)
    vulnerabilities = []
    for finding in pub.findings:
        status: dict[str, list[str]] = {"known_affected": affected}
        if fixed:
            status["fixed"] = fixed
        vulnerability: dict[str, Any] = {
            "cwe": {
                "id": f"CWE-{finding.cwe}",
                "name": CWE_NAMES.get(finding.cwe, f"CWE-{finding.cwe}"),
            },
            "notes": [
                {
                    "category": "description",
                    "title": "Description",
                    "text": pub.descriptions[finding.id],
                },
                {
                    "category": "other",
                    "title": "CVSS v4.0",
                    "text": f"{finding.cvss.vector} (base score {finding.cvss.score}, "
                    f"{finding.cvss.severity}; computed by {finding.cvss.computed_by})",
                },
            ],
            "product_status": status,
        }
        if fixed:
            vulnerability["remediations"] = [
                {
                    "category": "vendor_fix",
                    "details": f"Upgrade to {case.fixed_version}.",
                    "product_ids": fixed,
                }
            ]
        vulnerabilities.append(vulnerability)
    return {
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "title": case.title,
            "publisher": {"category": "coordinator", "name": publisher, "namespace": namespace},
            "tracking": {
                "id": f"{prefix}-{case.id}",
                "status": "final",
                "version": "1",
                "initial_release_date": published,
                "current_release_date": published,
                "revision_history": [
                    {"date": published, "number": "1", "summary": "Initial publication."}
                ],
            },
            "acknowledgments": [{"organization": org} for org in pub.credits],
            "references": [{"category": "self", "summary": "Public page", "url": pub.page_url}],
        },
        "product_tree": {
            "branches": [
                {
                    "category": "vendor",
                    "name": vendor,
                    "branches": [
                        {
                            "category": "product_name",
                            "name": package.name,
                            "branches": version_branches,
                        }
                    ],
                }
            ]
        },
        "vulnerabilities": vulnerabilities,
    }


def _version_branch(purl: str, name: str, version: str, pid: str) -> dict[str, Any]:
    return {
        "category": "product_version",
        "name": version,
        "product": {
            "product_id": pid,
            "name": f"{name} {version}",
            "product_identification_helper": {"purl": f"{purl}@{version}"},
        },
    }


class Validators:
    """The two schemas, loaded once from ``schema_dir`` (offline; see its README)."""

    def __init__(self, schema_dir: Path) -> None:
        try:
            osv = _load(schema_dir / "osv" / "schema.json")
            csaf = _load(schema_dir / "csaf-2.0" / "csaf_json_schema.json")
            first = schema_dir / "csaf-2.0" / "referenced_schema" / "first"
            # The CSAF schema $refs FIRST's CVSS schemas by un-suffixed URL, each in its own
            # draft (README of the schema folder).
            registry: Registry[Any] = Registry().with_resources(
                [
                    (
                        f"https://www.first.org/cvss/cvss-v{v}.json",
                        Resource.from_contents(
                            _load(first / f"cvss-v{v}.json"), default_specification=spec
                        ),
                    )
                    for v, spec in (("2.0", DRAFT4), ("3.0", DRAFT4), ("3.1", DRAFT7))
                ]
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load advisory schemas from {schema_dir}: {exc}",
                hint="set disclosure.schema_dir (env ENCLAVE_DISCLOSURE__SCHEMA_DIR)",
            ) from None
        self._osv = Draft202012Validator(osv, format_checker=Draft202012Validator.FORMAT_CHECKER)
        self._csaf = Draft202012Validator(csaf, registry=registry)

    def osv_errors(self, record: dict[str, Any]) -> list[str]:
        errors = [f"{_where(e.absolute_path)}: {e.message}" for e in self._osv.iter_errors(record)]
        version = record.get("schema_version")
        if not isinstance(version, str) or not version.startswith("1.7."):
            errors.append("schema_version: required for OSV > 1.0.0 and must be 1.7.x")
        return errors

    def csaf_errors(self, doc: dict[str, Any]) -> list[str]:
        errors = [f"{_where(e.absolute_path)}: {e.message}" for e in self._csaf.iter_errors(doc)]
        if doc.get("document", {}).get("category") != "csaf_security_advisory":
            errors.append("document.category: must be csaf_security_advisory (profile 4.5)")
        if "product_tree" not in doc:
            errors.append("product_tree: required by the Security Advisory profile")
        for n, vuln in enumerate(doc.get("vulnerabilities") or [{}]):
            errors.extend(
                f"vulnerabilities/{n}/{key}: required by the Security Advisory profile"
                for key in ("notes", "product_status")
                if key not in vuln
            )
        return errors

    def check(self, osv: dict[str, Any], csaf: dict[str, Any]) -> None:
        problems = [f"OSV {e}" for e in self.osv_errors(osv)] + [
            f"CSAF {e}" for e in self.csaf_errors(csaf)
        ]
        if problems:
            raise InvalidAdvisory("advisory export failed validation: " + "; ".join(problems[:5]))


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _where(path: Any) -> str:
    return "/".join(str(p) for p in path) or "(root)"


__all__ = [
    "SHIPPED_SCHEMAS",
    "CWE_NAMES",
    "OSV_SCHEMA_VERSION",
    "InvalidAdvisory",
    "Published",
    "Validators",
    "csaf_document",
    "osv_record",
]
