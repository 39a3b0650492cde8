"""One exception hierarchy for cspr-mailbot: each error carries what a person needs to act on it."""

from __future__ import annotations

import traceback


class MailbotError(Exception):
    """Base class of every error cspr-mailbot raises on purpose."""


class ConfigError(MailbotError):
    """The configuration is refused. ``key`` names the offending key (dotted, e.g. ``imap.port``)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config: {key}: {problem}")
        self.key = key
        self.problem = problem


class UnreadableAttachment(MailbotError):
    """An attachment that cannot be read safely.

    ``code`` is a short machine word (``encrypted``, ``legacy_doc``, ``pdf``, ``corrupt``, ``too_large``,
    ``zip_bomb``, ``xml_bomb``, ``not_a_form``, ``unsupported``); ``filename`` the attachment's safe name;
    the message is a sentence a referrer can act on.
    """

    def __init__(self, code: str, filename: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.filename = filename


class StoreError(MailbotError):
    """The case store cannot be opened, locked or written."""


class StoreDamaged(StoreError):
    """The store holds less than was committed to it (files missing, emptied, cut short): refused.

    ``path`` is the store file. Starting afresh would hand out references already in use.
    """

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"store {path}: {problem}")
        self.path = path
        self.problem = problem


class StoreLocked(StoreError):
    """Another process holds the store's lock for longer than we were willing to wait."""


class MailSourceError(MailbotError):
    """The mailbox cannot be reached or refused an operation. ``retryable`` says if a retry may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class SendError(MailbotError):
    """An outgoing message was not accepted. ``permanent`` is True for a 5xx refusal."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class PrivacyError(MailbotError):
    """A message for someone outside the coordinators would have named the child. It is not sent."""


class UsageError(MailbotError):
    """The command line is wrong (an unknown flag, a date that is not one): exit code 2."""


def trace_without_values(exc: BaseException) -> str:
    """Where an exception was raised (files, lines, code) without its message.

    An exception's message can carry values from a message being processed (a child's name in a
    ValueError, say); logs may name case references and UIDs only, so tracebacks are logged this way.
    """
    frames = traceback.format_tb(exc.__traceback__)
    return f"{type(exc).__name__} (message withheld)\n" + "".join(frames[-8:]).rstrip()
