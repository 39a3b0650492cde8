"""What the core needs to know of the configuration, as one frozen value the wiring builds once."""

from __future__ import annotations

from dataclasses import dataclass

from . import attachments, forms
from .clocks import Timescales
from .commands import DEFAULT_GRAMMAR, Grammar


@dataclass(frozen=True)
class DirectoryAgency:
    """An agency of the ``[[agencies]]`` directory."""

    name: str
    email: str | None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """What the core needs to know of the configuration."""

    partnership_name: str
    mailbox: str
    coordinators: tuple[str, ...]
    timescales: Timescales
    limits: attachments.Limits
    labels: forms.Labels
    directory: tuple[DirectoryAgency, ...] = ()
    phone: str = ""
    reference_prefix: str = "DSPP"
    commands: Grammar = (
        DEFAULT_GRAMMAR  # the words for each command (data/commands.toml + [commands])
    )
