"""What the core needs to know of the configuration, as one frozen value the wiring builds once."""

from __future__ import annotations

from dataclasses import dataclass

from . import attachments, forms
from .clocks import Timescales
from .commands import DEFAULT_GRAMMAR, Grammar
from .trust import Trust


@dataclass(frozen=True)
class DirectoryAgency:
    """An agency of the ``[[agencies]]`` directory. ``secure``: its address may be told who the child is."""

    name: str
    email: str | None
    aliases: tuple[str, ...] = ()
    secure: bool = False


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
    trusted_domains: tuple[str, ...] = ()  # [privacy]: addresses here are told who the child is
    encrypt_subject_tag: str = ""  # [privacy]: in the subject of outside mail that names the child

    @property
    def trust(self) -> Trust:
        """Who may be told who the child is: from the config alone (SPEC 5)."""
        return Trust.of(self.trusted_domains, (a.email for a in self.directory if a.secure))
