"""The HTTP side of Enclave: the admin API, request limits and error shapes.

Routes call services and never decide policy themselves; every error leaves through one
mapping per interface (``problems`` for the admin API).
"""

__all__: list[str] = []
