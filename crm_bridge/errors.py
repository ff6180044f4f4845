"""Typed exceptions of the CRM bridge, translated once at the edge
(HTTP status, dialplan fallback, CLI exit code)."""

from __future__ import annotations

__all__ = [
    "AppealNotFound",
    "CrmError",
    "ExtensionNotAllowed",
    "InvalidTransition",
    "NotFound",
    "NotIdentified",
]


class CrmError(Exception):
    """Base of every CRM bridge error."""


class NotFound(CrmError, LookupError):
    """A record that does not exist."""


class AppealNotFound(NotFound):
    pass


class NotIdentified(CrmError, PermissionError):
    """Confidential data asked for without identifying the caller (REQ-T9)."""


class InvalidTransition(CrmError):
    """An appeal status change the workflow does not allow."""


class ExtensionNotAllowed(CrmError):
    """The appeal's answer term cannot be extended (REQ-A5, REQ-A6)."""
