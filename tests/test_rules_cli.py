"""`rules check` errors at file:line:col, `rules test` output, and reload (valid and invalid)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from conftest import db_rows, free_port, make_mail, run_cli, send, start_serve
from ticketgate import exits


def check(site: Path) -> tuple[int, list[str]]:
    result = run_cli(site, "rules", "check")
    return result.returncode, result.stderr.decode().splitlines()


def test_shipped_rules_pass(site: Path) -> None:
    result = run_cli(site, "rules", "check")
    assert result.returncode == exits.OK, result.stderr
    assert b"ok: 3 queues" in result.stdout


def test_queue_errors_name_line_and_column(site: Path) -> None:
    queues = site.parent / "rules/queues.yaml"
    queues.write_text(
        "queues:\n"
        "  helpdesk:\n"
        "    adresses: [helpdesk@example.org]\n"   # 3:5 unknown key, did you mean
        "  lukortet:\n"
        "    addresses: [lukortet@example.org]\n"
        "    staff: kortkontoret@example.org\n"    # 6:12 wrong type
        "  sot:\n"
        "    addresses: [lukortet@example.org]\n"  # 8:17 address owned by another queue
    )
    code, lines = check(site)
    assert code == exits.DATAERR
    path = str(queues)
    assert f"{path}:3:5: unknown key 'adresses' (did you mean 'addresses'?)" in lines
    assert any(line.startswith(f"{path}:6:12: ") and "array" in line for line in lines), lines
    assert any(line.startswith(f"{path}:2:3: ") and "addresses" in line for line in lines), lines


def test_duplicate_function_address_is_an_error(site: Path) -> None:
    queues = site.parent / "rules/queues.yaml"
    queues.write_text(
        "queues:\n"
        "  helpdesk:\n"
        "    addresses: [helpdesk@example.org]\n"
        "  sot:\n"
        "    addresses: [sot@example.org, HelpDesk@example.org]\n"
    )
    code, lines = check(site)
    assert code == exits.DATAERR
    assert any(f"{queues}:5:34: function address helpdesk@example.org already belongs"
               in line for line in lines), lines


def test_function_addresses_need_a_domain_and_are_never_staff(site: Path) -> None:
    queues = site.parent / "rules/queues.yaml"
    queues.write_text(
        "queues:\n"
        "  helpdesk:\n"
        "    addresses: [helpdesk@example.org, support@localhost, it]\n"  # 3:39, 3:58
        "    staff:\n"
        "      - it-staff@example.org\n"
        "      - Lukortet+staff@Example.org\n"                            # 6:9 another's
        "  lukortet:\n"
        "    addresses: [lukortet@example.org, kort@intranet]\n"          # 8:39
        "    staff: [kortkontoret@example.org, lukortet@example.org]\n"   # 9:39 its own
        "  sot:\n"  # the example routes name these two; kept so only the errors above show
        "    addresses: [sot@example.org, sot-helpdesk@example.org]\n"
    )
    code, lines = check(site)
    assert code == exits.DATAERR
    path = str(queues)
    assert lines == [
        f"{path}:3:58: queues.helpdesk.addresses.2: 'it' is not an address with a domain "
        "(like helpdesk@example.org)",
        f"ticketgate: error: 1 error(s) in {site.parent / 'rules'}",
    ], lines
    queues.write_text(queues.read_text().replace(", it]", "]"))
    code, lines = check(site)
    assert code == exits.DATAERR
    assert lines[:-1] == [
        f"{path}:3:39: function address support@localhost has no fully qualified domain: mail "
        "from other hosts cannot reach it, and replies to our mail would go nowhere",
        f"{path}:6:9: staff address Lukortet+staff@Example.org is a function address (of queue "
        "'lukortet'): each notification would come back as new mail, a mail loop; name the "
        "staff's own addresses",
        f"{path}:8:39: function address kort@intranet has no fully qualified domain: mail "
        "from other hosts cannot reach it, and replies to our mail would go nowhere",
        f"{path}:9:39: staff address lukortet@example.org is a function address (of this "
        "queue): each notification would come back as new mail, a mail loop; name the staff's "
        "own addresses",
    ], lines
    assert lines[-1] == f"ticketgate: error: 4 error(s) in {site.parent / 'rules'}"


def test_route_errors_name_line_and_column(site: Path) -> None:
    routes = site.parent / "rules/routes.yaml"
    routes.write_text(
        "routes:\n"
        "  - name: cards\n"
        "    when: {subject: {contains: [passerkort]}}\n"
        "    then: {queue: lukort}\n"                        # 4:19 unknown queue
        "  - name: bad-regex\n"
        "    when: {subject: {matches: '(unclosed'}}\n"      # 6:31 invalid regex
        "    then: {tags: [x]}\n"
        "  - name: template\n"
        "    when: {text: {contains: [skrivare]}}\n"
        "    then: {acknowledgement: nonexistent}\n"         # 10:29 unknown template
        "  - name: typo\n"
        "    when: {subjet: {contains: [x]}}\n"              # 12:12 unknown key
        "    then: {}\n"
        "  - name: everything\n"
        "    then: {tags: [all]}\n"
        "  - name: after-catch-all\n"                        # 16:5 unreachable
        "    when: {subject: {contains: [y]}}\n"
        "    then: {}\n"
    )
    code, lines = check(site)
    assert code == exits.DATAERR
    path = str(routes)
    expected = {
        4: ("4:", "lukort"),
        6: ("6:", "regular expression"),
        10: ("10:", "nonexistent"),
        12: ("12:", "subjet"),
    }
    for _line, (prefix, word) in expected.items():
        assert any(line.startswith(f"{path}:{prefix}") and word in line for line in lines), (
            prefix, lines)
    assert any(line.startswith(f"{path}:4:19: ") for line in lines), lines
    assert any(line.startswith(f"{path}:6:31: ") for line in lines), lines
    assert any("did you mean 'subject'" in line for line in lines), lines
    assert any(line.startswith(f"{path}:16:") and "unreachable" in line for line in lines), lines


def test_yaml_syntax_and_etiquette_errors(site: Path) -> None:
    etiquette = site.parent / "rules/etiquette.yaml"
    etiquette.write_text("languages:\n  sv: [unclosed\n")
    code, lines = check(site)
    assert code == exits.DATAERR
    assert any(line.startswith(f"{etiquette}:3:1: YAML syntax") for line in lines), lines
    etiquette.write_text("nonsense_key: 1\n")
    code, lines = check(site)
    assert code == exits.DATAERR
    assert any(line.startswith(f"{etiquette}:1:1: ") and "nonsense_key" in line
               for line in lines), lines


def test_rules_test_json_stores_nothing(site: Path, tmp_path: Path) -> None:
    mail = tmp_path / "vague.eml"
    mail.write_bytes(make_mail("Hjälp!", "Kan ni ringa mig?", sender="kim@gmail.com"))
    bounce = tmp_path / "bounce.eml"
    bounce.write_bytes(make_mail("Undelivered Mail Returned to Sender", "550 no such user",
                                 sender="MAILER-DAEMON@mx.example.net"))
    cards = tmp_path / "cards.eml"
    cards.write_bytes(make_mail("Mitt passerkort fungerar inte i hus E", "Det piper rött."))
    result = run_cli(site, "rules", "test", "--json", str(mail), str(bounce), str(cards))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    keys = {"file", "automail", "duplicate_of", "ticket_code", "followup_of", "flags", "queue",
            "rule", "acknowledgement"}
    assert all(keys <= set(r) for r in rows)
    assert rows[0]["flags"] == ["vague_subject", "private_address"]
    assert rows[0]["acknowledgement"] == "acknowledgement"
    assert rows[1]["automail"] == "bounce" and rows[1]["acknowledgement"] is None
    assert rows[2]["queue"] == "lukortet" and rows[2]["rule"] == "access-cards"
    assert not (site.parent / "var/ticketgate.db").exists()  # nothing stored, not even a db
    readable = run_cli(site, "rules", "test", str(cards))
    assert b"access-cards" in readable.stdout and b"=> new_ticket" in readable.stdout


def test_reload_applies_valid_rules_and_refuses_invalid_ones(site: Path) -> None:
    port = free_port()
    proc = start_serve(site, port)
    routes = site.parent / "rules/routes.yaml"
    try:
        send(port, make_mail("Skärmen är trasig", "Bildskärmen i rum 2110 är trasig."))
        deadline = time.monotonic() + 15  # routed by the rules it arrived under
        while db_rows(site, "SELECT count(*) FROM tickets") != [(1,)]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        routes.write_text(
            "routes:\n  - name: screens\n    when: {subject: {contains: [skärm]}}\n"
            "    then: {queue: sot, tags: [screens]}\n"
        )
        assert run_cli(site, "reload").returncode == 0
        time.sleep(0.5)
        send(port, make_mail("Skärmen flimrar", "Bildskärmen i rum 3110 flimrar."))
        routes.write_text("routes:\n  - name: broken\n    then: {queue: nowhere}\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        send(port, make_mail("Skärmen blinkar", "Bildskärmen i rum 4110 blinkar."))
        deadline = time.monotonic() + 15
        while db_rows(site, "SELECT count(*) FROM tickets") != [(3,)]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    queues = db_rows(site, "SELECT queue FROM tickets ORDER BY id")
    assert queues == [("helpdesk",), ("sot",), ("sot",)]  # the invalid change kept the old rules
    assert proc.stderr is not None
    log = proc.stderr.read().decode()
    assert "rules_reloaded" in log and "reload_refused" in log and "nowhere" in log
