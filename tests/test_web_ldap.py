"""`web.auth: ldap`: a staff member logs in with the directory's password, against a real
slapd (tests/ldap/slapd.py, as test_directory_ldap.py starts it)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ldap3 import MODIFY_REPLACE, Connection, Server

from conftest import Running, write_site
from integration_gate import need
from ticketgate.config import LdapSettings, load_settings
from ticketgate.directory.ldapbind import check_password
from ticketgate.directory.model import DirectoryUnavailable
from web_helpers import WEB, client, login

pytestmark = pytest.mark.integration


def _slapd() -> ModuleType:
    path = Path(__file__).parent / "ldap" / "slapd.py"
    spec = importlib.util.spec_from_file_location("ticketgate_test_slapd_web", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


slapd = _slapd()
ASA = "asa@example.org"  # a person in tests/ldap/people.ldif


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    need("slapd", "ldapadd", purpose="a private OpenLDAP server")
    s = slapd.Slapd(tmp_path_factory.mktemp("slapd")).start()
    admin = Connection(Server(s.url), slapd.ROOT_DN, slapd.ROOT_PW, auto_bind=True)
    admin.modify(f"uid=asa,{slapd.BASE_DN}", {"userPassword": [(MODIFY_REPLACE, ["åsa-lösen-1"])]})
    admin.unbind()
    yield s
    s.stop()


def ldap_settings(server: Any, root: Path) -> LdapSettings:
    (root / "ldap.password").write_text(slapd.BIND_PW + "\n")
    return LdapSettings(url=server.url, bind_dn=slapd.BIND_DN,
                        password_file=root / "ldap.password", base_dn=slapd.BASE_DN, timeout=2)


def test_the_password_is_checked_by_a_bind_as_the_person(server: Any, tmp_path: Path) -> None:
    settings = ldap_settings(server, tmp_path)
    assert check_password(settings, ASA, "åsa-lösen-1")
    assert not check_password(settings, ASA, "wrong")
    assert not check_password(settings, ASA, "")  # never an unauthenticated bind
    assert not check_password(settings, "nobody@example.org", "åsa-lösen-1")
    assert not check_password(settings, "shared@example.org", "x")  # two entries: nobody
    assert not check_password(settings, "*", "åsa-lösen-1")  # the filter is escaped
    down = LdapSettings(url="ldap://127.0.0.1:1", base_dn=slapd.BASE_DN, timeout=1)
    with pytest.raises(DirectoryUnavailable):
        check_password(down, ASA, "åsa-lösen-1")


def test_a_staff_member_logs_in_to_the_desk_through_ldap(server: Any, tmp_path: Path) -> None:
    settings = ldap_settings(server, tmp_path)
    site = write_site(tmp_path, WEB + "  auth: ldap\n" + (
        "directory:\n  backend: ldap\n  ldap:\n"
        f"    url: '{server.url}'\n    bind_dn: '{slapd.BIND_DN}'\n"
        f"    password_file: {settings.password_file}\n    base_dn: '{slapd.BASE_DN}'\n"))
    queues = tmp_path / "rules/queues.yaml"
    queues.write_text(queues.read_text().replace("      - it-staff@example.org",
                                                 f"      - it-staff@example.org\n      - {ASA}"))
    running = Running(load_settings(site))
    try:
        http = client(running)
        assert login(http, ASA, "wrong").status_code == 401
        assert login(http, ASA, "åsa-lösen-1").status_code == 303
        assert http.get("/tickets/open").status_code == 200
    finally:
        running.stop()
