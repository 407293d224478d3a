"""Errors a command can meet in the domain; the API maps them to HTTP statuses."""


class DomainError(Exception):
    """The command is refused; nothing is emitted."""

    code = "domain-refused"


class InvalidCommand(DomainError):
    """The command's data is wrong on its own (unknown kind, bad probability, ...)."""

    code = "invalid-command"


class InvalidTransition(DomainError):
    """The command does not fit the current state (resolve a withdrawn proposition, ...)."""

    code = "invalid-transition"


class UnknownMatch(DomainError):
    """The command names a match this proposition never had."""

    code = "unknown-match"
