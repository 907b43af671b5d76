"""Who wrote: requester lookups in the institution's directory (CSV file or LDAP).

`open_directory(settings)` builds what the `directory` pipeline stage reaches through
`context.extras["directory"]`: a Lookup (cache, deadline, circuit breaker) around the
configured backend, or None when the directory is off.
"""

from __future__ import annotations

import structlog

from ..config import Settings
from .lookup import Answer, Lookup
from .model import Directory, DirectoryUnavailable, Person

log = structlog.get_logger("ticketgate.directory")

EXTRAS_KEY = "directory"


def open_directory(settings: Settings) -> Lookup | None:
    """The configured directory, or None. An invalid CSV file or an unreadable LDAP password
    file raises ConfigError (the daemon does not start); an LDAP server that is down does not
    (it is reached at the first lookup)."""
    d = settings.directory
    backend: Directory
    if d.backend == "none":
        return None
    if d.backend == "ldap":
        from .ldapdir import LdapDirectory

        backend = LdapDirectory(d.ldap)
    else:
        from .csvdir import CsvDirectory

        path = d.csv
        if path is None:  # the embedded default: rules/directory.csv, when the site has one
            path = settings.rules_dir / "directory.csv"
            if not path.is_file():
                log.info("directory_off", reason=f"no {path}")
                return None
        backend = CsvDirectory(path)
    return Lookup(backend, retry_after=d.retry_after, ttl=d.cache_ttl,
                  negative_ttl=d.negative_ttl, size=d.cache_size)


__all__ = ["EXTRAS_KEY", "Answer", "Directory", "DirectoryUnavailable", "Lookup", "Person",
           "open_directory"]
