"""The domain's one family of errors, each carrying a contract code and its HTTP status."""

from __future__ import annotations

from typing import Any

STATUS_BY_CODE: dict[str, int] = {
    "VALIDATION_ERROR": 400,
    "MISSING_REQUIRED_FIELD": 400,
    "INVALID_VALUE": 400,
    "INVALID_STATUS": 400,
    "INVALID_ID": 400,
    "INVALID_CURSOR": 400,
    "PAGE_SIZE_INVALID": 400,
    "UNAUTHORIZED": 401,
    "AUTHENTICATION_FAILED": 401,
    "BUDGET_EXCEEDED": 402,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "ORGANIZATION_NOT_FOUND": 404,
    "WORKSPACE_NOT_FOUND": 404,
    "PROJECT_NOT_FOUND": 404,
    "USER_NOT_FOUND": 404,
    "CONTAINER_NOT_FOUND": 404,
    "TASK_NOT_FOUND": 404,
    "OPERATION_NOT_FOUND": 404,
    "WORKFLOW_NOT_FOUND": 404,
    "CONFLICT": 409,
    "ALREADY_EXISTS": 409,
    "WORKFLOW_IN_USE": 409,
    "MERGE_CONFLICT": 409,
    "NOT_FAST_FORWARD": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "TOO_MANY_REQUESTS": 429,
    "INTERNAL_ERROR": 500,
    "OPERATION_FAILED": 500,
    "DOCKER_BACKEND_REQUIRED": 501,
    "SERVICE_UNREACHABLE": 502,
    "SERVICE_UNAVAILABLE": 503,
    "STORAGE_FULL": 507,
    "SANDBOX_NOT_RUNNING": 503,
}


class DomainError(Exception):
    """An expected failure that a client can act on."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        return STATUS_BY_CODE[self.code]


def not_found(kind: str, object_id: str) -> DomainError:
    """404 for an object that does not exist or that the caller may not see: the two look the same."""
    code = f"{kind.upper()}_NOT_FOUND"
    if code not in STATUS_BY_CODE:
        code = "NOT_FOUND"
    return DomainError(code, f"{kind.capitalize()} {object_id} not found", {"id": object_id})


def invalid(field: str, message: str, code: str = "VALIDATION_ERROR") -> DomainError:
    return DomainError(code, f"{field}: {message}", {"field": field})


def missing(field: str) -> DomainError:
    return DomainError("MISSING_REQUIRED_FIELD", f"{field} is required", {"field": field})


def conflict(message: str, details: dict[str, Any] | None = None, code: str = "CONFLICT") -> DomainError:
    return DomainError(code, message, details)
