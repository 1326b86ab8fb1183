"""Settings of the monitored perimeter (docs/monitor.md): `[monitor]` in enclave.toml or
ENCLAVE_MONITOR__<NAME>."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MonitorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The operator's Sigma rules (*.yml, searched recursively), loaded after the shipped
    # pack; a broken file stops the start with its path and line.
    rules_dir: Path | None = None
    # How long a held tool call waits for an operator before the timeout rejects it.
    hold_timeout_seconds: float = Field(default=300.0, gt=0, le=86_400)
    # Where actions come from: "cedar" (the policy engine, action "tool_call", with the
    # alert in context; the shipped tool_call.cedar is the documented table, and a policy
    # directory without tool_call policies blocks every alerted call: default deny) or
    # "table" (that same table, fixed in enclave/monitor/actions.py, no policy needed).
    actions: Literal["table", "cedar"] = "cedar"
    # Sessions whose state one process keeps when Redis is not configured (LRU).
    max_sessions_in_memory: int = Field(default=100_000, ge=100)
    # How long an idle session's state lives in Redis.
    state_ttl_seconds: int = Field(default=7 * 86_400, ge=60)


__all__ = ["MonitorConfig"]
