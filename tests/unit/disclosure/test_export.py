"""OSV and CSAF builders against the upstream schemas, including the two gaps we close."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from enclave.disclosure import Case, CaseId, CaseState, Cvss, Finding, FindingId, Validators
from enclave.disclosure.export import InvalidAdvisory, Published, csaf_document, osv_record

NOW = datetime(2026, 12, 1, tzinfo=UTC)
VECTOR = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


def _published(
    purl: str = "pkg:maven/org.example/parser", fixed: str | None = "2.0.1"
) -> Published:
    case = Case(
        id=CaseId("case_1"),
        title="Overflow",
        product=purl,
        state=CaseState.DISCLOSED,
        created_at=NOW,
        updated_at=NOW,
        fixed_version=fixed,
        published_at=NOW,
    )
    finding = Finding(
        id=FindingId("fnd_1"),
        case_id=case.id,
        purl=purl,
        versions=("2.0.0",),
        location="Parser.java:10",
        cwe=787,
        cvss=Cvss(VECTOR, 9.3, "Critical", "cvss 3.6"),
        fingerprint="x",
        reporting_org="Acme",
        session_id=None,
        description=b"",
        poc=None,
        poc_name=None,
        poc_size=0,
        created_at=NOW,
    )
    return Published(
        case=case,
        findings=[finding],
        descriptions={finding.id: "text"},
        credits=["Acme"],
        page_url="https://enclave.example/disclosures/case_1",
    )


@pytest.mark.parametrize(
    "purl",
    [
        "pkg:maven/org.example/parser",
        "pkg:github/acme/tool",
        "pkg:npm/%40scope/pkg",
        "pkg:golang/github.com/a/b",
    ],
)
@pytest.mark.parametrize("fixed", ["2.0.1", None])
def test_exports_validate(validators: Validators, purl: str, fixed: str | None) -> None:
    pub = _published(purl, fixed)
    osv = osv_record(pub, prefix="x_ENCLAVE", now=NOW)
    csaf = csaf_document(pub, publisher="P", namespace="https://p.example", prefix="x_E", now=NOW)
    assert validators.osv_errors(osv) == []
    assert validators.csaf_errors(csaf) == []
    validators.check(osv, csaf)
    assert osv["schema_version"] == "1.7.5"
    notes = csaf["vulnerabilities"][0]["notes"]
    assert any(n["title"] == "CVSS v4.0" and VECTOR in n["text"] for n in notes)


def test_the_gaps_in_the_schemas_are_closed_in_code(validators: Validators) -> None:
    pub = _published()
    osv = osv_record(pub, prefix="x_ENCLAVE", now=NOW)
    csaf = csaf_document(pub, publisher="P", namespace="https://p.example", prefix="x_E", now=NOW)
    no_version = {k: v for k, v in osv.items() if k != "schema_version"}
    assert any("schema_version" in e for e in validators.osv_errors(no_version))
    wrong = copy.deepcopy(csaf)
    wrong["document"]["category"] = "csaf_base"
    del wrong["vulnerabilities"][0]["product_status"]
    errors = validators.csaf_errors(wrong)
    assert any("category" in e for e in errors) and any("product_status" in e for e in errors)
    with pytest.raises(InvalidAdvisory):
        validators.check(no_version, csaf)


def test_schema_checks_are_real(validators: Validators) -> None:
    osv = osv_record(_published(), prefix="x_ENCLAVE", now=NOW)
    del osv["modified"]
    assert validators.osv_errors(osv)
    csaf = csaf_document(
        _published(), publisher="P", namespace="https://p.example", prefix="x_E", now=NOW
    )
    csaf["vulnerabilities"][0]["scores"] = [
        {
            "products": ["CSAFPID-0001"],
            "cvss_v3": {
                "version": "3.1",
                "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "baseScore": 11,
                "baseSeverity": "CRITICAL",
            },
        }
    ]
    assert validators.csaf_errors(csaf)
