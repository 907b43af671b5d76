"""ticketgate: a mail daemon that turns mail to a helpdesk's function addresses into tickets."""

__version__ = "0.1.0"
