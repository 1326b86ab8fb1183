"""The admin API (``/admin/v1``): JSON over HTTP for operators, errors as problem+json."""

from enclave.gateway.admin.app import PREFIX, build_admin_app, is_mutation

__all__ = ["PREFIX", "build_admin_app", "is_mutation"]
