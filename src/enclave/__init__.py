"""Enclave: a governed enclave for access to dual-use frontier models."""

__version__ = "0.1.0"

__all__ = ["__version__"]
