"""Regenerate the generated blocks of README.md: the output of `enclave --help` and the
settings table (one row per field of enclave.config.Settings, described by the comment
above the field). tests/integration/test_readme.py runs `--check`, so a new command group
or setting fails the suite until this is re-run (as pip-audit and sigstore keep their
READMEs' help text true in CI).

    .venv/bin/python scripts/readme_help.py           # rewrite README.md in place
    .venv/bin/python scripts/readme_help.py --check   # exit 1 if README.md is stale
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from enclave.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
ENCLAVE = Path(sys.executable).with_name("enclave")
WIDTH = "100"


def help_text() -> str:
    """`enclave --help` as a 100-column terminal shows it, without colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    for name in ("TERMINAL_WIDTH", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    env.update(COLUMNS=WIDTH, NO_COLOR="1", PYTHONIOENCODING="utf-8")
    done = subprocess.run(
        [str(ENCLAVE), "--help"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"`enclave --help` failed (exit {done.returncode}):\n{done.stderr}")
    lines = [line.rstrip() for line in done.stdout.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "```text\n$ enclave --help\n" + "\n".join(lines) + "\n```"


def _comments() -> dict[str, tuple[str, str | None]]:
    """For each field of Settings: the comment block right above it, and for a field
    without one, the field heading its group (the nearest one above with a comment, no
    blank line between them), as in `log_origin`'s comment describing the three log_*."""
    found: dict[str, tuple[str, str | None]] = {}
    pending: list[str] = []
    head: str | None = None
    for line in inspect.getsource(Settings).splitlines():
        stripped = line.strip()
        field = re.match(r"^    (\w+)\s*:", line)
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
        elif field:
            name = field.group(1)
            if pending:
                found[name], head = (" ".join(pending), None), name
            else:
                found[name] = ("", head)
            pending = []
        elif not stripped:
            pending, head = [], None
    return found


def _default(name: str, info: Any) -> str:
    value = info.default
    if value is PydanticUndefined and info.default_factory is not None:
        value = info.default_factory()
    if value is None or isinstance(value, SecretStr):
        return "unset"
    if isinstance(value, BaseModel):
        return f"`[{name}]` table"
    if isinstance(value, dict):
        return ", ".join(f"`{k}`" for k in value) or "none"
    if isinstance(value, tuple | list):
        return ", ".join(f"`{v}`" for v in value)
    return f"`{value}`"


def _model_doc(annotation: Any) -> str:
    """For a field typed as a model (or a dict of them) without a comment: the model's
    docstring, first paragraph."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel) and candidate.__doc__:
            return " ".join(candidate.__doc__.split("\n\n")[0].split())
    return ""


def settings_table() -> str:
    comments = _comments()
    rows = [
        "| setting | environment variable | default | what it is |",
        "| --- | --- | --- | --- |",
    ]
    for name, info in Settings.model_fields.items():
        own, head = comments.get(name, ("", None))
        what = own or _model_doc(info.annotation) or (f"See `{head}`." if head else "")
        what = what.replace("|", "\\|")
        env = f"`ENCLAVE_{name.upper()}`"
        rows.append(f"| `{name}` | {env} | {_default(name, info)} | {what} |")
    return "\n".join(rows)


BLOCKS = {"enclave --help": help_text, "settings": settings_table}


def render(text: str) -> str:
    for name, produce in BLOCKS.items():
        begin = f"<!-- BEGIN GENERATED {name} (scripts/readme_help.py) -->"
        end = f"<!-- END GENERATED {name} -->"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        found = pattern.search(text)
        if found is None:
            raise SystemExit(f"README.md has no block {begin!r} ... {end!r}")
        text = f"{text[: found.start()]}{begin}\n{produce()}\n{end}{text[found.end() :]}"
    return text


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    wanted = render(current)
    if "--check" in argv:
        if current != wanted:
            print(
                "README.md is stale: run .venv/bin/python scripts/readme_help.py", file=sys.stderr
            )
            return 1
        return 0
    if current != wanted:
        README.write_text(wanted, encoding="utf-8")
        print("README.md updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
