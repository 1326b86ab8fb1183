"""Configuration: one typed Settings from ENCLAVE_* variables and enclave.toml."""

from enclave.config.settings import DEFAULT_PURPOSES, Settings, TierConfig, load_settings

__all__ = ["DEFAULT_PURPOSES", "Settings", "TierConfig", "load_settings"]
