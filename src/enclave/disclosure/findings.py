"""Finding input: package URL, CWE, CVSS 4.0 and the duplicate fingerprint.

The CVSS 4.0 vector is the source of truth; the score is derived with the ``cvss`` package
and stored next to the library version that computed it, so that a later library release
that changes the FIRST lookup table can be told apart from a changed vector.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.metadata import version as dist_version
from urllib.parse import unquote

from cvss import CVSS4, CVSSError

from enclave.disclosure.interface import Cvss, DisclosureInputError

# purl type -> OSV ecosystem (https://ossf.github.io/osv-schema/#affectedpackage-field and
# the purl spec's PURL-TYPES.rst). A type with no OSV ecosystem could not be exported, so
# it is refused at submission rather than at publication.
PURL_ECOSYSTEMS: dict[str, str] = {
    "cargo": "crates.io",
    "composer": "Packagist",
    "conan": "ConanCenter",
    "cran": "CRAN",
    "gem": "RubyGems",
    "github": "GIT",
    "golang": "Go",
    "hackage": "Hackage",
    "hex": "Hex",
    "maven": "Maven",
    "npm": "npm",
    "nuget": "NuGet",
    "pub": "Pub",
    "pypi": "PyPI",
    "swift": "SwiftURL",
}

_PURL = re.compile(
    r"^pkg:(?P<type>[A-Za-z][A-Za-z0-9.+-]*)/(?P<path>[^@?#]+)(?:@[^?#]*)?(?:\?[^#]*)?(?:#.*)?$"
)
_VECTOR_MAX = 300


@dataclass(frozen=True, slots=True)
class Package:
    type: str
    namespace: str | None
    name: str

    @property
    def ecosystem(self) -> str:
        return PURL_ECOSYSTEMS[self.type]

    @property
    def purl(self) -> str:
        """The versionless purl: the product a case is about."""
        middle = f"{self.namespace}/" if self.namespace else ""
        return f"pkg:{self.type}/{middle}{self.name}"

    @property
    def osv_name(self) -> str:
        # OSV names: Maven "group:artifact", Go/npm full path, GIT the repository URL.
        if self.type == "maven" and self.namespace:
            return f"{self.namespace}:{self.name}"
        if self.type == "github" and self.namespace:
            return f"https://github.com/{self.namespace}/{self.name}"
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def parse_purl(text: str) -> Package:
    """Parse a package URL (https://github.com/package-url/purl-spec); refuse unknown types."""
    match = _PURL.match(text.strip())
    if match is None:
        raise DisclosureInputError(
            f"not a package URL: {text!r}",
            hint="expected pkg:TYPE/NAMESPACE/NAME, e.g. pkg:pypi/requests",
        )
    kind = match["type"].lower()
    if kind not in PURL_ECOSYSTEMS:
        raise DisclosureInputError(
            f"unknown purl type {kind!r}",
            hint=f"supported types: {', '.join(sorted(PURL_ECOSYSTEMS))}",
        )
    parts = [unquote(p) for p in match["path"].strip("/").split("/") if p]
    if not parts:
        raise DisclosureInputError(f"package URL {text!r} has no name")
    namespace = "/".join(parts[:-1]) or None
    name = parts[-1]
    if kind == "pypi":  # PyPI names are case-insensitive, "_" is "-" (purl spec, PEP 503)
        name = name.lower().replace("_", "-")
    return Package(type=kind, namespace=namespace, name=name)


def parse_cwe(value: str | int) -> int:
    text = str(value).strip().upper().removeprefix("CWE-")
    if not text.isdigit() or not 0 < int(text) < 100_000:
        raise DisclosureInputError(f"not a CWE id: {value!r}", hint="expected e.g. CWE-787 or 787")
    return int(text)


def score_cvss4(vector: str) -> Cvss:
    """Score a CVSS 4.0 vector; refuse anything else (v3 vectors included)."""
    text = vector.strip()
    if not text.startswith("CVSS:4.0/") or len(text) > _VECTOR_MAX:
        raise DisclosureInputError(
            f"invalid CVSS vector {vector[:80]!r}: expected a CVSS 4.0 vector",
            hint="e.g. CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        )
    try:
        parsed = CVSS4(text)
    except CVSSError as exc:
        raise DisclosureInputError(f"invalid CVSS vector {text!r}: {exc}") from None
    return Cvss(
        vector=parsed.clean_vector(),
        score=float(parsed.base_score),
        severity=str(parsed.severity),
        computed_by=f"cvss {dist_version('cvss')}",
    )


def normalise_location(location: str) -> str:
    """The location as compared for duplicates: trimmed, lower-case, forward slashes, no
    leading './', whitespace collapsed. "src/Foo.c:120 " and "./src/foo.c:120" match."""
    text = " ".join(location.strip().replace("\\", "/").split()).lower()
    while text.startswith("./"):
        text = text[2:]
    return text


def fingerprint(package: Package, cwe: int, location: str) -> str:
    key = f"{package.purl}\n{cwe}\n{normalise_location(location)}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


__all__ = [
    "PURL_ECOSYSTEMS",
    "Package",
    "fingerprint",
    "normalise_location",
    "parse_cwe",
    "parse_purl",
    "score_cvss4",
]
