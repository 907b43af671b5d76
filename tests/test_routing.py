"""Routing rules (rules/routes.yaml): matchers, combinators, actions, and file:line:col errors.

Pure tests of ticketgate.routing: no daemon, no store.
"""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import jsonschema
import pytest
import yaml

from ticketgate.routing import NO_ACK, Decision, Facts, Routes, evaluate, load_routes
from ticketgate.routing.reach import matches_everything
from ticketgate.routing.text import fold
from ticketgate.validation import load_schema
from ticketgate.yamlsource import load_file, load_text

REPO = Path(__file__).resolve().parents[1]
QUEUES = {"helpdesk", "lukortet", "sot"}
TEMPLATES = {"acknowledgement"}
FLAGS = {"vague_subject", "multi_issue", "private_address", "missing_computer_name"}


def load(text: str, **extra: object) -> tuple[Routes, list[str]]:
    doc = load_text(dedent(text).lstrip("\n"), "routes.yaml")
    routes, errors = load_routes(doc, queues=QUEUES, templates=TEMPLATES, **extra)  # type: ignore[arg-type]
    return routes, [str(e) for e in errors]


def routes_of(text: str) -> Routes:
    routes, errors = load(text)
    assert errors == []
    return routes


def facts(
    subject: str = "",
    text: str = "",
    *,
    sender: str | None = "kim@example.org",
    to: tuple[str, ...] = ("helpdesk@example.org",),
    headers: tuple[tuple[str, str], ...] = (),
    flags: tuple[str, ...] = (),
    automail: str | None = None,
) -> Facts:
    return Facts(to, sender, subject, text, headers, flags=flags, automail=automail)


def matches(when: str, f: Facts) -> bool:
    """Whether a single rule with this `when` (YAML flow style) matches."""
    routes = routes_of(f"routes:\n  - name: r\n    when: {when}\n    then: {{}}\n")
    return evaluate(routes, f).rule == "r"


# -- text folding and `contains`


def test_fold_ignores_case_accents_dashes_and_spacing() -> None:
    assert fold("PÄSSERKÖRT") == "passerkort"
    assert fold("Kortläsaren på plan 3") == "kortlasaren pa plan 3"
    assert fold("LU\u2011kortet") == "lu-kortet"  # non-breaking hyphen
    assert fold("access\u00a0 \n card") == "access card"
    assert fold("kortla\u0308sare") == "kortlasare"  # decomposed ä, as some clients send
    assert fold("Straße") == "strasse"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Nytt PASSERKORT", True),
        ("Mitt pässerkört fungerar inte", True),
        ("passerkortet är borta", True),  # part of a word counts
        ("Nytt LU-kortet", True),
        ("Nytt LU\u2011KORTET", True),
        ("New access  card please", True),
        ("access\ncard", True),
        ("Nytt tangentbord", False),
        ("", False),
    ],
)
def test_contains_any_of_a_list_ignoring_case_and_accents(subject: str, expected: bool) -> None:
    when = '{subject: {contains: [passerkort, lu-kortet, "access card"]}}'
    assert matches(when, facts(subject)) is expected


def test_contains_folds_the_word_list_too() -> None:
    when = "{text: {contains: Kortläsare}}"
    assert matches(when, facts(text="KORTLASAREN vid entrén"))
    assert matches(when, facts(text="kortla\u0308saren"))
    assert not matches(when, facts(text="kortet"))


def test_contains_looks_at_the_text_or_the_subject_not_both() -> None:
    assert matches("{text: {contains: skrivare}}", facts("Hej", "Skrivaren drar papper"))
    assert not matches("{text: {contains: skrivare}}", facts("Skrivaren", "Hej"))
    assert not matches("{subject: {contains: skrivare}}", facts("Hej", "Skrivaren"))


def test_equals_is_the_whole_value_folded() -> None:
    when = "{subject: {equals: [Hjälp, help]}}"
    assert matches(when, facts("  HJALP "))
    assert matches(when, facts("Help"))
    assert not matches(when, facts("Hjälp med skrivaren"))


# -- `matches`


def test_matches_is_a_regex_search_ignoring_case() -> None:
    when = r"{subject: {matches: '\b(skrivare|printer)n?\b'}}"
    assert matches(when, facts("SKRIVAREN i rum 2110"))
    assert matches(when, facts("The printer jams"))
    assert not matches(when, facts("Skrivarens toner"))  # \b after an optional n
    assert not matches(when, facts("3D-printers"))


def test_matches_sees_composed_text_but_keeps_accents() -> None:
    when = "{subject: {matches: 'kortläsare'}}"
    assert matches(when, facts("Kortla\u0308saren är trasig"))  # decomposed in the mail
    assert matches(when, facts("KORTLÄSAREN"))
    assert not matches(when, facts("kortlasaren"))  # regexes are exact about accents


def test_several_tests_of_one_field_must_all_hold() -> None:
    when = "{subject: {contains: vpn, matches: 'nere|down'}}"
    assert matches(when, facts("VPN nere"))
    assert not matches(when, facts("VPN hemifrån"))
    assert not matches(when, facts("Servern nere"))


# -- sender and function address


@pytest.mark.parametrize(
    ("test", "sender", "expected"),
    [
        ("{equals: Kim@Example.org}", "kim@example.org", True),
        ("{equals: [a@example.org, kim@example.org]}", "kim@example.org", True),
        ("{equals: kim@example.org}", "kim@example.org.evil", False),
        ("{domain: example.org}", "kim@example.org", True),
        ("{domain: example.org}", "kim@student.example.org", True),  # subdomains too
        ("{domain: example.org}", "kim@badexample.org", False),
        ("{domain: [lu.se, example.org]}", "kim@LU.SE", True),
        ('{glob: "*@student.example.org"}', "kim@student.example.org", True),
        ('{glob: "*@student.example.org"}', "kim@example.org", False),
        ('{glob: "*@STUDENT.example.org"}', "Kim@Student.Example.Org", True),
        ('{glob: ["noreply*@*", "*-bounces@*"]}', "list-bounces@lists.example.org", True),
        ("{matches: '^[a-z]{3}@'}", "kim@example.org", True),
    ],
)
def test_sender(test: str, sender: str, expected: bool) -> None:
    assert matches(f"{{sender: {test}}}", facts(sender=sender)) is expected


def test_no_sender_matches_no_sender_test() -> None:
    assert not matches("{sender: {domain: example.org}}", facts(sender=None))
    assert matches("{not: {sender: {domain: example.org}}}", facts(sender=None))


def test_function_address_is_compared_canonically() -> None:
    when = "{function_address: {equals: SoT+exam@Example.org}}"
    assert matches(when, facts(to=("sot@example.org",)))
    assert matches(when, facts(to=("helpdesk@example.org", "sot@example.org")))  # any of them
    assert not matches(when, facts(to=("helpdesk@example.org",)))


# -- headers, flags, automail


def test_header_by_name_with_or_without_a_test() -> None:
    list_mail = facts(headers=(("list-id", "<staff.example.org>"), ("x-spam", "no")))
    assert matches("{header: {name: List-Id}}", list_mail)
    assert not matches("{header: {name: List-Id}}", facts())
    assert matches("{header: {name: LIST-ID, contains: Staff.Example}}", list_mail)
    assert not matches("{header: {name: List-Id, equals: staff}}", list_mail)
    assert matches(r"{header: {name: list-id, matches: '^<\w+\.example\.org>$'}}", list_mail)


def test_a_repeated_header_matches_when_any_value_does() -> None:
    mail = facts(headers=(("received", "from a.example.org"), ("received", "from mx.lu.se")))
    assert matches("{header: {name: Received, contains: lu.se}}", mail)
    assert not matches("{header: {name: Received, contains: [lu.se, a.example], equals: x}}", mail)


def test_flag_any_of_a_list() -> None:
    flagged = facts(flags=("vague_subject", "private_address"))
    assert matches("{flag: private_address}", flagged)
    assert matches("{flag: [multi_issue, vague_subject]}", flagged)
    assert not matches("{flag: multi_issue}", flagged)
    assert not matches("{flag: private_address}", facts())


@pytest.mark.parametrize(
    ("when", "automail", "expected"),
    [
        ("true", "bounce", True),
        ("true", None, False),
        ("false", None, True),
        ("false", "list", False),
        ("list", "list", True),
        ("list", "bulk", False),
        ("[list, bulk]", "bulk", True),
    ],
)
def test_automail(when: str, automail: str | None, expected: bool) -> None:
    assert matches(f"{{automail: {when}}}", facts(automail=automail)) is expected


# -- combinators


def test_keys_of_one_condition_must_all_hold() -> None:
    when = "{subject: {contains: tenta}, function_address: {equals: sot@example.org}}"
    assert matches(when, facts("Tentan i morgon", to=("sot@example.org",)))
    assert not matches(when, facts("Tentan i morgon"))
    assert not matches(when, facts("Hej", to=("sot@example.org",)))


def test_all_any_not_nest() -> None:
    when = (
        "{all: [{any: [{subject: {contains: vpn}}, {text: {contains: eduroam}}]},"
        " {not: {sender: {domain: student.example.org}}}]}"
    )
    assert matches(when, facts("VPN"))
    assert matches(when, facts("Hej", "eduroam fungerar inte"))
    assert not matches(when, facts("VPN", sender="kim@student.example.org"))
    assert not matches(when, facts("Skrivaren"))
    assert matches("{not: {not: {subject: {contains: x}}}}", facts("x"))


# -- order, default and actions

RULES = """
routes:
  - name: lists
    when: {header: {name: List-Id}}
    then: {drop: true}
  - name: cards
    when: {subject: {contains: passerkort}}
    then:
      queue: lukortet
      priority: high
      tags: [access-card, card]
      acknowledgement: acknowledgement
      notify: [Kortkontoret@example.org]
  - name: alarms
    when: {sender: {equals: monitor@example.org}}
    then: {acknowledgement: none, tags: monitoring}
  - name: password-from-private
    when: {flag: private_address, subject: {contains: lösenord}}
    then: {hold: true}
  - name: any-card
    when: {subject: {contains: kort}}
    then: {tags: [card]}
"""


def test_first_match_wins() -> None:
    routes = routes_of(RULES)
    both = facts("Passerkort och kort", headers=(("list-id", "x"),))
    assert evaluate(routes, both).rule == "lists"
    assert evaluate(routes, facts("Passerkort")).rule == "cards"
    assert evaluate(routes, facts("Mitt kort")).rule == "any-card"


def test_default_route_when_nothing_matches() -> None:
    decision = evaluate(routes_of(RULES), facts("Min dator surrar", to=("sot@example.org",)))
    assert decision == Decision(
        rule=None, queue=None, priority=None, tags=(), acknowledgement=None, notify=(),
        hold=False, drop=False,
        explanation="no rule matched: default route of sot@example.org",
    )
    assert evaluate(Routes(), facts("x")).rule is None


def test_actions() -> None:
    routes = routes_of(RULES)
    cards = evaluate(routes, facts("Nytt PASSERKORT"))
    assert (cards.queue, cards.priority) == ("lukortet", "high")
    assert cards.tags == ("access-card", "card")
    assert cards.acknowledgement == "acknowledgement"
    assert cards.notify == ("kortkontoret@example.org",)
    assert not cards.hold and not cards.drop

    alarm = evaluate(routes, facts("Disk full", sender="monitor@example.org"))
    assert alarm.acknowledgement == NO_ACK
    assert alarm.tags == ("monitoring",)  # a single string is a list of one
    assert alarm.queue is None  # stays in the function address's queue

    held = evaluate(routes, facts("Nytt lösenord", flags=("private_address",)))
    assert held.hold and not held.drop and held.acknowledgement is None

    dropped = evaluate(routes, facts("Nyhetsbrev", headers=(("list-id", "<news>"),)))
    assert dropped.drop and dropped.rule == "lists"


def test_explanation_names_the_rule_and_what_matched() -> None:
    routes = routes_of(RULES)
    assert (
        evaluate(routes, facts("Nytt Passerkort")).explanation
        == "rule 'cards' (line 5): subject contains 'passerkort'"
    )
    held = evaluate(routes, facts("Lösenordet", flags=("private_address",)))
    assert held.explanation == (
        "rule 'password-from-private' (line 16): flag private_address"
        " and subject contains 'lösenord'"
    )
    routes = routes_of(r"""
        routes:
          - name: not-students
            when: {not: {sender: {glob: "*@student.example.org"}}, subject: {matches: '\bvpn\b'}}
            then: {}
    """)
    assert evaluate(routes, facts("Min VPN")).explanation == (
        "rule 'not-students' (line 2): not sender matches '*@student.example.org'"
        r" and subject matches /\bvpn\b/ at 'VPN'"
    )


# -- load_routes errors, each at its exact line and column


def test_unknown_key_with_did_you_mean() -> None:
    _, errors = load("""
        routes:
          - name: cards
            when:
              subjet: {contains: passerkort}
            then: {queue: lukortet, tgas: [card]}
    """)
    assert errors == [
        "routes.yaml:4:7: unknown key 'subjet' (did you mean 'subject'?)",
        "routes.yaml:5:29: unknown key 'tgas' (did you mean 'tags'?)",
    ]


def test_wrong_types() -> None:
    _, errors = load("""
        routes:
          - name: cards
            when: {subject: {contains: 5}, flag: {x: 1}}
            then: {hold: "yes", acknowledgement: false}
    """)
    assert errors == [
        "routes.yaml:3:32: routes.0.when.subject.contains:"
        " expected a string or a list of strings, got int",
        "routes.yaml:3:42: routes.0.when.flag: expected a string or a list of strings, got dict",
        "routes.yaml:4:18: routes.0.then.hold: expected boolean, got str",
        "routes.yaml:4:42: routes.0.then.acknowledgement:"
        " expected a template name or none, got bool",
    ]


def test_unknown_queue_and_template() -> None:
    _, errors = load("""
        routes:
          - name: cards
            when: {subject: {contains: passerkort}}
            then: {queue: lukort, acknowledgement: acknowledgment}
          - name: sot
            when: {subject: {contains: tenta}}
            then:
              queue: SoT
              acknowledgement: sot-ack
    """)
    assert errors == [
        "routes.yaml:4:19: unknown queue 'lukort' (did you mean 'lukortet'?)",
        "routes.yaml:4:44: unknown template 'acknowledgment' (did you mean 'acknowledgement'?)"
        " (or 'none' to send no acknowledgement)",
        "routes.yaml:8:14: unknown queue 'SoT' (did you mean 'sot'?)",
        "routes.yaml:9:24: unknown template 'sot-ack' (or 'none' to send no acknowledgement)",
    ]


def test_invalid_regex_at_the_regex_string() -> None:
    _, errors = load(r"""
        routes:
          - name: printing
            when:
              any:
                - text: {contains: skrivare}
                - subject: {matches: '\b(skrivare|printer\b'}
            then: {tags: [printing]}
          - name: lists
            when: {header: {name: List-Id, matches: "*"}}
            then: {drop: true}
    """)
    assert errors == [
        "routes.yaml:6:30: invalid regular expression '\\\\b(skrivare|printer\\\\b':"
        " missing ), unterminated subpattern at position 2",
        "routes.yaml:9:45: invalid regular expression '*': nothing to repeat at position 0",
    ]


def test_unreachable_after_a_rule_without_conditions() -> None:
    _, errors = load("""
        routes:
          - name: everything
            then: {tags: [seen]}
          - name: cards
            when: {subject: {contains: passerkort}}
            then: {queue: lukortet}
          - {name: printing, when: {subject: {contains: skrivare}}, then: {}}
    """)
    assert errors == [
        "routes.yaml:4:5: rule 'cards' is unreachable:"
        " rule 'everything' (line 2) before it matches every message",
        "routes.yaml:7:5: rule 'printing' is unreachable:"
        " rule 'everything' (line 2) before it matches every message",
    ]


def test_unreachable_after_a_rule_that_always_matches() -> None:
    _, errors = load("""
        routes:
          - name: all-subjects
            when:
              any:
                - subject: {matches: '^.*'}
                - header: {name: List-Id}
            then: {tags: [x]}
          - name: cards
            when: {subject: {contains: passerkort}}
            then: {queue: lukortet}
    """)
    assert errors == [
        "routes.yaml:8:5: rule 'cards' is unreachable:"
        " rule 'all-subjects' (line 2) before it matches every message",
    ]


def test_unreachable_when_an_earlier_rule_asks_for_less() -> None:
    _, errors = load("""
        routes:
          - name: sot-exams
            when:
              function_address: {equals: sot@example.org}
              subject: {contains: tenta}
            then: {priority: high}
          - name: sot-exam-rooms
            when:
              all:
                - subject: {contains: tenta}
                - text: {contains: sal}
              function_address: {equals: sot@example.org}
            then: {tags: [room]}
    """)
    assert errors == [
        "routes.yaml:7:5: rule 'sot-exam-rooms' is unreachable:"
        " rule 'sot-exams' (line 2) before it matches every message this one would",
    ]


def test_reachable_rules_are_not_reported() -> None:
    # A header test or a regex that can fail is not a catch-all; order of lists matters.
    _, errors = load(r"""
        routes:
          - {name: lists, when: {header: {name: List-Id, matches: '.*'}}, then: {drop: true}}
          - {name: a, when: {subject: {matches: '^\s*$'}}, then: {}}
          - {name: b, when: {subject: {matches: '(?!x).*'}}, then: {}}
          - {name: c, when: {subject: {contains: [a, b]}}, then: {}}
          - {name: d, when: {subject: {contains: [b, a]}, text: {contains: z}}, then: {}}
          - {name: last, then: {}}
    """)
    assert errors == []


def test_a_rule_that_can_never_match() -> None:
    _, errors = load("""
        routes:
          - name: nothing
            when: {not: {text: {matches: 'x*'}}}
            then: {}
    """)
    assert errors == ["routes.yaml:2:5: rule 'nothing' can never match: its conditions contradict"]


def test_other_semantic_errors() -> None:
    _, errors = load(
        """
        routes:
          - name: a
            when: {function_address: {equals: [helpdesk@example.org, helpdsk@example.org]}}
            then: {drop: true, hold: true, queue: sot}
          - name: a
            when: {flag: private_adress, text: {contains: ' - '}}
            then: {}
        """,
        function_addresses=["helpdesk@example.org", "sot@example.org"],
        flags=FLAGS,
    )
    assert errors == [
        "routes.yaml:3:62: 'helpdsk@example.org' is not a function address of queues.yaml"
        " (did you mean 'helpdesk@example.org'?)",
        "routes.yaml:4:30: a mail cannot be both held and dropped",
        "routes.yaml:4:43: 'queue' has no effect: a dropped mail gets no ticket and no mail",
        "routes.yaml:5:11: duplicate rule name 'a' (first at line 2)",
        "routes.yaml:6:18: unknown flag 'private_adress' (did you mean 'private_address'?)",
    ]
    # ' - ' is a dash between spaces, so it is something to look for; spaces alone are not
    _, errors = load("routes:\n  - {name: x, when: {text: {contains: ['  ']}}, then: {}}\n")
    assert errors == ["routes.yaml:2:40: '  ' has nothing to look for once spaces are ignored"]


def test_every_error_is_reported_and_the_routes_are_empty() -> None:
    routes, errors = load("""
        routes:
          - name: good
            when: {subject: {contains: x}}
            then: {}
          - name: bad
            when: {subject: {matches: '('}, sendr: {}}
            then: {queue: nowhere}
    """)
    assert [e.split(": ")[0] for e in errors] == [
        "routes.yaml:6:31", "routes.yaml:6:37", "routes.yaml:7:19"
    ]
    assert routes.rules == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("routes: {}\n", ["routes.yaml:1:9: routes: expected array, got dict"]),
        ("- 1\n", ["routes.yaml:1:1: document: expected object, got list"]),
        ("rutes: []\n", [
            "routes.yaml:1:1: document: 'routes' is a required property",
            "routes.yaml:1:1: unknown key 'rutes' (did you mean 'routes'?)",
        ]),
        ("routes:\n  - name: x\n", ["routes.yaml:2:5: routes.0: 'then' is a required property"]),
    ],
)
def test_malformed_documents(text: str, expected: list[str]) -> None:
    assert load(text)[1] == expected


def test_absent_or_empty_file_means_no_rules() -> None:
    assert load_routes(None, queues=QUEUES, templates=TEMPLATES) == (Routes(), [])
    routes, errors = load("# all commented out\n")
    assert errors == [] and routes.rules == ()
    assert routes_of("routes: []\n").rules == ()


@pytest.mark.parametrize(
    ("pattern", "everything"),
    [
        (".*", True), ("^", True), ("(?:a|)", True), ("x?", True), (r"\A.*?", True),
        (".+", False), ("$", False), (r"\b", False), ("^$", False), ("(?!x)", False),
        ("a*b", False), (r"(a)\1*", False),
    ],
)
def test_matches_everything(pattern: str, everything: bool) -> None:
    compiled = re.compile(pattern)
    assert matches_everything(compiled) is everything
    if everything:  # the claim itself, on a few strings
        assert all(compiled.search(s) for s in ("", "x", "abc\n", "åäö"))


# -- the shipped rules

SHIPPED = REPO / "rules" / "routes.yaml"


def shipped() -> Routes:
    queues_doc = yaml.safe_load((REPO / "rules" / "queues.yaml").read_text())
    addresses = [a for q in queues_doc["queues"].values() for a in q["addresses"]]
    routes, errors = load_routes(
        load_file(SHIPPED), queues=QUEUES, templates=TEMPLATES,
        function_addresses=addresses, flags=FLAGS,
    )
    assert [str(e) for e in errors] == []
    return routes


def test_shipped_rules_load_and_reference_their_schema() -> None:
    assert len(shipped()) >= 6
    assert SHIPPED.read_text().splitlines()[0] == (
        "# yaml-language-server: $schema=./schema/routes.schema.json"
    )
    assert (REPO / "rules" / "schema" / "routes.schema.json").is_file()
    jsonschema.Draft202012Validator.check_schema(load_schema("routes"))


@pytest.mark.parametrize(
    ("subject", "text", "extra", "rule", "queue", "tags"),
    [
        ("Nytt passerkort", "Vi har en gästforskare som behöver ett passerkort.", {},
         "access-cards", "lukortet", ("access-card",)),
        ("Access card for visiting researcher", "Hello, a visiting researcher needs one.", {},
         "access-cards", "lukortet", ("access-card",)),
        ("Hej", "Kortläsaren vid E-huset blinkar rött.", {"to": ("sot@example.org",)},
         "access-cards", "lukortet", ("access-card",)),
        ("Skrivaren i rum 2110", "Den drar in flera papper åt gången.", {},
         "printing", None, ("printing",)),
        ("Printer in 2110", "It jams.", {}, "printing", None, ("printing",)),
        ("VPN hemifrån", "VPN fungerar inte hemifrån sedan i går.", {},
         "network", None, ("network",)),
        ("Eduroam nere?", "Inget trådlöst nät i E-huset.", {},
         "network-outage", None, ("network",)),
        ("Behöver programvaran XYZ", "Institutionen har en licens.", {},
         "software", None, ("software",)),
        ("I need a new keyboard", "Several keys are stuck.", {},
         "hardware", None, ("hardware",)),
        ("Kan inte logga in på Canvas", "Jag får 'ogiltigt konto'.", {},
         "accounts", None, ("account",)),
        ("Glömt lösenordet", "Mitt användarnamn är kim.", {"flags": ("private_address",)},
         "accounts-from-private-address", None, ("account", "identity-check")),
        ("Omtentan i sal E:C", "Projektorn saknas.", {"to": ("sot@example.org",)},
         "sot-exams", None, ("exam",)),
        ("Fråga", "Hur bokar jag ett grupprum?", {"sender": "kim@student.example.org"},
         "students", None, ("student",)),
        ("Min dator surrar", "Den surrar högt.", {}, "hardware", None, ("hardware",)),
        ("Hej", "Kan ni ringa mig?", {}, None, None, ()),
    ],
)
def test_shipped_rules_route_realistic_mail(
    subject: str, text: str, extra: dict[str, object], rule: str | None,
    queue: str | None, tags: tuple[str, ...],
) -> None:
    decision = evaluate(shipped(), facts(subject, text, **extra))  # type: ignore[arg-type]
    assert (decision.rule, decision.queue, decision.tags) == (rule, queue, tags), (
        decision.explanation
    )


def test_shipped_rules_drop_newsletters_and_page_for_alarms() -> None:
    routes = shipped()
    news = evaluate(routes, facts("Nyhetsbrev vecka 12", "Läs mer", automail="list"))
    assert news.rule == "newsletters" and news.drop
    alarm = evaluate(routes, facts(
        "PROBLEM: disk full on fs1", "disk / at 99%", sender="monitor@example.org",
        headers=(("x-monitor-state", "PROBLEM"),),
    ))
    assert alarm.rule == "monitoring-alarms"
    assert (alarm.priority, alarm.acknowledgement) == ("urgent", NO_ACK)
    assert alarm.notify == ("it-oncall@example.org",)
    private = evaluate(routes, facts("Nytt lösenord", flags=("private_address",)))
    assert private.hold
