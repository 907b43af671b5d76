"""Names in the rules are checked against the one vocabulary: flags, automail classes,
function addresses, queues and templates; unknown ones are `file:line:col` errors with a
did-you-mean, in `rules check`, at start and at reload."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, run_cli, ticketgate_cmd
from ticketgate import exits
from ticketgate.config import load_settings
from ticketgate.daemon import Daemon
from ticketgate.identity import AUTOMAIL, FLAGS, Automail, Flag
from ticketgate.pipeline import automail as automail_stage

PACKAGE = REPO / "daemon" / "ticketgate"

ROUTES = (
    "routes:\n"
    "  - name: vague\n"
    "    when: {flag: vauge_subject}\n"           # 3:18
    "    then: {priority: high}\n"
)


def _routes(site: Path, text: str) -> Path:
    path = site.parent / "rules/routes.yaml"
    path.write_text(text)
    return path


def test_rules_check_names_an_unknown_flag_with_a_did_you_mean(site: Path) -> None:
    routes = _routes(site, ROUTES)
    result = run_cli(site, "rules", "check")
    assert result.returncode == exits.DATAERR == 65
    lines = result.stderr.decode().splitlines()
    assert f"{routes}:3:18: unknown flag 'vauge_subject' (did you mean 'vague_subject'?)" in lines


def test_rules_check_names_unknown_automail_classes_and_function_addresses(site: Path) -> None:
    routes = _routes(site, (
        "routes:\n"
        "  - name: machines\n"
        "    when: {automail: [list, bulc]}\n"               # 3:29
        "    then: {drop: true}\n"
        "  - name: one-address\n"
        "    when: {function_address: {equals: helpdeks@example.org}}\n"  # 6:39
        "    then: {priority: high}\n"
        "  - name: any-automail\n"
        "    when: {automail: autoreply}\n"                  # 9:22
        "    then: {priority: low}\n"
    ))
    result = run_cli(site, "rules", "check")
    assert result.returncode == exits.DATAERR
    lines = result.stderr.decode().splitlines()
    assert f"{routes}:3:29: unknown automail class 'bulc' (did you mean 'bulk'?)" in lines
    assert (f"{routes}:6:39: 'helpdeks@example.org' is not a function address of queues.yaml"
            " (did you mean 'helpdesk@example.org'?)") in lines
    assert (f"{routes}:9:22: unknown automail class 'autoreply'"
            " (did you mean 'auto_reply'?)") in lines


def test_every_registered_name_is_accepted(site: Path) -> None:
    flags = ", ".join(FLAGS)
    classes = ", ".join(AUTOMAIL)
    _routes(site, (
        "routes:\n"
        f"  - name: flags\n    when: {{flag: [{flags}]}}\n    then: {{priority: high}}\n"
        f"  - name: classes\n    when: {{automail: [{classes}]}}\n    then: {{drop: true}}\n"
    ))
    result = run_cli(site, "rules", "check")
    assert result.returncode == exits.OK, result.stderr


def test_an_unknown_name_stops_the_daemon_at_start(site: Path) -> None:
    routes = _routes(site, ROUTES)
    result = subprocess.run([*ticketgate_cmd(), "serve", "--config", str(site)],
                            capture_output=True, timeout=60)
    assert result.returncode == exits.CONFIG
    assert f"{routes}:3:18: unknown flag 'vauge_subject'" in result.stderr.decode()


def test_an_unknown_name_is_refused_at_reload(site: Path) -> None:
    daemon = Daemon(load_settings(site))
    try:
        before = daemon.rules()
        _routes(site, ROUTES)
        assert daemon.reload() is False
        assert daemon.rules() is before  # the old rules are kept
    finally:
        daemon.store.close()


# -- the registries are the one vocabulary -----------------------------------------------------


def _flags_set_in_code() -> set[str]:
    """Every flag name the daemon's code (outside the registry) names: Flag.X, and any
    `with_flag("literal", ...)`, which would bypass the registry."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "identity":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "Flag" and node.attr.isupper()):
                found.add(Flag[node.attr].value)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "with_flag" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                found.add(f"unregistered:{node.args[0].value}")
    return found


def test_the_stages_set_only_registered_flags_and_every_flag_is_set_somewhere() -> None:
    assert _flags_set_in_code() == set(Flag)


def test_the_automail_stage_returns_only_registered_classes() -> None:
    source = Path(automail_stage.__file__).read_text()
    returned = set(re.findall(r"return Automail\.([A-Z_]+)", source))
    assert returned == {a.name for a in Automail}
    assert not re.search(r'return "[a-z_]+", ', source)  # no bare class names left


@pytest.mark.parametrize("name", [*FLAGS, *AUTOMAIL])
def test_every_name_has_a_description(name: str) -> None:
    registry = FLAGS if name in FLAGS else AUTOMAIL
    assert len(registry[name]) > 10


def test_the_shipped_templates_name_only_registered_flags() -> None:
    used: set[str] = set()
    for template in (REPO / "templates").glob("*.j2"):
        used |= set(re.findall(r"""["']([a-z_]+)["']\s+in\s+flags""", template.read_text()))
    assert used and used <= set(FLAGS), used - set(FLAGS)


def test_a_queue_knows_its_staff_without_case_or_detail() -> None:
    from ticketgate.rules import Queue

    queue = Queue("helpdesk", "Helpdesk", ("helpdesk@example.org",),
                  staff=("it-staff@example.org", "Anna.Berg@Example.org"))
    assert queue.is_staff("IT-Staff@example.org")
    assert queue.is_staff("anna.berg+notes@example.org")
    assert not queue.is_staff("kim@example.org")
    assert not queue.is_staff("")
