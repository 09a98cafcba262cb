"""Errors the harness reports to users as one clear line."""


class HarnessError(Exception):
    """A problem with input or environment; its message is the whole story."""


class InfrastructureError(HarnessError):
    """A target, engine or image could not be brought up (never a claim verdict)."""


class CommandTimeout(InfrastructureError):
    """A command on a target ran past its timeout."""
