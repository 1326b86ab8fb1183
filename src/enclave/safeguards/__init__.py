"""Safeguards: normalisation, the shipped classifier, conversation scoring, escalation.

Nothing in this package imports ``enclave.config`` (Settings holds a
:class:`SafeguardsConfig`), a web framework or a database driver.
"""

from enclave.safeguards.config import JudgeConfig, SafeguardsConfig, TierThresholds
from enclave.safeguards.conversation import ConversationText, conversation_text
from enclave.safeguards.interface import (
    NONE,
    Advice,
    ApiShape,
    Category,
    Judge,
    JudgeDecision,
    JudgeRequest,
    JudgeUnavailable,
    SafeguardsConfigError,
    SafeguardsError,
    SafeguardsInputError,
    Verdict,
    VerdictSource,
)
from enclave.safeguards.judge import HttpJudge
from enclave.safeguards.model import LinearClassifier
from enclave.safeguards.normalise import Normalised, normalise
from enclave.safeguards.service import AdviceSource, Safeguards, ThresholdAdvice
from enclave.safeguards.taxonomy import HARMFUL_CATEGORIES, Taxonomy, load_taxonomy

__all__ = [
    "HARMFUL_CATEGORIES",
    "NONE",
    "Advice",
    "AdviceSource",
    "ApiShape",
    "Category",
    "ConversationText",
    "HttpJudge",
    "Judge",
    "JudgeConfig",
    "JudgeDecision",
    "JudgeRequest",
    "JudgeUnavailable",
    "LinearClassifier",
    "Normalised",
    "Safeguards",
    "SafeguardsConfig",
    "SafeguardsConfigError",
    "SafeguardsError",
    "SafeguardsInputError",
    "Taxonomy",
    "ThresholdAdvice",
    "TierThresholds",
    "Verdict",
    "VerdictSource",
    "conversation_text",
    "load_taxonomy",
    "normalise",
]
