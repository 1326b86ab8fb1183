"""The risk taxonomy: category names, descriptions and which ones are high-risk.

Shipped as ``data/taxonomy.toml``; an operator's copy replaces it whole
(``safeguards.taxonomy_path``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from enclave.safeguards.interface import NONE, Category, SafeguardsConfigError

# The list (item 1), in the order the shipped model emits them. `none` is not a
# model output: it is what a score below the category floor is called.
HARMFUL_CATEGORIES: tuple[Category, ...] = tuple(
    Category(name)
    for name in (
        "malware",
        "ransomware",
        "credential-theft",
        "phishing",
        "exploit-third-party",
        "evasion",
        "ddos-botnet",
        "intrusion",
        "data-theft",
    )
)


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    name: Category
    description: str
    high_risk: bool


@dataclass(frozen=True, slots=True)
class Taxonomy:
    categories: Mapping[Category, CategoryInfo]

    def __contains__(self, name: object) -> bool:
        return name in self.categories

    def names(self) -> tuple[Category, ...]:
        return tuple(self.categories)

    def high_risk(self, name: Category) -> bool:
        info = self.categories.get(name)
        return info.high_risk if info is not None else False

    def require(self, emitted: Iterable[Category], *, source: str) -> None:
        """Fail at start when a category the model can emit has no entry."""
        missing = [c for c in (*emitted, NONE) if c not in self.categories]
        if missing:
            raise SafeguardsConfigError(
                f"taxonomy lacks categories {missing} that {source} emits",
                hint="an operator's taxonomy may add categories but not remove the shipped ones",
            )


def shipped_taxonomy_path() -> Path:
    return Path(str(files("enclave.safeguards") / "data" / "taxonomy.toml"))


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Read and validate a taxonomy file (the shipped one by default)."""
    source = path or shipped_taxonomy_path()
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SafeguardsConfigError(f"cannot read taxonomy {source}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SafeguardsConfigError(f"taxonomy {source} is not valid TOML: {exc}") from None
    return parse_taxonomy(raw, source=str(source))


def parse_taxonomy(raw: Mapping[str, Any], *, source: str) -> Taxonomy:
    table = raw.get("categories")
    if not isinstance(table, dict) or not table:
        raise SafeguardsConfigError(f"{source}: expected a [categories.NAME] table per category")
    categories: dict[Category, CategoryInfo] = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise SafeguardsConfigError(f"{source}: categories.{name} must be a table")
        unknown = sorted(set(entry) - {"description", "high_risk"})
        if unknown:
            raise SafeguardsConfigError(
                f"{source}: categories.{name} has unknown keys {unknown}",
                hint="expected description (string) and high_risk (boolean)",
            )
        description = entry.get("description")
        high_risk = entry.get("high_risk", False)
        if not isinstance(description, str) or not description.strip():
            raise SafeguardsConfigError(f"{source}: categories.{name}.description is required")
        if not isinstance(high_risk, bool):
            raise SafeguardsConfigError(f"{source}: categories.{name}.high_risk must be a boolean")
        categories[Category(name)] = CategoryInfo(Category(name), description.strip(), high_risk)
    if NONE not in categories:
        raise SafeguardsConfigError(f"{source}: the category `none` is required")
    if categories[NONE].high_risk:
        raise SafeguardsConfigError(f"{source}: the category `none` cannot be high-risk")
    return Taxonomy(categories)


__all__ = [
    "HARMFUL_CATEGORIES",
    "CategoryInfo",
    "Taxonomy",
    "load_taxonomy",
    "parse_taxonomy",
    "shipped_taxonomy_path",
]
