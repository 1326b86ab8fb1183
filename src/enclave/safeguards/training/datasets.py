"""Training and evaluation sources, their labels and their mapping onto the taxonomy.

Public sets live in the shared data folder (``--data-dir``; each folder's README gives the
source and licence); our own labelled set ships in the package (data/labelled.jsonl, see
data/README.md). Every source keeps its name, because results are reported per source and
sources are held out whole (DESIGN.md: a classifier that separates two sets may only have
learnt their templates).

Category mapping (documented in docs/safeguards.md): each public category maps to one
taxonomy category; keyword rules then refine it where the text names something more
specific (a "Malware Attacks" prompt about ransomware is `ransomware`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal

from enclave.safeguards.interface import NONE, Category, SafeguardsInputError
from enclave.safeguards.taxonomy import HARMFUL_CATEGORIES

Split = Literal["train", "calibration", "test"]
Group = Literal["harmful", "benign-security", "non-security"]


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    harmful: bool
    category: Category  # NONE for benign examples
    source: str


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    group: Group
    description: str
    load: Callable[[Path], list[Example]]


# -- category mapping ----------------------------------------------------------------

MITRE_MAP = {
    "C2": "malware",
    "Collection": "data-theft",
    "Discovery": "intrusion",
    "Evasion": "evasion",
    "Execution": "malware",
    "Exfil": "data-theft",
    "Lateral Movement": "intrusion",
    "Persistence": "malware",
    "Privilege Escalation": "intrusion",
    "Recon": "intrusion",
}
INTERPRETER_MAP = {
    "Privilege Escalation": "intrusion",
    "Container Escape": "intrusion",
    "Reflected Attack": "exploit-third-party",
    "Post Exploitation": "intrusion",
    "Social Engineering": "phishing",
}
CYSECBENCH_MAP = {
    "Network Attacks": "intrusion",
    "Intrusion Techniques": "intrusion",
    "Malware Attacks": "malware",
    "Cloud Attacks": "exploit-third-party",
    "Hardware Attacks": "exploit-third-party",
    "Cryptographic Attacks": "exploit-third-party",
    "IoT Attacks": "exploit-third-party",
    "Web Application Attacks": "exploit-third-party",
    "Control System Attacks": "exploit-third-party",
    "Evasion Techniques": "evasion",
}
# Most specific first: the first rule whose pattern occurs wins.
KEYWORD_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ransomware", re.compile(r"ransom|encrypts? (all|the victim|every)|shadow cop", re.I)),
    ("phishing", re.compile(r"phish|social engineer|pretext|spoofed? e-?mail", re.I)),
    ("ddos-botnet", re.compile(r"\bd?dos\b|denial[- ]of[- ]service|botnet|flood|amplif", re.I)),
    (
        "credential-theft",
        re.compile(
            r"credential|password|keylog|mimikatz|lsass|hash(es)? dump|cookie|session token"
            r"|brute[- ]?forc|spray",
            re.I,
        ),
    ),
    ("data-theft", re.compile(r"exfiltrat|steal(ing)? (data|files|records)", re.I)),
)


def map_category(default: str, text: str) -> Category:
    for category, pattern in KEYWORD_RULES:
        if pattern.search(text):
            return Category(category)
    if default not in HARMFUL_CATEGORIES:
        raise SafeguardsInputError(f"category map names unknown category {default!r}")
    return Category(default)


# -- loaders ---------------------------------------------------------------------------


def _read_json(path: Path) -> list[dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SafeguardsInputError(
            f"cannot read {path}: {exc.strerror}",
            hint="point --data-dir (ENCLAVE_CLI_SAFEGUARDS_DATA_DIR) at the shared data folder",
        ) from None
    if not isinstance(data, list):
        raise SafeguardsInputError(f"{path}: expected a JSON array")
    return [row for row in data if isinstance(row, dict)]


def _usable(text: object) -> str | None:
    # 7 MITRE rows hold the spreadsheet artefact "#ERROR!" and 23 have no prompt.
    if not isinstance(text, str) or len(text.strip()) < 8 or text.strip() == "#ERROR!":
        return None
    return text.strip()


def load_mitre(data_dir: Path) -> list[Example]:
    rows = _read_json(data_dir / "cyberseceval" / "mitre_benchmark_100_per_category.json")
    out = []
    for row in rows:
        text = _usable(row.get("user_prompt"))
        if text is not None:
            default = MITRE_MAP[str(row["category"])]
            out.append(Example(text, True, map_category(default, text), "mitre"))
    return out


def load_interpreter(data_dir: Path) -> list[Example]:
    rows = _read_json(data_dir / "cyberseceval" / "interpreter.json")
    out = []
    for row in rows:
        text = _usable(row.get("mutated_prompt"))
        kinds = row.get("attack_type")
        if text is not None and isinstance(kinds, list) and kinds:
            default = INTERPRETER_MAP[str(kinds[0])]
            out.append(Example(text, True, map_category(default, text), "interpreter"))
    return out


def load_cysecbench(data_dir: Path) -> list[Example]:
    path = data_dir / "cysecbench" / "cysecbench.csv"
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise SafeguardsInputError(f"cannot read {path}: {exc.strerror}") from None
    out = []
    for row in rows:
        text = _usable(row.get("Prompt"))
        if text is not None:
            default = CYSECBENCH_MAP[row["Category"]]
            out.append(Example(text, True, map_category(default, text), "cysecbench"))
    return out


def _load_frr(data_dir: Path, filename: str, source: str) -> list[Example]:
    rows = _read_json(data_dir / "cyberseceval" / filename)
    texts = (_usable(row.get("mutated_prompt")) for row in rows)
    return [Example(t, False, NONE, source) for t in texts if t is not None]


def load_frr(data_dir: Path) -> list[Example]:
    return _load_frr(data_dir, "mitre_frr.json", "frr")


def load_frr_multilingual(data_dir: Path) -> list[Example]:
    return _load_frr(data_dir, "frr_multilingual_machine_translated.json", "frr-multilingual")


def load_xstest_safe(data_dir: Path) -> list[Example]:
    path = data_dir / "xstest" / "xstest_prompts.csv"
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise SafeguardsInputError(f"cannot read {path}: {exc.strerror}") from None
    texts = (_usable(r.get("prompt")) for r in rows if r.get("label") == "safe")
    return [Example(t, False, NONE, "xstest-safe") for t in texts if t is not None]


def own_set_path() -> Path:
    return Path(str(files("enclave.safeguards") / "data" / "labelled.jsonl"))


OWN_KINDS = {
    "harmful": "own-harmful",
    "benign-security": "own-benign-security",
    "benign-general": "own-non-security",
}


def load_own(path: Path | None = None) -> list[Example]:
    """Our labelled set; each line {id, text, kind, category, style}."""
    source = path or own_set_path()
    out = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        kind = row["kind"]
        if kind not in OWN_KINDS:
            raise SafeguardsInputError(f"{source}:{number}: unknown kind {kind!r}")
        harmful = kind == "harmful"
        category = Category(row["category"]) if harmful else NONE
        if harmful and category not in HARMFUL_CATEGORIES:
            raise SafeguardsInputError(f"{source}:{number}: unknown category {category!r}")
        out.append(Example(row["text"], harmful, category, OWN_KINDS[kind]))
    return out


def _own_part(name: str) -> Callable[[Path], list[Example]]:
    def load(_: Path) -> list[Example]:
        return [e for e in load_own() if e.source == name]

    return load


SOURCES: tuple[Source, ...] = (
    Source("mitre", "harmful", "CyberSecEval MITRE prompts (970 usable)", load_mitre),
    Source("interpreter", "harmful", "CyberSecEval interpreter abuse", load_interpreter),
    Source("cysecbench", "harmful", "CySecBench attack questions", load_cysecbench),
    Source("own-harmful", "harmful", "our set: harmful requests", _own_part("own-harmful")),
    Source("frr", "benign-security", "CyberSecEval FRR (borderline benign)", load_frr),
    Source(
        "frr-multilingual",
        "benign-security",
        "CyberSecEval FRR, machine-translated (7 languages)",
        load_frr_multilingual,
    ),
    Source(
        "own-benign-security",
        "benign-security",
        "our set: everyday defensive and educational security questions",
        _own_part("own-benign-security"),
    ),
    Source("xstest-safe", "non-security", "XSTest safe prompts (look unsafe)", load_xstest_safe),
    Source(
        "own-non-security",
        "non-security",
        "our set: non-security requests",
        _own_part("own-non-security"),
    ),
)
SOURCE_NAMES = tuple(s.name for s in SOURCES)


def source(name: str) -> Source:
    for candidate in SOURCES:
        if candidate.name == name:
            return candidate
    raise SafeguardsInputError(f"unknown source {name!r}; expected one of {SOURCE_NAMES}")


def split_of(example: Example) -> Split:
    """A stable split from a hash of the source and text: 70% train, 10% calibration,
    20% test, independent of file order and of which other sources are loaded."""
    digest = hashlib.sha256(f"{example.source}\0{example.text}".encode()).digest()
    bucket = int.from_bytes(digest[:4], "big") % 100
    if bucket < 70:
        return "train"
    return "calibration" if bucket < 80 else "test"


def load_all(data_dir: Path) -> dict[str, list[Example]]:
    return {s.name: s.load(data_dir) for s in SOURCES}


def iter_split(examples: dict[str, list[Example]], split: Split) -> Iterator[Example]:
    for rows in examples.values():
        yield from (e for e in rows if split_of(e) == split)


__all__ = [
    "KEYWORD_RULES",
    "OWN_KINDS",
    "SOURCES",
    "SOURCE_NAMES",
    "Example",
    "Group",
    "Source",
    "Split",
    "iter_split",
    "load_all",
    "load_own",
    "map_category",
    "own_set_path",
    "source",
    "split_of",
]
