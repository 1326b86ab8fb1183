"""What the governed path adds to a model call: `make bench-gateway`.

Starts, on loopback, the fake upstream (benchmarks/fake_upstream.py, its own process),
Enclave (`enclave serve`, whole governed path: key lookup, purpose, session, Cedar policy,
metrics, batched event recording) and LiteLLM's proxy in master-key mode (installed by
this script into benchmarks/litellm-venv, never a project dependency). Then, in the same
run and interleaved (the sequential runs by blocks of 100 requests, each started once no
server is still busy with the previous one), it sends the same OpenAI-shaped request (a)
straight to the fake upstream, (b) through Enclave and (c) through LiteLLM,
non-streaming and streaming, sequentially and from 32 concurrent clients, and reports
latency percentiles, the latency added over (a) and throughput, as a table and as JSON in
benchmarks/results/.

Added latency is the difference of the percentiles (p50 of b minus p50 of a, and so on);
for streams, latency is the time to the last byte, and the first byte is reported too.
Everything shares this machine's cores: the client, the upstream and the proxy under test.
Enclave, like any proxy measured here, pays for its own work after a response (settlement,
event batches, the audit log) in the requests that follow it in its block.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"
RESULTS = HERE / "results"
LITELLM_VENV = HERE / "litellm-venv"
# The newest release whose `proxy` extra resolves from this machine's package index
# (1.108.13 and later need litellm-proxy-extras 0.4.110.post1, 1.110 litellm-proxy; neither
# is on it).
LITELLM = "litellm[proxy]==1.108.0"
# LiteLLM asks for certifi>=2026.10.19; where only 2026.10.18 installs, it is overridden
# (certifi is a CA bundle: any recent one serves a loopback benchmark).
CERTIFI_OVERRIDE = "certifi==2026.10.18"
BIN = Path(sys.executable).parent
PROMPT = "hello world, how are you today?"
MASTER_KEY = "sk-bench-master"
CLIENTS = 32
BUDGET_P50_MS, BUDGET_P99_MS = 1.0, 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    """Poll until ``url`` answers (another process's readiness has no other signal)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it was ready")
        try:
            with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), 0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=log.parent)


@dataclass
class Target:
    name: str
    url: str
    model: str
    headers: dict[str, str]
    pid: int | None = None  # the server's process, for its CPU time per request

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux /proc). Unlike
        latency, barely moved by what else the machine is running."""
        if self.pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def body(self, stream: bool) -> bytes:
        messages = [{"role": "user", "content": PROMPT}]
        return orjson.dumps({"model": self.model, "messages": messages, "stream": stream})


@dataclass
class Samples:
    total: list[float] = field(default_factory=list)
    first_byte: list[float] = field(default_factory=list)
    wall: float = 0.0  # seconds spent on the concurrent runs (for throughput)
    cpu_ms_per_request: float | None = None  # the server's CPU, sequential runs


# -- set-up ------------------------------------------------------------------------------


def start_enclave(work: Path, upstream: int) -> tuple[subprocess.Popen[bytes], Target]:
    port = free_port()
    config = work / "enclave.toml"
    config.write_text(
        f"""
[providers.fake]
kind = "openai"
base_url = "http://127.0.0.1:{upstream}/v1"

[models.bench.tiers.public]
provider = "fake"
variant = "fake-bench"

# The ledger is on (fail closed): the variant is priced and the org is granted credits.
[prices.fake-bench]
input = 1_000_000
output = 1_000_000
max_output_tokens = 1024
""",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    env.update(
        ENCLAVE_CONFIG=str(config),
        ENCLAVE_DATABASE_URL=f"sqlite:///{work / 'enclave.db'}",
        ENCLAVE_STATE_DIR=str(work / "state"),
        ENCLAVE_PORT=str(port),
    )
    subprocess.run([str(BIN / "enclave"), "init"], env=env, check=True, capture_output=True)
    key = subprocess.run(
        [sys.executable, "-c", _ISSUE_KEY],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    process = spawn([str(BIN / "enclave"), "serve"], work / "enclave.log", env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process, 60, "enclave serve")
    auth = {"authorization": f"Bearer {key}"}
    return process, Target("enclave", url, "bench", auth, process.pid)


# A public-tier organisation and key, made the way an operator would (registry service).
_ISSUE_KEY = """
from enclave.config import load_settings
from enclave.runtime import open_runtime
runtime = open_runtime(load_settings())
registry = runtime.registry
admin = registry.operator_for_cli(None)
org, application = registry.create_org(admin, name="Bench", kind="public", tier="public")
registry.decide(admin, application.id, decision="approve", reason="benchmark")
from enclave.store.ledger_repo import open_credits
_, credits = open_credits(runtime.db, runtime.settings)
credits.fund(admin, pool="bench", amount=10**15, create=True)
credits.grant(admin, pool="bench", org=org.id, amount=10**15)
print(registry.issue_key(admin, org.id, purposes=["general"]).secret)
runtime.close()
"""


def install_litellm(log: Path, venv: Path = LITELLM_VENV) -> Path:
    """LiteLLM's proxy in its own venv; returns its `litellm` executable."""
    exe = venv / "bin" / "litellm"
    if exe.exists():
        return exe
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    with log.open("ab") as out:
        if subprocess.run([*pip, LITELLM], stdout=out, stderr=out).returncode != 0:
            _install_overriding_certifi(pip, log)
    return exe


def _install_overriding_certifi(pip: list[str], log: Path) -> None:
    """pip has no dependency override: install litellm without its dependencies, then its
    requirements (base and the proxy extra) with the certifi pin replaced."""
    wheels = log.parent / "litellm-wheel"
    name = LITELLM.split("[")[0] + "==" + LITELLM.split("==")[1]
    with log.open("ab") as out:
        download = [pip[0], "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(wheels)]
        subprocess.run([*download, name], stdout=out, stderr=out, check=True)
        requirements = _requirements(next(wheels.glob("litellm-*.whl")), extra="proxy")
        reqs = log.parent / "litellm-requirements.txt"
        reqs.write_text("\n".join([*requirements, CERTIFI_OVERRIDE]) + "\n")
        subprocess.run([*pip, "--no-deps", name], stdout=out, stderr=out, check=True)
        subprocess.run([*pip, "-r", str(reqs)], stdout=out, stderr=out, check=True)


def _requirements(wheel: Path, *, extra: str) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode()
    found = []
    for line in text.splitlines():
        if not line.startswith("Requires-Dist: "):
            continue
        requirement = line.removeprefix("Requires-Dist: ")
        spec, _, marker = requirement.partition(";")
        if spec.strip().startswith("certifi"):
            continue
        if "extra ==" in marker:
            if f"extra == '{extra}'" not in marker and f'extra == "{extra}"' not in marker:
                continue
            marker = " and ".join(part for part in marker.split(" and ") if "extra ==" not in part)
        found.append(f"{spec.strip()} ; {marker.strip()}" if marker.strip() else spec.strip())
    return found


def start_litellm(work: Path, upstream: int, exe: Path) -> tuple[subprocess.Popen[bytes], Target]:
    port = free_port()
    config = work / "litellm.yaml"
    config.write_text(
        f"""
model_list:
  - model_name: bench
    litellm_params:
      model: openai/fake-bench
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-fake
general_settings:
  master_key: {MASTER_KEY}
litellm_settings:
  telemetry: false
""",
        encoding="utf-8",
    )
    env = {**os.environ, "LITELLM_LOG": "ERROR"}
    args = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    process = spawn([*args, "--num_workers", "1"], work / "litellm.log", env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process, 180, "litellm")
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    return process, Target("litellm", url, "bench", auth, process.pid)


# -- measuring ---------------------------------------------------------------------------


async def one(session: aiohttp.ClientSession, target: Target, stream: bool) -> tuple[float, float]:
    started = time.perf_counter()
    first = 0.0
    async with session.post(
        target.url + "/v1/chat/completions",
        data=target.body(stream),
        headers={"content-type": "application/json", **target.headers},
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"{target.name}: HTTP {response.status}: {await response.text()}")
        body = b""
        async for chunk in response.content.iter_any():
            if not first:
                first = time.perf_counter() - started
            body += chunk
    total = time.perf_counter() - started
    if b"echo:" not in body:
        raise RuntimeError(f"{target.name}: unexpected answer {body[:200]!r}")
    return total, first


async def quiet(targets: list[Target], timeout: float = 5.0) -> None:
    """Until no server under test is using CPU: LiteLLM's proxy keeps working for a while
    after its responses (measured here: up to several ms of CPU a request), and on a
    2-core machine shared by the client, the upstream and every proxy, that work would be
    charged to whichever target is measured next."""
    window = 0.05  # /proc counts CPU in clock ticks (10 ms here): a 50 ms window sees it
    deadline = time.monotonic() + timeout
    before = [t.cpu_seconds() for t in targets]
    while time.monotonic() < deadline:
        await asyncio.sleep(window)
        now = [t.cpu_seconds() for t in targets]
        if now == before:
            return
        before = now


async def sequential(
    targets: list[Target], stream: bool, count: int, warmup: int, block: int = 100
) -> dict[str, Samples]:
    """Interleaved by blocks: each target in turn sends ``block`` requests one after
    another, once every server is idle (see quiet); blocks rotate until ``count``."""
    samples = {t.name: Samples() for t in targets}
    cpu_at: dict[str, float | None] = {}
    async with aiohttp.ClientSession() as session:
        for measured, size in ((False, warmup), (True, count)):
            if measured:
                await quiet(targets)
                cpu_at = {t.name: t.cpu_seconds() for t in targets}
            for start in range(0, size, block):
                for target in targets:
                    await quiet(targets)
                    for _ in range(min(block, size - start)):
                        total, first = await one(session, target, stream)
                        if measured:
                            samples[target.name].total.append(total)
                            samples[target.name].first_byte.append(first)
    for target in targets:
        before, after = cpu_at.get(target.name), target.cpu_seconds()
        if before is not None and after is not None and count:
            samples[target.name].cpu_ms_per_request = round((after - before) * 1000 / count, 3)
    return samples


async def concurrent(
    targets: list[Target], stream: bool, per_round: int, rounds: int
) -> dict[str, Samples]:
    samples = {t.name: Samples() for t in targets}
    connector = aiohttp.TCPConnector(limit=CLIENTS * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        for round_ in range(rounds + 1):  # round 0 warms the pools up
            for target in targets:
                queue = iter(range(per_round))

                async def client(
                    target: Target = target, queue: Any = queue
                ) -> list[tuple[float, float]]:
                    # A shared work queue: the 32 clients drain it together.
                    return [await one(session, target, stream) for _ in queue]

                started = time.perf_counter()
                results = await asyncio.gather(*(client() for _ in range(CLIENTS)))
                wall = time.perf_counter() - started
                if round_:
                    s = samples[target.name]
                    s.wall += wall
                    for total, first in (r for batch in results for r in batch):
                        s.total.append(total)
                        s.first_byte.append(first)
    return samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(s: Samples, base: Samples | None, *, concurrent_run: bool) -> dict[str, Any]:
    ms = 1000.0
    out: dict[str, Any] = {
        "n": len(s.total),
        "p50_ms": round(percentile(s.total, 0.50) * ms, 3),
        "p99_ms": round(percentile(s.total, 0.99) * ms, 3),
        "first_byte_p50_ms": round(percentile(s.first_byte, 0.50) * ms, 3),
    }
    if base is not None:
        out["added_p50_ms"] = round(out["p50_ms"] - percentile(base.total, 0.50) * ms, 3)
        out["added_p99_ms"] = round(out["p99_ms"] - percentile(base.total, 0.99) * ms, 3)
        out["added_first_byte_p50_ms"] = round(
            out["first_byte_p50_ms"] - percentile(base.first_byte, 0.50) * ms, 3
        )
    if concurrent_run and s.wall:
        out["throughput_rps"] = round(len(s.total) / s.wall, 1)
    if s.cpu_ms_per_request is not None:
        out["server_cpu_ms_per_request"] = s.cpu_ms_per_request
    return out


def table(results: dict[str, Any]) -> str:
    head = (
        "| request | via | sequential p50 / p99 (ms) | added p50 / p99 | "
        "32 clients p50 / p99 (ms) | added p50 / p99 | throughput (req/s) | "
        "server CPU ms/request |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for mode in ("non_streaming", "streaming"):
        seq, conc = results[mode]["sequential"], results[mode]["concurrent_32"]
        for name in seq:
            s, c = seq[name], conc[name]
            added_s = (
                f"{s['added_p50_ms']:+.2f} / {s['added_p99_ms']:+.2f}"
                if "added_p50_ms" in s
                else "-"
            )
            added_c = (
                f"{c['added_p50_ms']:+.2f} / {c['added_p99_ms']:+.2f}"
                if "added_p50_ms" in c
                else "-"
            )
            rows.append(
                f"| {mode.replace('_', '-')} | {name} | {s['p50_ms']:.2f} / {s['p99_ms']:.2f} | "
                f"{added_s} | {c['p50_ms']:.2f} / {c['p99_ms']:.2f} | {added_c} | "
                f"{c['throughput_rps']:.0f} | "
                + (
                    f"{s['server_cpu_ms_per_request']:.3f} |"
                    if "server_cpu_ms_per_request" in s
                    else "- |"
                )
            )
    return head + "\n".join(rows) + "\n"


async def measure(targets: list[Target], args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for mode, stream in (("non_streaming", False), ("streaming", True)):
        seq = await sequential(targets, stream, args.requests, args.warmup)
        conc = await concurrent(targets, stream, args.per_round, args.rounds)
        base_s, base_c = seq["direct"], conc["direct"]
        results[mode] = {
            "sequential": {
                n: summary(s, None if n == "direct" else base_s, concurrent_run=False)
                for n, s in seq.items()
            },
            "concurrent_32": {
                n: summary(s, None if n == "direct" else base_c, concurrent_run=True)
                for n, s in conc.items()
            },
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="Latency Enclave adds to a model call.")
    parser.add_argument("--requests", type=int, default=2000, help="sequential, per target")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--per-round", type=int, default=640, help="concurrent, per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM")
    parser.add_argument("--out", type=Path, default=RESULTS / "gateway_overhead.json")
    args = parser.parse_args()

    processes: list[subprocess.Popen[bytes]] = []
    litellm_status = "skipped (--no-litellm)"
    with tempfile.TemporaryDirectory(prefix="enclave-bench-") as tmp:
        work = Path(tmp)
        try:
            upstream_port = free_port()
            upstream = spawn(
                [sys.executable, str(HERE / "fake_upstream.py"), "--port", str(upstream_port)],
                work / "upstream.log",
            )
            processes.append(upstream)
            wait_ready(f"http://127.0.0.1:{upstream_port}", upstream, 60, "fake upstream")
            direct = Target(
                "direct", f"http://127.0.0.1:{upstream_port}", "fake-bench", {}, upstream.pid
            )
            enclave, via_enclave = start_enclave(work, upstream_port)
            processes.append(enclave)
            targets = [direct, via_enclave]
            if not args.no_litellm:
                try:
                    exe = install_litellm(work / "litellm-install.log")
                    litellm, via_litellm = start_litellm(work, upstream_port, exe)
                    processes.append(litellm)
                    targets.append(via_litellm)
                    litellm_status = f"ok ({LITELLM}, 1 worker, master key, no database)"
                except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
                    log = work / "litellm-install.log"
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    litellm_status = f"unavailable: {exc}; {tail.strip()}"
                    print(f"LiteLLM not measured: {litellm_status}", file=sys.stderr)
            results = uvloop.run(measure(targets, args))
        finally:
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()

    enclave_seq = results["non_streaming"]["sequential"]["enclave"]
    stream_seq = results["streaming"]["sequential"]["enclave"]
    report = {
        "benchmark": "gateway_overhead",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "method": {
            "requests_sequential": args.requests,
            "concurrent_clients": CLIENTS,
            "requests_concurrent": args.per_round * args.rounds,
            "added": "percentile of the target minus the same percentile of direct",
            "stream_latency": "time to the last byte",
            "server_cpu": "user+system CPU of the server process over the sequential run, "
            "per request (includes what follows a response: settlement, event batches)",
        },
        "litellm": litellm_status,
        "budget": {
            "added_p50_ms": BUDGET_P50_MS,
            "added_p99_ms": BUDGET_P99_MS,
            "met_sequential": (
                enclave_seq["added_p50_ms"] <= BUDGET_P50_MS
                and enclave_seq["added_p99_ms"] <= BUDGET_P99_MS
                and stream_seq["added_p50_ms"] <= BUDGET_P50_MS
                and stream_seq["added_p99_ms"] <= BUDGET_P99_MS
            ),
        },
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown = table(results)
    args.out.with_suffix(".md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"LiteLLM: {litellm_status}")
    print(f"budget met (sequential): {report['budget']['met_sequential']}; written {args.out}")


if __name__ == "__main__":
    main()
