"""The directory: CSV backend, cache, bounded lookups, the decision, settings and the CLI.

Daemon runs are in test_directory_daemon.py; the LDAP backend against a real slapd is in
test_directory_ldap.py.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, make_mail, run_cli, write_site
from ticketgate import exits
from ticketgate.config import DirectorySettings, load_settings
from ticketgate.directory import Lookup, open_directory
from ticketgate.directory.cache import TTLCache
from ticketgate.directory.csvdir import CsvDirectory, parse
from ticketgate.directory.model import DirectoryUnavailable, Person
from ticketgate.directory.resolve import institutional, resolve
from ticketgate.yamlsource import ConfigError

HEADER = "username,name,email,affiliation,department,phone\n"
KIM = Person("kim", "Kim Student", "kim@example.org", "student", "Fysik", "")
DOMAINS = ("example.org",)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Fake:
    """A backend that counts its calls and can be told to fail or to hang."""

    description = "fake"

    def __init__(self, people: dict[str, Person] | None = None,
                 timeout: float | None = None) -> None:
        self.people = people if people is not None else {"kim": KIM}
        self.timeout = timeout
        self.calls: list[str] = []
        self.fail: Exception | None = None
        self.hang = 0.0

    def _get(self, key: str) -> Person | None:
        self.calls.append(key)
        if self.hang:
            time.sleep(self.hang)
        if self.fail is not None:
            raise self.fail
        return next((p for k, p in self.people.items()
                     if key in (k, p.username, p.email)), None)

    def by_address(self, address: str) -> Person | None:
        return self._get(address)

    def by_username(self, username: str) -> Person | None:
        return self._get(username)

    def close(self) -> None:
        pass


# -- the CSV backend ---------------------------------------------------------------------------


def test_csv_rows_comments_several_addresses_any_case(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "\ufeff# a comment\n\n" + HEADER
        + "Kim,Kim Student,KIM@example.org kim@Student.example.org,student,Fysik,\n"
        + '# another\nasa,"Andersson, Åsa",asa@example.org,STAFF,IT,+46 70 174 06 10\n'
        + "guest1,,,,,\n",
        encoding="utf-8",
    )
    d = CsvDirectory(path)
    assert d.by_address("kim@student.example.org") == KIM
    assert d.by_address("Kim@Example.org") == KIM
    assert d.by_username("KIM") == KIM
    asa = d.by_username("asa")
    assert asa is not None
    assert (asa.name, asa.affiliation, asa.phone) == ("Andersson, Åsa", "staff", "+46 70 174 06 10")
    assert d.by_username("guest1") == Person("guest1")
    assert d.by_address("nobody@example.org") is None
    assert d.timeout is None


def test_csv_semicolons_and_columns_in_any_order() -> None:
    table = parse("email;username\nkim@example.org;kim\n", "x.csv")
    assert table.by_address["kim@example.org"] == Person("kim", email="kim@example.org")


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("username,mail\nkim,k@example.org\n", "x.csv:1:10", "unknown column 'mail'"),
        ("name,email\nKim,k@example.org\n", "x.csv:1:1", "no 'username' column"),
        (HEADER + "kim,Kim,k@example.org,teacher,,\n", "x.csv:2:23", "'teacher' is not one of"),
        (HEADER + "kim,,,,,\n# c\nKIM,,,,,\n", "x.csv:4:1", "username 'kim' appears twice"),
        (HEADER + "kim,,a@example.org,,,\nola,,A@example.org,,,\n", "x.csv:3:6",
         "belongs to 'kim' too"),
        (HEADER + "kim,,not-an-address,,,\n", "x.csv:2:6", "not a mail address"),
        (HEADER + "kim,,,,,,extra\n", "x.csv:2:", "7 fields, but 6 columns"),
        (HEADER + ",Nobody,,,,\n", "x.csv:2:1", "empty username"),
        ("# only comments\n", "x.csv:1:1", "no header row"),
    ],
)
def test_csv_errors_name_file_line_and_column(text: str, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, "x.csv")
    shown = [str(e) for e in caught.value.errors]
    assert any(s.startswith(where) and message in s for s in shown), shown


def test_csv_is_read_again_when_it_changes_and_a_bad_change_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(HEADER + "kim,Kim Student,kim@example.org,student,Fysik,\n")
    d = CsvDirectory(path)
    assert d.by_username("ola") is None
    path.write_text(HEADER + "kim,Kim Student,kim@example.org,student,Fysik,\nola,Ola,,staff,,\n")
    assert d.by_username("ola") == Person("ola", "Ola", affiliation="staff")
    path.write_text(HEADER + "kim,,,wizard,,\n")  # invalid: the last good contents stay
    assert d.by_username("ola") == Person("ola", "Ola", affiliation="staff")
    path.unlink()
    with pytest.raises(DirectoryUnavailable, match="cannot read"):
        d.by_username("kim")


def test_shipped_example_directory_is_valid() -> None:
    d = CsvDirectory(REPO / "rules/directory.csv")
    kim = d.by_address("kim@example.org")
    assert kim is not None and kim.affiliation == "student"
    assert d.by_address("alex.berg@gmail.com") == d.by_username("ab1234cd")


# -- the cache and the bounded lookup ----------------------------------------------------------


def test_cache_entries_expire_and_the_least_recently_used_go_first() -> None:
    clock = Clock()
    cache: TTLCache[str, int] = TTLCache(2, clock=clock)
    cache.put("a", 1, ttl=10)
    cache.put("b", 2, ttl=100)
    assert cache.get("a") == (True, 1)  # a is now the most recently used
    cache.put("c", 3, ttl=100)
    assert cache.get("b") == (False, None) and len(cache) == 2
    clock.now += 11
    assert cache.get("a") == (False, None)
    assert cache.get("c") == (True, 3)
    cache.put("d", 4, ttl=0)  # a ttl of 0 remembers nothing
    assert cache.get("d") == (False, None)


def test_lookup_caches_found_and_unknown_for_their_own_ttls() -> None:
    clock, fake = Clock(), Fake()
    lookup = Lookup(fake, ttl=100, negative_ttl=10, clock=clock)
    first = lookup.by_address("KIM@example.org")
    assert (first.outcome, first.person, first.cached) == ("found", KIM, False)
    assert lookup.by_address("kim@example.org").cached
    assert lookup.by_username("nobody").outcome == "unknown"
    assert lookup.by_username("nobody").cached
    assert fake.calls == ["kim@example.org", "nobody"]
    clock.now += 11  # the negative answer expired, the positive one did not
    lookup.by_username("nobody")
    lookup.by_address("kim@example.org")
    assert fake.calls == ["kim@example.org", "nobody", "nobody"]


def test_a_failure_opens_the_circuit_for_retry_after_seconds() -> None:
    clock, fake = Clock(), Fake()
    lookup = Lookup(fake, retry_after=60, clock=clock)
    fake.fail = DirectoryUnavailable("connection refused")
    answer = lookup.by_address("kim@example.org")
    assert answer.outcome == "unavailable" and "connection refused" in answer.detail
    assert not lookup.available()
    later = lookup.by_address("ola@example.org")  # not asked: the circuit is open
    assert later.outcome == "unavailable" and "not asked again" in later.detail
    assert fake.calls == ["kim@example.org"]
    fake.fail = None
    clock.now += 61
    assert lookup.available()
    assert lookup.by_address("kim@example.org").outcome == "found"  # never cached unavailable
    assert fake.calls == ["kim@example.org", "kim@example.org"]


def test_a_cached_answer_is_served_while_the_circuit_is_open() -> None:
    clock, fake = Clock(), Fake()
    lookup = Lookup(fake, clock=clock)
    lookup.by_username("kim")
    fake.fail = DirectoryUnavailable("down")
    assert lookup.by_username("nobody").outcome == "unavailable"
    assert lookup.by_username("kim").outcome == "found"


def test_a_hanging_backend_is_given_up_on_after_its_timeout() -> None:
    fake = Fake(timeout=0.3)
    fake.hang = 5.0
    lookup = Lookup(fake)
    started = time.monotonic()
    answer = lookup.by_username("kim")
    assert time.monotonic() - started < 1.5
    assert answer.outcome == "unavailable" and "no answer within 0.3 s" in answer.detail
    started = time.monotonic()
    assert lookup.by_username("ola").outcome == "unavailable"  # the circuit: at once
    assert time.monotonic() - started < 0.1


def test_a_backend_bug_is_an_unavailable_directory_not_a_held_mail() -> None:
    for timeout in (None, 1.0):
        fake = Fake(timeout=timeout)
        fake.fail = KeyError("oops")
        answer = Lookup(fake).by_username("kim")
        assert answer.outcome == "unavailable" and "KeyError" in answer.detail


# -- the decision ------------------------------------------------------------------------------


def test_institutional_means_a_configured_domain_or_a_subdomain() -> None:
    assert institutional("kim@example.org", DOMAINS)
    assert institutional("kim@student.example.org", DOMAINS)
    assert not institutional("kim@notexample.org", DOMAINS)
    assert not institutional("kim@gmail.com", DOMAINS)
    assert not institutional(None, DOMAINS) and not institutional("kim@example.org", ())


def test_resolve_asks_the_address_first_from_inside_and_the_username_first_from_outside() -> None:
    fake = Fake({"kim": KIM, "alex": Person("ab1234cd", email="alex@gmail.com")})
    lookup = Lookup(fake)
    found = resolve(lookup, "kim@example.org", None, DOMAINS)
    assert found is not None and found.person == KIM and fake.calls == ["kim@example.org"]
    found = resolve(lookup, "other@example.org", "kim", DOMAINS)  # the username rescues it
    assert found is not None and found.person == KIM
    assert fake.calls[-2:] == ["other@example.org", "kim"]
    found = resolve(lookup, "kim@gmail.com", "kim", DOMAINS)
    assert found is not None and found.person == KIM and fake.calls[-1] == "kim"
    found = resolve(lookup, "alex@gmail.com", None, DOMAINS)  # a registered private address
    assert found is not None and found.person is not None and found.person.username == "ab1234cd"
    assert resolve(lookup, None, None, DOMAINS) is None


def test_resolve_flags_who_the_directory_does_not_know() -> None:
    lookup = Lookup(Fake())
    found = resolve(lookup, "eve@example.org", None, DOMAINS)
    assert found is not None and found.outcome == "unknown"
    assert found.flag == ("unknown_person", "eve@example.org is not in the directory")
    found = resolve(lookup, "eve@gmail.com", "eve99", DOMAINS)
    assert found is not None and found.flag is not None
    assert found.flag[0] == "private_address" and "'eve99'" in found.flag[1]
    found = resolve(lookup, "eve@gmail.com", None, DOMAINS)  # flags already said it
    assert found is not None and found.outcome == "unknown" and found.flag is None


def test_resolve_stops_at_an_unavailable_directory() -> None:
    fake = Fake()
    fake.fail = DirectoryUnavailable("down")
    found = resolve(Lookup(fake), "eve@example.org", "kim", DOMAINS)
    assert found is not None and (found.outcome, found.flag) == ("unavailable", None)
    assert fake.calls == ["eve@example.org"]


def test_person_round_trips_through_json() -> None:
    assert Person.from_json(KIM.to_json()) == KIM
    assert Person.from_json({"username": "x", "affiliation": "wizard", "extra": 1}) == Person("x")
    assert KIM.describe() == "Kim Student (kim), student, Fysik"


# -- settings ----------------------------------------------------------------------------------


def test_default_settings_use_directory_csv_in_the_rules_directory(tmp_path: Path) -> None:
    settings = load_settings(write_site(tmp_path))
    assert settings.directory == DirectorySettings()
    lookup = open_directory(settings)
    assert lookup is not None and lookup.description == f"csv {tmp_path / 'rules/directory.csv'}"
    (tmp_path / "rules/directory.csv").unlink()  # an older site without one: no directory
    assert open_directory(settings) is None


def test_directory_settings_are_read_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    site = write_site(tmp_path, (
        "directory:\n"
        "  backend: ldap\n"
        "  retry_after: 30\n"
        "  cache_ttl: 60\n"
        "  negative_ttl: 5\n"
        "  cache_size: 7\n"
        "  ldap:\n"
        "    url: ldaps://ldap.example.org\n"
        "    bind_dn: cn=ticketgate,dc=example,dc=org\n"
        "    password_file: secrets/ldap.password\n"
        "    ca_file: ca.pem\n"
        "    base_dn: ou=people,dc=example,dc=org\n"
        "    address_filter: (|(mail={address})(mailAlternateAddress={address}))\n"
        "    attributes: {name: cn, affiliation: [employeeType]}\n"
        "    affiliations: {Anställd: staff}\n"
        "    timeout: 0.5\n"
    ))
    d = load_settings(site).directory
    assert (d.backend, d.retry_after, d.cache_ttl, d.negative_ttl, d.cache_size) == (
        "ldap", 30.0, 60.0, 5.0, 7)
    assert d.ldap.password_file == tmp_path / "secrets/ldap.password"
    assert d.ldap.ca_file == tmp_path / "ca.pem"
    assert d.ldap.username_filter == "(uid={username})"
    attributes = dict(d.ldap.attributes)
    assert attributes["name"] == ("cn",) and attributes["affiliation"] == ("employeeType",)
    assert attributes["phone"] == ("telephoneNumber",)
    assert dict(d.ldap.affiliations) == {"anställd": "staff"}
    assert d.ldap.timeout == 0.5
    with pytest.raises(ConfigError, match="cannot read the LDAP password"):
        open_directory(load_settings(site))


@pytest.mark.parametrize(
    ("section", "where", "message"),
    [
        ("directory: {backend: ldap}\n", ":6:1:", "'ldap' is a required property"),
        ("directory: {backend: ldap, ldap: {url: 'ldap://x'}}\n", ":6:28:", "'base_dn'"),
        ("directory: {backend: csv, ldap: {address_filter: '(mail=%s)'}}\n", ":6:50:",
         "does not match"),
        ("directory: {backend: ldap, ldap: {url: 'http://x', base_dn: o}}\n", ":6:40:",
         "does not match"),
        ("directory: {backend: ldap, ldap: {url: 'ldaps://x', base_dn: o, starttls: true}}\n",
         ":6:75:", "StartTLS with an ldaps:// url"),
        ("directory: {backend: csv, ldap: {affiliations: {x: teacher}}}\n", ":6:52:",
         "'teacher' is not one of"),
        ("directory: {backend: sql}\n", ":6:22:", "'sql' is not one of"),
    ],
)
def test_invalid_directory_settings_name_the_place(
    tmp_path: Path, section: str, where: str, message: str
) -> None:
    site = write_site(tmp_path, section)
    with pytest.raises(ConfigError) as caught:
        load_settings(site)
    shown = [str(e) for e in caught.value.errors]
    assert any(where in s and message in s for s in shown), shown


def test_an_invalid_directory_file_stops_the_daemon_with_its_place(tmp_path: Path) -> None:
    site = write_site(tmp_path, "directory: {csv: people.csv}\n")
    (tmp_path / "people.csv").write_text(HEADER + "kim,,,wizard,,\n")
    result = run_cli(site, "directory", "lookup", "kim")
    assert result.returncode == exits.CONFIG
    assert f"{tmp_path / 'people.csv'}:2:" in result.stderr.decode()


# -- the command line and `rules test` ---------------------------------------------------------


def test_directory_lookup_shows_what_the_pipeline_would_attach(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    result = run_cli(site, "directory", "lookup", "Kim@Example.org")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "found by address" in text and "Kim Student" in text and "student" in text
    result = run_cli(site, "directory", "lookup", "ab1234cd", "--json")
    data = json.loads(result.stdout)
    assert (data["by"], data["outcome"], data["person"]["name"]) == (
        "username", "found", "Alex Berg")
    result = run_cli(site, "directory", "lookup", "eve@example.org")
    assert result.returncode == exits.NOUSER
    assert "would flag unknown_person" in result.stdout.decode()
    result = run_cli(site, "directory", "lookup", "eve@gmail.com", "--json")
    assert result.returncode == exits.NOUSER and json.loads(result.stdout)["flag"] is None


def test_directory_lookup_reports_a_directory_that_is_off_or_down(tmp_path: Path) -> None:
    site = write_site(tmp_path, "directory: {backend: none}\n")
    result = run_cli(site, "directory", "lookup", "kim")
    assert result.returncode == exits.CONFIG and "no directory" in result.stderr.decode()
    down = tmp_path / "down"
    down.mkdir()
    from conftest import free_port

    site = write_site(down, "directory:\n  backend: ldap\n  ldap: {url: 'ldap://127.0.0.1:"
                            f"{free_port()}', base_dn: 'dc=example,dc=org', timeout: 1}}\n")
    result = run_cli(site, "directory", "lookup", "kim@example.org")
    assert result.returncode == exits.TEMPFAIL
    assert "did not answer" in result.stdout.decode()


def test_rules_test_shows_the_person_and_the_flags(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    files = {
        "private-with-username.eml": make_mail(
            "Glömt lösenordet", "Hej, mitt användarnamn är ab1234cd.", sender="kim@gmail.com"),
        "registered-private.eml": make_mail(
            "Glömt lösenordet", "Hej, jag kommer inte in.", sender="alex.berg@gmail.com"),
        "unknown-inside.eml": make_mail("Skrivaren i rum 2110", "Den drar in papper.",
                                        sender="eve@example.org"),
        "private-unknown-username.eml": make_mail(
            "Glömt lösenordet", "Mitt användarnamn är zz9999zz.", sender="zed@gmail.com"),
    }
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    result = run_cli(site, "rules", "test", "--json", *(str(tmp_path / n) for n in files))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert rows[0]["person"]["username"] == "ab1234cd"
    assert "private_address" not in rows[0]["flags"]
    # Known by their private address: no flag, and so not held for an identity check.
    assert rows[1]["person"]["name"] == "Alex Berg" and "private_address" not in rows[1]["flags"]
    assert rows[1]["rule"] != "accounts-from-private-address"
    assert rows[2]["person"] is None and "unknown_person" in rows[2]["flags"]
    assert rows[3]["person"] is None and "private_address" in rows[3]["flags"]
    assert rows[3]["rule"] == "accounts-from-private-address"
    text = run_cli(site, "rules", "test", str(tmp_path / "registered-private.eml")).stdout
    assert b"private_address cleared: the directory knows the sender" in text


def test_a_stage_without_a_directory_notes_it(tmp_path: Path) -> None:
    site = write_site(tmp_path, "directory: {backend: none}\n")
    (tmp_path / "m.eml").write_bytes(make_mail())
    result = run_cli(site, "rules", "test", str(tmp_path / "m.eml"))
    assert b"directory no directory configured" in result.stdout


def test_lookups_from_several_threads_share_one_answer() -> None:
    fake = Fake()
    lookup = Lookup(fake)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(lookup.by_username("kim")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.outcome for a in answers} == {"found"} and 1 <= len(fake.calls) <= 8
