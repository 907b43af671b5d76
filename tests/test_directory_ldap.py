"""The ldap backend against a real OpenLDAP server (Debian's slapd; .ci/system-packages).

Each slapd runs as a child of the test on loopback ports, with a temporary mdb database
seeded from tests/ldap/people.ldif by ldapadd, and is stopped in teardown.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conftest import Running, make_mail, run_cli, send, write_site
from integration_gate import need
from ticketgate.config import LdapSettings, load_settings
from ticketgate.directory import Lookup
from ticketgate.directory.ldapdir import LdapDirectory
from ticketgate.directory.model import DirectoryUnavailable, Person
from ticketgate.directory.retry import retry_pending


def _helpers() -> ModuleType:
    path = Path(__file__).parent / "ldap" / "slapd.py"
    spec = importlib.util.spec_from_file_location("ticketgate_test_slapd", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


slapd = _helpers()
pytestmark = pytest.mark.integration

KIM = Person("kim", "Kim Student", "kim@example.org", "student", "Fysiska institutionen", "")


def need_slapd() -> None:
    need("slapd", "ldapadd", "openssl", purpose="a private OpenLDAP server with TLS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    need_slapd()
    s = slapd.Slapd(tmp_path_factory.mktemp("slapd"), tls=True).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def password_file(server: Any) -> Path:
    path = Path(server.root) / "ldap.password"
    path.write_text(slapd.BIND_PW + "\n")
    return path


def settings_for(server: Any, password_file: Path | None, **changes: Any) -> LdapSettings:
    base = {"url": server.url, "base_dn": slapd.BASE_DN, "timeout": 2.0}
    if password_file is not None:
        base |= {"bind_dn": slapd.BIND_DN, "password_file": password_file}
    return LdapSettings(**(base | changes))


def test_people_are_found_by_any_address_and_by_username(server: Any, password_file: Path) -> None:
    d = LdapDirectory(settings_for(server, password_file))
    try:
        assert d.by_address("kim@example.org") == KIM
        assert d.by_address("KIM@student.example.org") == KIM
        assert d.by_username("kim") == KIM
        assert d.by_address("alex.berg@gmail.com") == d.by_username("ab1234cd")
        assert d.by_address("nobody@example.org") is None
        assert d.by_username("nobody") is None
    finally:
        d.close()


def test_the_default_mapping_reads_eduperson_and_inetorgperson(
    server: Any, password_file: Path
) -> None:
    d = LdapDirectory(settings_for(server, password_file))
    try:
        asa = d.by_username("asa")  # student and employee, no primary: staff wins
        assert asa == Person("asa", "Åsa Andersson", "asa@example.org", "staff",
                             "IT-avdelningen", "+46 70 174 06 10")  # no displayName: cn
        lisa = d.by_username("lisa")
        assert lisa is not None and lisa.affiliation == "guest"  # library-walk-in
    finally:
        d.close()


def test_filters_are_escaped_and_ambiguous_entries_find_no_one(
    server: Any, password_file: Path
) -> None:
    d = LdapDirectory(settings_for(server, password_file))
    try:
        assert d.by_username("k*m") is None  # unescaped, (uid=k*m) would find kim
        assert d.by_username("kim)(uid=*") is None
        assert d.by_address("shared@example.org") is None  # two entries have it
    finally:
        d.close()


def test_a_custom_mapping_and_filter(server: Any, password_file: Path) -> None:
    d = LdapDirectory(settings_for(
        server, password_file,
        address_filter="(&(objectClass=inetOrgPerson)(|(mail={address})(cn={address})))",
        username_filter="(&(uid={username})(eduPersonAffiliation=*))",
        attributes=(("username", ("uid",)), ("name", ("sn",)), ("email", ("mail",)),
                    ("affiliation", ("eduPersonAffiliation",)), ("department", ("ou",)),
                    ("phone", ("telephoneNumber",))),
        affiliations=(("member", "guest"),),
    ))
    try:
        kim = d.by_address("Kim Student")
        assert kim is not None and (kim.name, kim.affiliation) == ("Student", "guest")
        assert d.by_username("ab1234cd") is None  # no eduPersonAffiliation
    finally:
        d.close()


def test_an_anonymous_bind_reads_too(server: Any) -> None:
    d = LdapDirectory(settings_for(server, None))
    try:
        assert d.by_username("kim") == KIM
    finally:
        d.close()


def test_a_wrong_password_is_an_unavailable_directory(server: Any, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-it\n")
    d = LdapDirectory(settings_for(server, wrong))
    with pytest.raises(DirectoryUnavailable, match="invalidCredentials"):
        d.by_username("kim")
    d.close()


@pytest.mark.parametrize("mode", ["starttls", "ldaps"])
def test_tls_with_the_sites_ca(server: Any, password_file: Path, mode: str) -> None:
    changes: dict[str, Any] = (
        {"starttls": True} if mode == "starttls" else {"url": server.ldaps_url}
    )
    d = LdapDirectory(settings_for(server, password_file, ca_file=server.ca_file, **changes))
    try:
        assert d.by_username("kim") == KIM
    finally:
        d.close()
    untrusted = LdapDirectory(settings_for(server, password_file, **changes))
    with pytest.raises(DirectoryUnavailable, match="certificate verify failed"):
        untrusted.by_username("kim")
    untrusted.close()


# -- restarts, and the daemon ----------------------------------------------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Any]:
    """A slapd of this test's own, to stop and start."""
    need_slapd()
    s = slapd.Slapd(tmp_path / "slapd").start()
    yield s
    s.stop()


def test_a_connection_the_server_dropped_is_replaced_at_once(own_server: Any) -> None:
    d = LdapDirectory(settings_for(own_server, None))
    try:
        assert d.by_username("kim") == KIM
        own_server.stop()
        own_server.start(seed=False)  # the kept connection is dead now
        assert d.by_username("asa") is not None  # reconnected within the same lookup
    finally:
        d.close()


def ldap_site(root: Path, url: str) -> Path:
    (root / "ldap.password").write_text(slapd.BIND_PW + "\n")
    return write_site(root, (
        "directory:\n"
        "  backend: ldap\n"
        "  retry_after: 0.2\n"
        "  ldap:\n"
        f"    url: '{url}'\n"
        f"    bind_dn: '{slapd.BIND_DN}'\n"
        "    password_file: ldap.password\n"
        f"    base_dn: '{slapd.BASE_DN}'\n"
        "    timeout: 1\n"
    ))


def rows(running: Running, sql: str) -> list[tuple[Any, ...]]:
    return running.store.view.conn.execute(sql).fetchall()


def test_the_daemon_puts_the_ldap_person_on_the_ticket_and_retries_after_an_outage(
    own_server: Any, tmp_path: Path
) -> None:
    site = ldap_site(tmp_path, own_server.url)
    result = run_cli(site, "directory", "lookup", "asa@example.org", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["person"]["affiliation"] == "staff"
    running = Running(load_settings(site))
    try:
        assert send(running.port(), make_mail(sender="Kim <kim@example.org>"),
                    mail_from="kim@example.org") == {}
        running.drain()
        (person, lookup), = rows(running, "SELECT person, person_lookup FROM tickets")
        assert (json.loads(person)["name"], lookup) == ("Kim Student", "found")
        own_server.stop()  # the directory goes down: the mail still becomes a ticket
        raw = make_mail("Skrivaren i rum 2110", "Den drar in papper.",
                        sender="Asa <asa@example.org>")
        assert send(running.port(), raw, mail_from="asa@example.org") == {}
        running.drain()
        assert rows(running, "SELECT state FROM spool ORDER BY id") == [("done",), ("done",)]
        assert rows(running, "SELECT person_lookup FROM tickets WHERE id = 2") == [("pending",)]
        assert rows(running, "SELECT kind FROM events WHERE ticket_id = 2"
                             " AND kind LIKE 'directory%'") == [("directory_unavailable",)]
        own_server.start(seed=False)  # back: the next round of the retry job fills it in
        time.sleep(0.3)  # past retry_after
        directory = running.daemon.directory
        assert isinstance(directory, Lookup)
        assert retry_pending(running.store, running.settings, directory) == 1
        (person,), = rows(running, "SELECT person FROM tickets WHERE id = 2")
        assert json.loads(person)["username"] == "asa"
    finally:
        running.stop()
    db = sqlite3.connect(tmp_path / "var/ticketgate.db")
    kinds = [k for (k,) in db.execute("SELECT kind FROM events WHERE ticket_id = 2 ORDER BY id")]
    db.close()
    assert kinds[-1] == "directory_lookup"
