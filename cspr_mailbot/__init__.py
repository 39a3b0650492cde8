"""cspr-mailbot: intake, deadlines and chasers for Child Safeguarding Practice Reviews, by email."""

__version__ = "0.1.0"
