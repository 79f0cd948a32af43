"""Typed errors of the core.

Every error carries one sentence saying what is wrong and, where there is one,
what to do next (``hint``). The CLI turns them into messages and exit codes:
``exit_code`` 2 for bad input or usage, 1 for runtime failures.
"""

from __future__ import annotations


class LocoError(Exception):
    """Base of every error loco raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message if not self.hint else f"{self.message} {self.hint}"


class InvalidInput(LocoError):
    """The user gave something loco cannot use (a file, a flag value)."""

    exit_code = 2


class RegistryError(InvalidInput):
    """The registry file is missing, unreadable or invalid.

    ``problems`` lists every problem found, each as ``location: message``.
    """

    def __init__(self, message: str, problems: list[str] | None = None, hint: str | None = None):
        super().__init__(message, hint)
        self.problems = list(problems or [])


class UnknownAdapter(InvalidInput):
    """A name that is not in the registry."""


class ModelfileError(InvalidInput):
    """A value that cannot be written safely into a Modelfile."""


class BackendUnavailable(LocoError):
    """The inference backend cannot be reached or is not installed."""


class ModelMissing(LocoError):
    """A model tag or file that should exist does not."""


class AdapterFileError(LocoError):
    """A GGUF file is missing, truncated or of the wrong kind."""


class Unsupported(LocoError):
    """The backend or server cannot do what was asked."""


class GenerationError(LocoError):
    """The backend failed while generating."""


class RouterError(LocoError):
    """The router model is missing, stale or cannot be trained."""


class DataError(InvalidInput):
    """A data file (benchmark, router data, training data) is invalid."""
