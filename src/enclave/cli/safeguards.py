"""`enclave safeguards`: classify prompts, train the shipped model, evaluate it.

``classify --tier TIER`` reads JSON lines ``{"id": ..., "text": ...}`` on stdin and writes
one line per input, ``{"id", "category", "score", "advice"}`` (advice: allow, flag or
block), in input order. Advice is what the loaded Cedar policies decide for a request of
that tier (a probe key of the tier, its `general` purpose, risk context from the verdict);
``--advice-from thresholds`` uses the ``safeguards.thresholds`` table instead. A bad line
gets ``{"id", "error": {"code", "message"}}`` in its place and the command exits 2 at the
end. See docs/safeguards.md.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

import orjson
import typer

from enclave.cli import _common
from enclave.config import Settings
from enclave.errors import ConfigError
from enclave.policy import Advice as PolicyAdvice
from enclave.policy import Facts, PolicyEngine, Subject
from enclave.policy.entities import decimal_text
from enclave.safeguards import (
    Advice,
    AdviceSource,
    Safeguards,
    SafeguardsInputError,
    ThresholdAdvice,
    Verdict,
)
from enclave.safeguards.config import PUBLIC_BLOCK_AT
from enclave.safeguards.training import TrainParams, package_data_dir, run_eval, train
from enclave.safeguards.training.evaluate import render_markdown
from enclave.safeguards.training.pipeline import DEFAULT_SEED

app = typer.Typer(
    help="Safeguards: classify prompts (JSON lines), train and evaluate the classifier.",
    no_args_is_help=True,
)

AdviceFrom = Literal["policy", "thresholds"]
DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="ENCLAVE_CLI_SAFEGUARDS_DATA_DIR",
        help="Folder with cyberseceval/, cysecbench/, xstest/ (the shared data set).",
    ),
]
DEFAULT_DATA_DIR = Path("../shared/data")


class PolicyAdviceSource:
    """Advice from the Cedar policies, for a probe key of each tier (as the subtraction
    table probes them): the tier's purposes, no asset scope, the tier's first listed model."""

    def __init__(self, engine: PolicyEngine, purpose: str | None) -> None:
        self._engine = engine
        self._purpose = purpose
        self._facts: dict[str, Facts] = {}

    def _base(self, tier: str) -> Facts:
        cached = self._facts.get(tier)
        if cached is not None:
            return cached
        config = self._engine.tiers.get(tier)
        if config is None:
            raise SafeguardsInputError(
                f"unknown tier {tier!r}", hint=f"configured tiers: {', '.join(self._engine.tiers)}"
            )
        purpose = self._purpose or ("general" if "general" in config.purposes else None)
        if purpose is None or purpose not in config.purposes:
            raise SafeguardsInputError(
                f"tier {tier} has no purpose {purpose or 'general'!r}",
                hint=f"pass --purpose, one of {', '.join(config.purposes)}",
            )
        models = [m for m in config.models if m != "*"]
        model = models[0] if models else "any-model"
        subject = Subject(
            key_id=f"probe-{tier}",
            key_purposes=config.purposes,
            key_scope=(),
            org_id=f"probe-{tier}",
            org_kind=tier,
            org_sector="",
            tier=tier,
        )
        facts = Facts(subject, "invoke", model, model, purpose, "cli", "none", "0.0000")
        baseline = self._engine.decide_facts(facts)
        if not baseline.allowed:
            # Every line would be "block" whatever its text: say so once, at start.
            raise ConfigError(
                f"the loaded policies refuse tier {tier} even at no risk: {baseline.reason}"
            )
        self._facts[tier] = facts
        return facts

    def advise(self, verdict: Verdict, tier: str) -> Advice:
        base = self._base(tier)
        facts = Facts(
            base.subject,
            base.action,
            base.variant,
            base.model,
            base.purpose,
            base.session_id,
            str(verdict.category),
            decimal_text(verdict.score),
        )
        decision = self._engine.decide_facts(facts)
        if not decision.allowed:
            return "block"
        # A permit that asks for review or monitoring is served, not refused: "flag".
        if decision.advice in (PolicyAdvice.FLAG, PolicyAdvice.HOLD):
            return "flag"
        return "allow"


def _advisor(
    settings: Settings, safeguards: Safeguards, source: AdviceFrom, purpose: str | None
) -> AdviceSource:
    if source == "thresholds":
        return ThresholdAdvice(settings.safeguards, safeguards.taxonomy, settings.tiers)
    engine = PolicyEngine.load(settings.policy_dir, tiers=settings.tiers)
    return PolicyAdviceSource(engine, purpose)


def _records(stream: BinaryIO) -> Iterator[tuple[Any, str | None, str | None]]:
    """(id, text, error) per non-empty input line."""
    for number, raw in enumerate(stream, 1):
        if not raw.strip():
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            yield None, None, f"line {number}: not valid JSON"
            continue
        if not isinstance(record, dict):
            yield None, None, f"line {number}: expected a JSON object with id and text"
            continue
        rid = record.get("id")
        text = record.get("text")
        if isinstance(rid, bool) or not isinstance(rid, str | int):
            yield rid, None, f"line {number}: id must be a string or an integer"
        elif not isinstance(text, str):
            yield rid, None, f"line {number}: text must be a string"
        else:
            yield rid, text, None


async def _classify_stream(
    safeguards: Safeguards,
    advisor: AdviceSource,
    tier: str,
    stream: BinaryIO,
    write: Callable[[bytes], object],
) -> int:
    bad = 0
    for rid, text, error in _records(stream):
        if error is not None or text is None:
            bad += 1
            payload = {"code": SafeguardsInputError.code, "message": error}
            write(orjson.dumps({"id": rid, "error": payload}) + b"\n")
            continue
        verdict = safeguards.classify_text(text)
        if safeguards.needs_judge(verdict):
            verdict = await safeguards.escalate(text, verdict, tier)
        row = {
            "id": rid,
            "category": str(verdict.category),
            "score": round(verdict.score, 4),
            "advice": advisor.advise(verdict, tier),
        }
        write(orjson.dumps(row) + b"\n")
    await safeguards.aclose()
    return bad


@app.command("classify")
def classify(
    tier: Annotated[
        str,
        typer.Option("--tier", envvar="ENCLAVE_CLI_SAFEGUARDS_TIER", help="Tier to advise for."),
    ] = "public",
    purpose: Annotated[
        str | None,
        typer.Option(
            "--purpose",
            envvar="ENCLAVE_CLI_SAFEGUARDS_PURPOSE",
            help="Declared purpose of the probe request. [default: general]",
            show_default=False,
        ),
    ] = None,
    advice_from: Annotated[
        str,
        typer.Option(
            "--advice-from",
            envvar="ENCLAVE_CLI_SAFEGUARDS_ADVICE_FROM",
            help="policy: the loaded Cedar policies; thresholds: safeguards.thresholds.",
        ),
    ] = "policy",
) -> None:
    """Classify JSON lines {"id", "text"} from stdin; one {"id", "category", "score",
    "advice"} line per input on stdout."""
    settings = _common.settings()
    if advice_from not in ("policy", "thresholds"):
        _common.fail(SafeguardsInputError("--advice-from must be policy or thresholds"))
    source: AdviceFrom = "policy" if advice_from == "policy" else "thresholds"

    def build() -> tuple[Safeguards, AdviceSource]:
        safeguards = Safeguards.load(settings.safeguards)
        advisor = _advisor(settings, safeguards, source, purpose)
        # Resolve the tier before reading input: an unknown tier fails once, at start.
        advisor.advise(Verdict(safeguards.taxonomy.names()[0], 0.0), tier)
        return safeguards, advisor

    safeguards, advisor = _common.guarded(build)
    out = sys.stdout.buffer
    bad = _common.guarded(
        lambda: asyncio.run(
            _classify_stream(safeguards, advisor, tier, sys.stdin.buffer, out.write)
        )
    )
    out.flush()
    if bad:
        _common.err.print(f"error: {bad} input line(s) were invalid", markup=False)
        raise typer.Exit(SafeguardsInputError.exit_code)


@app.command("train")
def train_command(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            envvar="ENCLAVE_CLI_SAFEGUARDS_OUT",
            help="Where to write model.npz and metrics.json. [default: the package's data]",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", envvar="ENCLAVE_CLI_SAFEGUARDS_SEED", help="Sampling seed.")
    ] = DEFAULT_SEED,
) -> None:
    """Train the shipped classifier reproducibly (fixed seed, hash splits)."""
    target = out_dir or package_data_dir()
    params = TrainParams(seed=seed)

    def progress(message: str) -> None:
        _common.err.print(message, markup=False)

    metrics = _common.guarded(lambda: train(data_dir, target, params, progress=progress))
    _common.emit_json(
        {k: metrics[k] for k in ("artefact_sha256", "artefact_bytes", "corpus_sha256")}
    )


def _policy_threshold(settings: Settings) -> float:
    """The lowest score at which the loaded policies block a high-risk category on the
    public tier (the subtraction table's block band), else the shipped default."""
    engine = PolicyEngine.load(settings.policy_dir, tiers=settings.tiers)
    if "public" not in engine.tiers:
        return PUBLIC_BLOCK_AT
    table = engine.subtraction_table(categories=["malware"], actions=["invoke"])
    for row in table.rows:
        if (row.tier, row.category) == ("public", "malware"):
            for band in row.bands:
                if band.advice == PolicyAdvice.BLOCK:
                    return float(band.low)
    return PUBLIC_BLOCK_AT


@app.command("eval")
def eval_command(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            envvar="ENCLAVE_CLI_SAFEGUARDS_MODEL",
            help="Model artefact. [default: safeguards.model_path, else the shipped one]",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            envvar="ENCLAVE_CLI_SAFEGUARDS_THRESHOLD",
            min=0.0,
            max=1.0,
            help="Block threshold. [default: the public tier's, from the loaded policies]",
            show_default=False,
        ),
    ] = None,
    cross: Annotated[
        bool,
        typer.Option(
            "--cross-source/--no-cross-source",
            envvar="ENCLAVE_CLI_SAFEGUARDS_CROSS_SOURCE",
            help="Also fit one model per held-out source (about 10 s each).",
        ),
    ] = True,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json-out",
            envvar="ENCLAVE_CLI_SAFEGUARDS_JSON_OUT",
            help="Also write the full report as JSON here.",
        ),
    ] = None,
) -> None:
    """Per-source true- and false-positive rates at the threshold, AUC, obfuscation,
    latency; with the cross-source protocol (train without a source, test on it)."""
    settings = _common.settings()
    chosen = (
        threshold if threshold is not None else _common.guarded(lambda: _policy_threshold(settings))
    )

    def progress(message: str) -> None:
        _common.err.print(message, markup=False)

    report = _common.guarded(
        lambda: run_eval(
            data_dir,
            model or settings.safeguards.model_path,
            TrainParams(),
            cross=cross,
            threshold=chosen,
            progress=progress,
        )
    )
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.write(render_markdown(report))


__all__ = ["PolicyAdviceSource", "app"]
