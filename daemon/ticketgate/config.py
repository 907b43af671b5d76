"""Settings: one YAML file, validated at start, with every error at file:line:col.

With no file, the embedded default serves a local trial: SMTP on 127.0.0.1:2525, SQLite and a
Maildir of outgoing mail under ./var/, rules and templates from ./rules and ./templates.
Relative paths in a settings file are taken relative to that file's directory, so
`serve --config /etc/ticketgate/ticketgate.yaml` finds everything where the file says.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .listeners import ConnectionLimits, Listener, load_limits, load_listener
from .validation import load_schema, validate
from .websettings import WebSettings, default_web, load_web
from .yamlsource import ConfigError, Located, Position, SourceError, load_file

DEFAULT_SIZE = 25 * 1024 * 1024
DEFAULT_SMTP = Listener("127.0.0.1", 2525)


@dataclass(frozen=True)
class Delivery:
    """How rendered mail leaves: into a Maildir (local use) or through an SMTP smarthost."""

    transport: Literal["maildir", "smtp"] = "maildir"
    maildir: Path = Path("var/maildir")
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password_file: Path | None = None
    timeout: float = 30.0
    concurrency: int = 4
    give_up_after: float = 5 * 24 * 3600.0


DEFAULT_NEVER_TO = (
    "mailer-daemon@*",
    "postmaster@*",
    "*noreply*",
    "*no-reply*",
    "*donotreply*",
    "*do-not-reply*",
    "bounce*@*",
    "*-bounces@*",
    "*-request@*",
    "listserv@*",
    "majordomo@*",
)


@dataclass(frozen=True)
class Acknowledgements:
    """What is answered, in which languages, and how often one recipient may be written to."""

    languages: tuple[str, ...] = ("sv", "en")
    on_followup: bool = False
    never_to: tuple[str, ...] = DEFAULT_NEVER_TO
    per_hour: int = 5
    per_day: int = 20


@dataclass(frozen=True)
class PipelineSettings:
    """Knobs of the stages that are site policy rather than rules."""

    resend_window: float = 7 * 24 * 3600.0
    resend_similarity: float = 0.9
    foreign_code: Literal["new_ticket", "followup", "hold"] = "new_ticket"
    institutional_domains: tuple[str, ...] = ("example.org",)
    # separate: the pipeline, outbox and directory retry run in a child process of `serve`,
    # so ingest never waits for the pipeline's CPU (BENCHMARKS.md); inline: threads of `serve`
    process: Literal["inline", "separate"] = "separate"


# Directory attribute for each Person field, tried in order (eduPerson and inetOrgPerson).
DEFAULT_LDAP_ATTRIBUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("username", ("uid",)),
    ("name", ("displayName", "cn")),
    ("email", ("mail",)),
    ("affiliation", ("eduPersonPrimaryAffiliation", "eduPersonAffiliation")),
    ("department", ("ou", "departmentNumber")),
    ("phone", ("telephoneNumber",)),
)

# Directory values of the affiliation attribute, and what the helpdesk calls them.
DEFAULT_AFFILIATIONS: tuple[tuple[str, str], ...] = (
    ("faculty", "staff"),
    ("staff", "staff"),
    ("employee", "staff"),
    ("student", "student"),
    ("affiliate", "guest"),
    ("guest", "guest"),
    ("library-walk-in", "guest"),
)


@dataclass(frozen=True)
class LdapSettings:
    """How to reach and read an LDAP directory (the `ldap` backend)."""

    url: str = "ldap://127.0.0.1"
    starttls: bool = False
    bind_dn: str | None = None  # None: an anonymous bind
    password_file: Path | None = None
    ca_file: Path | None = None  # None: the system's trusted CAs
    base_dn: str = ""
    address_filter: str = "(mail={address})"
    username_filter: str = "(uid={username})"
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_LDAP_ATTRIBUTES
    affiliations: tuple[tuple[str, str], ...] = DEFAULT_AFFILIATIONS
    timeout: float = 2.0


@dataclass(frozen=True)
class DirectorySettings:
    """Where the `directory` stage looks requesters up, and how long answers are trusted."""

    backend: Literal["csv", "ldap", "none"] = "csv"
    csv: Path | None = None  # None: directory.csv in the rules directory, if there is one
    ldap: LdapSettings = field(default_factory=LdapSettings)
    retry_after: float = 60.0  # after a failure, no lookups for this long
    cache_ttl: float = 3600.0
    negative_ttl: float = 600.0  # "not in the directory" is remembered this long
    cache_size: int = 10_000


@dataclass(frozen=True)
class Settings:
    """Everything the daemon reads from its settings file, with defaults filled in."""

    source: Path | None = None
    instance: str = field(default_factory=socket.getfqdn)
    smtp: Listener | None = DEFAULT_SMTP
    lmtp: Listener | None = None
    metrics: Listener | None = None  # the Prometheus endpoint; None: off
    max_message_size: int = DEFAULT_SIZE
    max_recipients: int = 100
    max_connections: int = 256
    timeout: float = 300.0
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    database: Path = Path("var/ticketgate.db")
    rules_dir: Path = Path("rules")
    templates_dir: Path = Path("templates")
    ticket_tag: str = "DDG"
    log_format: Literal["auto", "json", "console"] = "auto"
    delivery: Delivery = field(default_factory=Delivery)
    pid_file_path: Path | None = None
    acknowledgements: Acknowledgements = field(default_factory=Acknowledgements)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    directory: DirectorySettings = field(default_factory=DirectorySettings)
    web: WebSettings | None = None  # the staff desk; None: not served

    @property
    def pid_file(self) -> Path:
        """Where `serve` writes its pid, for `ticketgate reload` (beside the database)."""
        return self.pid_file_path or self.database.parent / "ticketgate.pid"

    @property
    def wake_path(self) -> Path:
        """The FIFO beside the database through which `inject` wakes the running daemon."""
        return self.database.with_name(self.database.name + ".wake")


def _listener(value: Any, default_host: str = "127.0.0.1") -> Listener | None:
    if value is None:
        return None
    return Listener(str(value.get("host", default_host)), int(value["port"]))


def _path(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def default_settings(base: Path | None = None) -> Settings:
    """The embedded default, with paths relative to `base` (the current directory)."""
    base = base or Path.cwd()
    return Settings(
        database=base / "var/ticketgate.db",
        rules_dir=base / "rules",
        templates_dir=base / "templates",
        delivery=Delivery(maildir=base / "var/maildir"),
        web=default_web(base),
    )


def load_settings(path: Path | None) -> Settings:
    """Load and validate settings; raise ConfigError (exit 78 in the CLI) when invalid."""
    if path is None:
        return default_settings()
    if not path.is_file():
        raise ConfigError([SourceError(Position(str(path), 1, 1), "settings file not found")])
    doc = load_file(path)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([doc.error((), "settings must be a mapping")])
    errors = validate(doc, load_schema("settings"))
    if errors:
        raise ConfigError(errors)
    base = path.resolve().parent
    d = data.get("delivery") or {}
    defaults = Delivery()
    delivery = Delivery(
        transport=d.get("transport", defaults.transport),
        maildir=_path(base, d.get("maildir", "var/maildir")),
        host=d.get("host", defaults.host),
        port=int(d.get("port", defaults.port)),
        starttls=bool(d.get("starttls", defaults.starttls)),
        username=d.get("username"),
        password_file=_path(base, d["password_file"]) if d.get("password_file") else None,
        timeout=float(d.get("timeout", defaults.timeout)),
        concurrency=int(d.get("concurrency", defaults.concurrency)),
        give_up_after=float(d.get("give_up_after", defaults.give_up_after)),
    )
    a = data.get("acknowledgements") or {}
    ack_defaults = Acknowledgements()
    acknowledgements = Acknowledgements(
        languages=tuple(a.get("languages", ack_defaults.languages)),
        on_followup=bool(a.get("on_followup", ack_defaults.on_followup)),
        never_to=tuple(s.lower() for s in a.get("never_to", ack_defaults.never_to)),
        per_hour=int(a.get("per_hour", ack_defaults.per_hour)),
        per_day=int(a.get("per_day", ack_defaults.per_day)),
    )
    p = data.get("pipeline") or {}
    pipe_defaults = PipelineSettings()
    pipeline = PipelineSettings(
        resend_window=float(p.get("resend_window", pipe_defaults.resend_window)),
        resend_similarity=float(p.get("resend_similarity", pipe_defaults.resend_similarity)),
        foreign_code=p.get("foreign_code", pipe_defaults.foreign_code),
        institutional_domains=tuple(
            d.lower().lstrip(".")
            for d in p.get("institutional_domains", pipe_defaults.institutional_domains)
        ),
        process=p.get("process", pipe_defaults.process),
    )
    plain = Settings()
    directory = _directory(doc, data.get("directory") or {}, base)
    max_connections = int(data.get("max_connections", plain.max_connections))
    return Settings(
        source=path.resolve(),
        instance=data.get("instance", plain.instance),
        smtp=load_listener(doc, "smtp", data["smtp"], base) if "smtp" in data else plain.smtp,
        lmtp=load_listener(doc, "lmtp", data.get("lmtp"), base),
        metrics=_listener(data.get("metrics")),
        max_message_size=int(data.get("max_message_size", DEFAULT_SIZE)),
        max_recipients=int(data.get("max_recipients", plain.max_recipients)),
        max_connections=max_connections,
        timeout=float(data.get("timeout", plain.timeout)),
        connections=load_limits(doc, data.get("connections"), max_connections),
        database=_path(base, data.get("database", "var/ticketgate.db")),
        rules_dir=_path(base, data.get("rules_dir", "rules")),
        templates_dir=_path(base, data.get("templates_dir", "templates")),
        ticket_tag=data.get("ticket_tag", plain.ticket_tag),
        log_format=data.get("log_format", plain.log_format),
        delivery=delivery,
        pid_file_path=_path(base, data["pid_file"]) if data.get("pid_file") else None,
        acknowledgements=acknowledgements,
        pipeline=pipeline,
        directory=directory,
        web=load_web(doc, data.get("web"), base),
    )


def _directory(doc: Located, d: dict[str, Any], base: Path) -> DirectorySettings:
    """The `directory:` section (already schema-valid)."""
    plain = DirectorySettings()
    lp = d.get("ldap") or {}
    ldap_defaults = LdapSettings()
    if lp.get("starttls") and str(lp.get("url", "")).lower().startswith("ldaps:"):
        raise ConfigError([doc.error(("directory", "ldap", "starttls"),
                                     "directory.ldap.starttls: StartTLS with an ldaps:// url;"
                                     " use one or the other")])
    attributes = dict(ldap_defaults.attributes)
    for key, value in (lp.get("attributes") or {}).items():
        attributes[key] = (value,) if isinstance(value, str) else tuple(value)
    ldap = LdapSettings(
        url=lp.get("url", ldap_defaults.url),
        starttls=bool(lp.get("starttls", ldap_defaults.starttls)),
        bind_dn=lp.get("bind_dn"),
        password_file=_path(base, lp["password_file"]) if lp.get("password_file") else None,
        ca_file=_path(base, lp["ca_file"]) if lp.get("ca_file") else None,
        base_dn=lp.get("base_dn", ldap_defaults.base_dn),
        address_filter=lp.get("address_filter", ldap_defaults.address_filter),
        username_filter=lp.get("username_filter", ldap_defaults.username_filter),
        attributes=tuple(attributes.items()),
        affiliations=tuple(
            (str(k).lower(), v)
            for k, v in (lp.get("affiliations") or dict(ldap_defaults.affiliations)).items()
        ),
        timeout=float(lp.get("timeout", ldap_defaults.timeout)),
    )
    return DirectorySettings(
        backend=d.get("backend", plain.backend),
        csv=_path(base, d["csv"]) if d.get("csv") else None,
        ldap=ldap,
        retry_after=float(d.get("retry_after", plain.retry_after)),
        cache_ttl=float(d.get("cache_ttl", plain.cache_ttl)),
        negative_ttl=float(d.get("negative_ttl", plain.negative_ttl)),
        cache_size=int(d.get("cache_size", plain.cache_size)),
    )
