"""Sortable, paginated tables driven by the query string (``?sort=name&dir=desc&page=2``).

Pages hand the rows a service returned and the columns; the ``ui.table`` macro
(templates/macros.html) draws the headers as sort links and the pager. Bad values are an
InputError (a 400 page), never silently replaced, so a link that names a column that does
not exist says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from enclave.errors import InputError

T = TypeVar("T")
E = TypeVar("E", bound=Enum)

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
MAX_PAGE = 1_000_000


@dataclass(frozen=True, slots=True)
class Column(Generic[T]):
    """One column: its query-string ``key``, its heading, and how to sort by it (None:
    not sortable). The key function should return comparable values for every row."""

    key: str
    label: str
    sort: Callable[[T], Any] | None = None


def text_key(value: str | None) -> tuple[bool, str]:
    return (value is None, (value or "").casefold())


@dataclass(frozen=True, slots=True)
class TableView(Generic[T]):
    rows: Sequence[T]  # this page's rows
    columns: Sequence[Column[T]]
    total: int
    page: int
    pages: int
    per: int
    sort: str
    desc: bool
    query: Mapping[str, str]  # the request's other parameters (filters), kept in links

    def href(self, **changes: object) -> str:
        """This table's URL (query string only) with some parameters changed."""
        params = {**self.query, "sort": self.sort, "dir": "desc" if self.desc else "asc"}
        params["page"] = str(self.page)
        params["per"] = str(self.per)
        params.update({k: str(v) for k, v in changes.items()})
        return "?" + urlencode(params)

    def sort_href(self, key: str) -> str:
        desc = not self.desc if key == self.sort else False
        return self.href(sort=key, dir="desc" if desc else "asc", page=1)

    def aria_sort(self, key: str) -> str:
        if key != self.sort:
            return "none"
        return "descending" if self.desc else "ascending"


def _int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 7:
        raise InputError(f"{name} must be a positive whole number, not {raw[:40]!r}")
    return int(raw)


def enum_filter(raw: str | None, kind: type[E], what: str) -> E | None:
    """A filter from the query string: None when absent or empty, else one of ``kind``'s
    values (an InputError naming ``what`` and the values otherwise)."""
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise InputError(
            f"unknown {what} {raw[:40]!r}",
            hint=f"one of {', '.join(str(k.value) for k in kind)}",
        ) from None


def paginate(
    rows: Sequence[T],
    params: Mapping[str, str],
    columns: Sequence[Column[T]],
    *,
    default_sort: str,
    default_desc: bool = False,
) -> TableView[T]:
    """Sort and cut ``rows`` as the query string ``params`` asks."""
    sortable = {c.key: c for c in columns if c.sort is not None}
    assert default_sort in sortable, default_sort
    sort = params.get("sort") or default_sort
    if sort not in sortable:
        raise InputError(
            f"cannot sort by {sort[:40]!r}", hint=f"sort by one of {', '.join(sortable)}"
        )
    direction = params.get("dir") or ("desc" if default_desc else "asc")
    if direction not in ("asc", "desc"):
        raise InputError(f"dir must be asc or desc, not {direction[:40]!r}")
    per = _int(params, "per", DEFAULT_PAGE_SIZE)
    if per not in PAGE_SIZES:
        raise InputError(f"per must be one of {', '.join(map(str, PAGE_SIZES))}")
    page = _int(params, "page", 1)
    if not 1 <= page <= MAX_PAGE:
        raise InputError("page must be at least 1")
    key = sortable[sort].sort
    assert key is not None
    ordered = sorted(rows, key=key, reverse=direction == "desc")
    pages = max(1, -(-len(ordered) // per))
    if page > pages:
        raise InputError(f"page {page} does not exist; the table has {pages} page(s)")
    kept = {k: v for k, v in params.items() if k not in ("sort", "dir", "page", "per")}
    return TableView(
        rows=ordered[(page - 1) * per : page * per],
        columns=columns,
        total=len(ordered),
        page=page,
        pages=pages,
        per=per,
        sort=sort,
        desc=direction == "desc",
        query=kept,
    )


__all__ = ["PAGE_SIZES", "Column", "TableView", "enum_filter", "paginate", "text_key"]
