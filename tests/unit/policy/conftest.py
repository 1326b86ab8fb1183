"""Policy fixtures: engines load real Cedar policies from real directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from enclave.config import Settings, TierConfig
from enclave.policy import PolicyEngine, default_directory


@pytest.fixture
def tiers() -> dict[str, TierConfig]:
    return dict(Settings().tiers)


@pytest.fixture
def engine(tiers: dict[str, TierConfig]) -> PolicyEngine:
    return PolicyEngine.load(tiers=tiers)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A copy of the shipped policies that a test may edit."""
    target = tmp_path / "policies"
    shutil.copytree(default_directory(), target)
    return target
