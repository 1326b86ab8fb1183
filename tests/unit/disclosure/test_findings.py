from __future__ import annotations

import pytest

from enclave.disclosure import DisclosureInputError
from enclave.disclosure.findings import fingerprint, parse_cwe, parse_purl, score_cvss4

VECTOR = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


def test_cvss4_score_and_library_version_recorded() -> None:
    cvss = score_cvss4(VECTOR)
    assert (cvss.score, cvss.severity) == (9.3, "Critical")
    assert cvss.computed_by.startswith("cvss ")


@pytest.mark.parametrize(
    "vector",
    [
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:4.0/AV:X/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "CVSS:4.0/AV:N",
        "",
    ],
)
def test_invalid_cvss_vectors_are_refused(vector: str) -> None:
    with pytest.raises(DisclosureInputError, match="invalid CVSS vector"):
        score_cvss4(vector)


def test_purls() -> None:
    assert parse_purl("pkg:maven/org.apache.logging/log4j-core@2.14").osv_name == (
        "org.apache.logging:log4j-core"
    )
    assert parse_purl("pkg:PyPI/Example_Lib").purl == "pkg:pypi/example-lib"
    assert parse_purl("pkg:npm/%40scope/pkg").osv_name == "@scope/pkg"
    with pytest.raises(DisclosureInputError, match="unknown purl type 'frobnicator'"):
        parse_purl("pkg:frobnicator/thing")
    with pytest.raises(DisclosureInputError, match="not a package URL"):
        parse_purl("https://example.com/x")


def test_cwe() -> None:
    assert parse_cwe("CWE-787") == parse_cwe("787") == parse_cwe(787) == 787
    with pytest.raises(DisclosureInputError):
        parse_cwe("CWE-abc")


def test_fingerprint_normalises_location() -> None:
    pkg = parse_purl("pkg:pypi/x")
    assert fingerprint(pkg, 787, "./src/Foo.c:120 ") == fingerprint(pkg, 787, "src/foo.c:120")
    assert fingerprint(pkg, 787, "src/foo.c:120") != fingerprint(pkg, 125, "src/foo.c:120")
    assert fingerprint(pkg, 787, "src/foo.c:120") != fingerprint(
        parse_purl("pkg:pypi/y"), 787, "src/foo.c:120"
    )
