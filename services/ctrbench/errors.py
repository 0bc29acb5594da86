"""Errors the CLI turns into one-line messages and a non-zero exit (no stack trace)."""

__all__ = ["ConfigError", "CtrError", "ServiceUnavailable", "VerificationFailed"]


class CtrError(Exception):
    """Base class: the message is shown to the user as it is, so it must say what to do."""

    exit_code = 1


class ConfigError(CtrError):
    """A setting or option has a value that cannot work."""

    exit_code = 2


class ServiceUnavailable(CtrError):
    """A server we depend on (Kafka, PostgreSQL, Flink) cannot be reached or started."""

    exit_code = 3


class VerificationFailed(CtrError):
    """The job's results differ from the truth recomputed from the produced events."""

    exit_code = 4
