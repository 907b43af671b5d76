"""Tests of the etiquette heuristics (ticketgate.etiquette) and their lexicon."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketgate.etiquette import (
    Lexicon,
    default_lexicon,
    find_computer_name,
    find_username,
    load_lexicon,
    missing_computer_name,
    multi_issue,
    parse_lexicon_yaml,
    private_address,
    segment,
    strip_subject,
    vague_subject,
)
from ticketgate.etiquette.lexicon import SUBJECT_LISTS, WORD_LISTS
from ticketgate.etiquette.text import (
    digits_end,
    has_digit,
    lines_tokens,
    match_before,
    needs_digit,
    remember_lines,
    search_first,
    tokenize,
)
from ticketgate.identity import code_pattern

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
PACKAGE_YAML = REPO / "daemon" / "ticketgate" / "etiquette" / "default.yaml"
RULES_YAML = REPO / "rules" / "etiquette.yaml"
SCHEMA = REPO / "rules" / "schema" / "etiquette.schema.json"
DOMAINS = ("example.org", "lu.se")


@pytest.fixture(scope="module")
def lx() -> Lexicon:
    return default_lexicon()


# --- vague_subject ---------------------------------------------------------------------------


def test_helpdesk_guide_subjects(lx: Lexicon) -> None:
    assert vague_subject("Hjälp!", lx) == "only filler words: hjälp"
    assert vague_subject("Panik!!!", lx) == "only filler words: panik"
    assert vague_subject("Ring mig!", lx) == "only filler words: ring, mig"
    assert vague_subject("Behöver ett nytt tangentbord", lx) is None
    assert vague_subject("Min dator surrar", lx) is None
    assert vague_subject("Behöver programvara ABC till undervisning i hus X", lx) is None
    assert vague_subject("Jag kommer inte in i lokal XYZ", lx) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Hjälp!",
        "SV: SV: Hjälp!",
        "re:RE : Sv:Hjälp!",
        "Fwd: FW: VS: AW: Hjälp!",
        "Re[2]: Hjälp!",
        "[DDG #1234] Hjälp!",
        "Re: [DDG #1234] Hjälp!",
        "[DDG #1234] Re: Hjälp!",
        "Hjälp! [DDG #1234]",
    ],
)
def test_prefixes_and_code_do_not_count(lx: Lexicon, subject: str) -> None:
    assert vague_subject(subject, lx) == "only filler words: hjälp"
    assert vague_subject(subject, lx, code_pattern=code_pattern("DDG")) == (
        "only filler words: hjälp"
    )


def test_prefixes_and_code_do_not_make_a_clear_subject_vague(lx: Lexicon) -> None:
    assert vague_subject("Re: [DDG #1001] Behöver ett nytt tangentbord", lx) is None
    assert vague_subject("SV: VB: Skrivaren på plan 3 är trasig", lx) is None


@pytest.mark.parametrize("subject", ["", "   ", "Re:", "SV: Fwd:", "[DDG #12]", "Re: [DDG #12]"])
def test_empty_subject_is_vague(lx: Lexicon, subject: str) -> None:
    assert vague_subject(subject, lx) == "empty"


@pytest.mark.parametrize("subject", ["?", "!!!", "123", ":-)"])
def test_subject_without_words_is_vague(lx: Lexicon, subject: str) -> None:
    assert vague_subject(subject, lx) == "no words"


@pytest.mark.parametrize(
    "subject",
    [
        "Akut: servern svarar inte",
        "AKUT!!! Skrivaren på plan 3 är trasig",
        "Urgent: course web server is down",
        "Viktigt: lösenordet har gått ut",
    ],
)
def test_urgent_word_before_a_description_is_clear(lx: Lexicon, subject: str) -> None:
    assert vague_subject(subject, lx) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Help!",
        "Panic!!!",
        "Call me!",
        "It doesn't work",
        "What's going on?",
        "Hej, jag har en fråga till er",
        "Kan ni kontakta mig så snart som möjligt",
        "Något har gått fel",
        "Svar önskas",
        "Snabbfråga",
        "IT-frågor",
        "You haven't replied",
    ],
)
def test_vague_subjects(lx: Lexicon, subject: str) -> None:
    assert vague_subject(subject, lx) is not None


@pytest.mark.parametrize(
    "subject",
    [
        "I need a new keyboard",
        "My computer is humming",
        "Ny mus",
        "Wifi nere",
        "Problem med VPN hemifrån",
        "Question about home directory backup",
        "Can't log in",
        "Kan inte logga in",
        "Teams kraschar",
        "Hjälp med Zoom-möte",
    ],
)
def test_clear_subjects(lx: Lexicon, subject: str) -> None:
    assert vague_subject(subject, lx) is None


def test_strip_subject() -> None:
    assert strip_subject("Re: SV:  [DDG #42]  Fwd: Skrivaren  är trasig") == "Skrivaren är trasig"
    assert strip_subject("[HELP #7] Re: x", code_pattern("HELP")) == "x"
    # A configured tag strips only its own codes.
    assert strip_subject("[OTHER #7] x", code_pattern("DDG")) == "[OTHER #7] x"
    assert strip_subject("Regarding the printer") == "Regarding the printer"
    assert strip_subject("R: statistics package") == "R: statistics package"


# --- multi_issue -------------------------------------------------------------------------------

GUIDE_MULTI = (
    "Behöver programvaran XYZ, ny behörighet på passerkortet och mitt tangentbord är smutsigt"
)


def test_guide_example_is_several_issues(lx: Lexicon) -> None:
    assert multi_issue(GUIDE_MULTI, "Hej,\nSom ämnesraden säger.\nMvh Kim", lx) is not None
    assert multi_issue("Några saker", f"Hej,\n{GUIDE_MULTI}.\nMvh Kim", lx) is not None


def test_guide_good_examples_are_one_issue(lx: Lexicon) -> None:
    assert multi_issue("Jag behöver nytt tangentbord", "Hej!\nSe rubriken.\n/Kim", lx) is None
    assert multi_issue("Behöver programvaran XYZ", "", lx) is None


SINGLE = [
    (
        "Min dator surrar",
        "Hej,\nMin dator surrar och blir varm, och skärmen blinkar ibland. Fläkten låter "
        "också mycket. Jag har provat att starta om.\nMvh Kim",
    ),
    (
        "Kan inte logga in på Canvas",
        "Hej, jag kan inte logga in på Canvas. Jag får felmeddelandet 'ogiltigt konto' och har "
        "provat både Firefox och Chrome, och även rensat cacheminnet.\nNils",
    ),
    (
        "Glömt lösenord",
        "Hej,\nJag har glömt mitt lösenord och kommer därför inte in i Canvas eller min e-post.\n"
        "Tack, Ali",
    ),
    (
        "Printer",
        "Hi,\nThe printer on floor 3 has problems:\n- it pulls several sheets at once\n"
        "- prints come out striped\nWe tried replacing the toner.\nJan",
    ),
    (
        "Slow network",
        "Hi,\nThe network in building E has been very slow since Monday, both on wifi and on "
        "cable. It affects everyone in the corridor, not just my computer.\nEva",
    ),
    (
        "Account for visiting researcher",
        "Hi,\nWe have a visiting researcher, Jonas Weber, from 1 to 30 April. He needs an "
        "account so that he can use eduroam, the printers and email.\nBest, Sanna",
    ),
    (
        "Laptop won't start",
        "Hi,\nMy laptop won't start. The power light is on but the screen stays black, and it "
        "beeps three times when I press the button.\nKaren",
    ),
]


@pytest.mark.parametrize(("subject", "body"), SINGLE)
def test_one_problem_with_several_symptoms_is_one_issue(
    lx: Lexicon, subject: str, body: str
) -> None:
    assert multi_issue(subject, body, lx) is None


MULTI = [
    # one sentence, two independent clauses
    (
        "Hej",
        "Det trådlösa nätverket saknas i sal E:C och skrivaren i rum 2110 drar in flera "
        "papper åt gången.\nMvh Bo",
    ),
    # transitions
    (
        "Fråga",
        "Hej!\nJag behöver Zotero installerat. Dessutom har min bildskärm börjat blinka.\n/L",
    ),
    (
        "Hej",
        "Hej!\nJag behöver ett konto i Zoom.\n\nEn annan sak: passerkortet fungerar inte.\nAli",
    ),
    ("Hi", "Hi,\nThe wifi keeps dropping. While I'm at it, could you order me a new mouse?\nSam"),
    ("Hi", "Could you renew my access card? Separately, the course web server is down.\nUlla"),
    ("Hi", "Hi,\nI need a new keyboard. Also, my VPN does not work from home.\nKim"),
    # paragraphs
    (
        "Frågor",
        "Hej,\n\nMin dator har blivit väldigt långsam.\n\nJag skulle också vilja ha tillgång till "
        "den gemensamma mappen för projektet.\n\nTack!\nJonas",
    ),
    (
        "Requests",
        "Hello!\n\nThe lamp in my office is broken.\n\nI would also need a bigger monitor.",
    ),
]


@pytest.mark.parametrize(("subject", "body"), MULTI)
def test_several_matters(lx: Lexicon, subject: str, body: str) -> None:
    assert multi_issue(subject, body, lx) is not None


@pytest.mark.parametrize(
    "body",
    [
        "Hej,\n1. Canvas-kontot för kursen saknas.\n2. Projektorn i sal B är trasig.\n"
        "3. Jag behöver nytt passerkort.\nTack, Nils",
        "- VPN fungerar inte hemifrån\n- backupen av min hemkatalog verkar inte köras\nStina",
        "Hi\n1) Canvas login fails.\n2) The screen on DDG-PC-003 blinks.\nNils",
        "* please reset my password\n* the projector in B204 has no signal",
    ],
)
def test_lists_of_several_matters(lx: Lexicon, body: str) -> None:
    reason = multi_issue("Inför kursstart", body, lx)
    assert reason is not None and reason.startswith("list of")


def test_reasons_name_the_evidence(lx: Lexicon) -> None:
    body = "Hej!\nJag behöver ett konto i Zoom.\n\nEn annan sak: passerkortet fungerar inte."
    assert multi_issue("Hej", body, lx) == "2 unrelated matters: access, account"
    assert multi_issue(GUIDE_MULTI, "", lx) == "subject lists 2 matters: access, computer"
    body = "Hej,\nSkrivaren ger pappersstopp. Dessutom har jag inget konto till Canvas."
    assert multi_issue("Skrivaren", body, lx) == "2 unrelated matters: account, printer"
    body = "Hi,\nI need a new keyboard. Another thing: could you look at it soon?"
    assert multi_issue("Keyboard", body, lx) == "another matter: 'another thing'"


def test_list_of_steps_is_one_issue(lx: Lexicon) -> None:
    body = (
        "Hi,\n1. I open Outlook\n2. It asks for my password\n3. It then says the password is "
        "wrong\nWhat should I do?\nLee"
    )
    assert multi_issue("Outlook password", body, lx) is None


def test_subject_announcing_several(lx: Lexicon) -> None:
    body = "Hej!\nKan ni titta på det?\nSe också till att det blir klart."
    assert multi_issue("Några frågor", body, lx) is None  # nothing to count in the body
    body = "Hej,\nMin skärm blinkar. Kan ni också ringa mig om saken?"
    assert multi_issue("Två problem", body, lx) == "subject announces several: 'två problem'"


def test_greetings_and_closings_do_not_count(lx: Lexicon) -> None:
    body = "Hej Kim!\n\nSkrivaren på plan 2 är trasig.\n\nTack på förhand!\nMvh\nBo Ek\n"
    assert multi_issue("Skrivaren", body, lx) is None


# --- private_address ---------------------------------------------------------------------------


def test_private_address_without_username(lx: Lexicon) -> None:
    assert private_address("kim@gmail.com", "Hej, skrivaren är trasig.", lx, DOMAINS) == (
        True,
        None,
    )
    assert private_address("Kim <KIM@Gmail.COM>", "Printer broken.", lx, DOMAINS) == (True, None)


@pytest.mark.parametrize(
    ("text", "username"),
    [
        ("Mitt användarnamn: abc123", "abc123"),
        ("användarnamn är kimsv", "kimsv"),
        ("My username is ab1234cd.", "ab1234cd"),
        ("Jag heter Kim (ab1234cd-s) och går första året.", "ab1234cd-s"),
        ("LU-ID: ki1234sv", "ki1234sv"),
    ],
)
def test_private_address_with_username(lx: Lexicon, text: str, username: str) -> None:
    assert private_address("kim@gmail.com", text, lx, DOMAINS) == (False, username)


def test_username_cue_needs_a_name(lx: Lexicon) -> None:
    assert find_username("Jag har glömt mitt användarnamn.", lx) is None
    assert find_username("Mitt användarnamn är inte aktivt längre.", lx) is None
    assert find_username("My username doesn't work", lx) is None


@pytest.mark.parametrize(
    "sender",
    ["kim@example.org", "kim@student.example.org", "Kim <kim@a.b.example.org>", "x@LU.SE"],
)
def test_institutional_domains_and_subdomains(lx: Lexicon, sender: str) -> None:
    assert private_address(sender, "Skrivaren är trasig.", lx, DOMAINS) == (False, None)


def test_lookalike_domains_are_private(lx: Lexicon) -> None:
    for sender in ("kim@notexample.org", "kim@example.org.evil.com", "kim@example.orgx"):
        assert private_address(sender, "x", lx, DOMAINS)[0] is True


def test_no_sender_or_no_domains_flags_nothing(lx: Lexicon) -> None:
    assert private_address(None, "x", lx, DOMAINS) == (False, None)
    assert private_address("", "x", lx, DOMAINS) == (False, None)
    assert private_address("kim@gmail.com", "x", lx, ()) == (False, None)
    assert private_address("kim@gmail.com", "x", lx, ["@Example.ORG."])[0] is True
    assert private_address("kim@example.org", "x", lx, ["@Example.ORG."])[0] is False


# --- missing_computer_name ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Min dator surrar", "Hej, den surrar hela tiden."),
        ("My computer is humming", "It hums all day."),
        ("Zotero", "Kan ni installera Zotero på min arbetsdator?"),
        ("Laptop", "The laptop in room 2110 won't start."),
    ],
)
def test_missing_computer_name(lx: Lexicon, subject: str, body: str) -> None:
    assert missing_computer_name(subject, body, lx) is not None


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Min dator surrar", "Datorn heter ddg-pc-1234."),
        ("Bildskärmen blinkar på dator DDG-PC-003", ""),
        ("My laptop won't start", "It is DDG-LAP-12."),
        ("Datorn", "Den har nummer LU-123456 på klistermärket."),
        ("Datorn", "Datornamn: kemi42"),
        ("Ny dator", "Vi behöver en ny dator till vår doktorand."),
        ("New laptop", "Please order a new laptop for Kim."),
        ("Skrivaren", "Skrivaren på plan 3 är trasig."),
    ],
)
def test_computer_named_or_not_a_specific_computer(lx: Lexicon, subject: str, body: str) -> None:
    assert missing_computer_name(subject, body, lx) is None


def test_missing_computer_name_reason(lx: Lexicon) -> None:
    assert missing_computer_name("Min dator surrar", "", lx) == (
        "mentions 'dator' but names no computer"
    )


# --- the lexicon ---------------------------------------------------------------------------------


def _minimal(**extra: Any) -> dict[str, Any]:
    return {"languages": {"sv": {"filler": ["hej"]}}, **extra}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({}, "languages"),
        ({"languages": {}}, "languages"),
        ([], "(top level)"),
        (_minimal(version=2), "version"),
        (_minimal(colours=1), "colours"),
        ({"languages": {"sv": {"filer": ["hej"]}}}, "languages.sv.filer"),
        ({"languages": {"sv": {"filler": "hej"}}}, "languages.sv.filler"),
        ({"languages": {"sv": {"filler": ["hej", True]}}}, "languages.sv.filler[1]"),
        ({"languages": {"sv": {"filler": ["hej", "!!"]}}}, "languages.sv.filler[1]"),
        ({"languages": {"en": {"topics": {"x": ["a", ""]}}}}, "languages.en.topics.x[1]"),
        ({"languages": {"en": {"inflections": ["s", "-ed"]}}}, "languages.en.inflections[1]"),
        (_minimal(thresholds={"multi_min_matters": 0}), "thresholds.multi_min_matters"),
        (_minimal(thresholds={"multi_min_matters": True}), "thresholds.multi_min_matters"),
        (_minimal(thresholds={"bogus": 2}), "thresholds.bogus"),
        (_minimal(patterns={"username": "("}), "patterns.username"),
        (_minimal(patterns={"computer_names": ["ok", "[x"]}), "patterns.computer_names[1]"),
        (_minimal(matters={"related": [["a", "b"]]}), "matters.related[0][0]"),
        (_minimal(matters={"related": [["a"]]}), "matters.related[0]"),
        (_minimal(matters={"parts_default": "nope"}), "matters.parts_default"),
    ],
)
def test_load_lexicon_errors_name_the_key(data: Any, key: str) -> None:
    with pytest.raises(ValueError, match=rf"^etiquette rules: {re.escape(key)}: "):
        load_lexicon(data)


def test_yaml_booleans_are_caught() -> None:
    # Unquoted "no"/"on" become booleans in YAML 1.1: the error names the entry.
    with pytest.raises(ValueError, match=r"languages\.en\.problems\[1\]"):
        parse_lexicon_yaml("languages:\n  en:\n    problems: [broken, no]\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        parse_lexicon_yaml("languages: [")


def test_lexicon_is_frozen_and_hashable(lx: Lexicon) -> None:
    assert hash(lx) == hash(default_lexicon())
    with pytest.raises(AttributeError):
        lx.multi_min_matters = 3  # type: ignore[misc]


def test_shipped_rules_load_and_match_the_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in (PACKAGE_YAML, RULES_YAML):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# yaml-language-server: $schema=./schema/etiquette.schema.json")
        jsonschema.validate(yaml.safe_load(text), schema)
        assert parse_lexicon_yaml(text).languages == ("sv", "en")
    language = schema["$defs"]["language"]["properties"]
    assert set(language) == {*WORD_LISTS, *SUBJECT_LISTS, "topics", "inflections"}


def test_thresholds_are_tunable() -> None:
    data = yaml.safe_load(PACKAGE_YAML.read_text(encoding="utf-8"))
    data["thresholds"]["vague_min_content_words"] = 3
    strict = load_lexicon(data)
    assert vague_subject("Skrivaren trasig", default_lexicon()) is None
    assert vague_subject("Skrivaren trasig", strict) is not None
    assert vague_subject("Skrivaren på plan 3 trasig", strict) is None


# --- robustness ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(subject=st.text(max_size=80), body=st.text(max_size=400), sender=st.text(max_size=40))
def test_never_raises(subject: str, body: str, sender: str) -> None:
    lexicon = default_lexicon()
    assert vague_subject(subject, lexicon) is None or isinstance(
        vague_subject(subject, lexicon), str
    )
    assert multi_issue(subject, body, lexicon) is None or isinstance(
        multi_issue(subject, body, lexicon), str
    )
    flag, username = private_address(sender, body, lexicon, DOMAINS)
    assert isinstance(flag, bool) and (username is None or isinstance(username, str))
    assert missing_computer_name(subject, body, lexicon) is None or isinstance(
        missing_computer_name(subject, body, lexicon), str
    )


@pytest.mark.parametrize(
    "text", ["x" * 300_000, "ab " * 100_000, "Hej, " * 60_000, "- a\n" * 60_000, "t.ex. " * 50_000]
)
def test_hostile_sizes_finish_quickly(lx: Lexicon, text: str) -> None:
    # One 300 000-letter token once took minutes in the wildcard patterns: texts are read up to
    # a bound and over-long tokens are never matched.
    started = time.perf_counter()
    vague_subject(text, lx)
    multi_issue(text, text, lx)
    private_address("kim@gmail.com", text, lx, DOMAINS)
    missing_computer_name(text, text, lx)
    assert time.perf_counter() - started < 10


# --- the development datasets ------------------------------------------------------------------

# Reached on the development set (bench/etiquette_scores.py): every figure is 1.000. The margin
# allows one or two new mistakes on vague_subject (41 positives) and none on multi_issue
# (10 positives), so that a regression fails here.
MARGIN = 0.05
REACHED = {"vague_subject": (1.0, 1.0), "multi_issue": (1.0, 1.0)}


def _scores(pairs: list[tuple[bool, bool]]) -> tuple[float, float]:
    tp = sum(1 for truth, pred in pairs if truth and pred)
    fp = sum(1 for truth, pred in pairs if pred and not truth)
    fn = sum(1 for truth, pred in pairs if truth and not pred)
    return tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0


@pytest.mark.skipif(not DATASETS.is_dir(), reason="development datasets not present")
def test_development_datasets(lx: Lexicon) -> None:
    vague: list[tuple[bool, bool]] = []
    with (DATASETS / "subjects.tsv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            subject = row["subject"] or ""
            vague.append((row["label"] == "vague", vague_subject(subject, lx) is not None))
    multi: list[tuple[bool, bool]] = []
    with (DATASETS / "bodies.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                predicted = multi_issue(rec["subject"], rec["body"], lx) is not None
                multi.append((rec["label"] == "multi", predicted))
    for name, pairs in (("vague_subject", vague), ("multi_issue", multi)):
        precision, recall = _scores(pairs)
        want_p, want_r = REACHED[name]
        assert precision >= want_p - MARGIN, f"{name} precision {precision:.3f}"
        assert recall >= want_r - MARGIN, f"{name} recall {recall:.3f}"


@pytest.mark.parametrize("body", [
    "Hej, skrivaren i rum 4110 skriver inte ut sedan i morse. Datornamn: LU-12345.",
    "Skrivaren i rum 4110 skriver inte ut. Datorn heter LU-12345.",
    "The printer in room 4110 does not print. Computer name: LU-12345.",
    "Jag kommer inte åt skrivaren i rum 2110. Mitt användarnamn är abc12.",
])
def test_giving_the_computer_name_or_username_is_not_a_second_matter(
    lx: Lexicon, body: str
) -> None:
    # The guide asks for both; a mail that does as told must not be called a bundle.
    assert multi_issue("Skrivaren i rum 4110 skriver inte ut", body, lx) is None


def test_a_named_computer_with_its_own_problem_still_counts(lx: Lexicon) -> None:
    body = ("Skrivaren i rum 4110 skriver inte ut. Dessutom startar inte min dator, "
            "datornamn LU-12345.")
    assert multi_issue("Skrivaren och datorn", body, lx) is not None


# --- shortcuts that must not change a result -------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "needs"),
    [
        (r"\d", True),
        (r"[0-9]+", True),
        (r"\blu-?\d{5,7}\b", True),
        (r"(?:ab\d|c[2-5])x", True),
        (r"(?>\d)", True),
        (r"7", True),
        (r"[0-9]*", False),  # may match no digit at all
        (r"(\d)?", False),
        (r"a|\d", False),
        (r"[^0-9]", False),
        (r"\D", False),
        (r"[0-9a]", False),
        (r"(?=\d)", False),  # a lookahead is not part of the match: left alone
        (r"\w+", False),
    ],
)
def test_needs_digit(pattern: str, needs: bool) -> None:
    assert needs_digit(re.compile(pattern, re.IGNORECASE)) is needs


def test_the_shipped_patterns_need_a_digit(lx: Lexicon) -> None:
    # Else a mail without digits pays a search with each of them again.
    assert all(needs_digit(p) for p in (*lx.username_ids, *lx.computer_names))


def test_a_pattern_without_a_digit_is_still_searched_in_a_text_without_one() -> None:
    lx = load_lexicon(_minimal(patterns={
        "username_ids": [r"\b[a-z]{2}\d{4}\b", r"\bkim\.svensson\b"],
        "computer_names": [r"\blu-?\d{5}\b", r"\bkims-macbook\b"],
    }))
    assert find_username("Hej, jag är Kim.Svensson och kör kims-macbook", lx) == "kim.svensson"
    assert find_computer_name("Hej, jag är Kim.Svensson och kör kims-macbook", lx) == (
        "kims-macbook"
    )
    # The first pattern wins when both match, as before.
    assert find_username("kim.svensson, ab1234", lx) == "ab1234"
    assert search_first([re.compile("x"), re.compile(r"\d")], "a1x") is not None
    assert search_first([re.compile(r"\d+")], "abc") is None
    found = search_first([re.compile(r"\d+")], "abc 42")
    assert found is not None and found.group(0) == "42"


def test_match_before_finds_what_search_finds() -> None:
    # Every digit of the text stands before `end`, so a match that needs one starts there.
    patterns = [r"\b[a-z]{2,6}-(?:pc|lap)-?\d{1,6}\b", r"(?<=x)\d+", r"^\d", r"\d+\s+\w+"]
    texts = ["room 12\nddg-pc-7 and more", "ax12 b", "3 äpplen\nfoo", "pc 5\n9x", "nothing\n"]
    for source in patterns:
        pattern = re.compile(source, re.IGNORECASE)
        for text in texts:
            end = digits_end(text)
            found, expected = match_before(pattern, text, end), pattern.search(text)
            assert (found and found.span()) == (expected and expected.span()), (source, text)
    assert digits_end("abc") == 0
    assert digits_end("a1b22c") == 5


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Dator 12 surrar", "Min dator låter.\nDatornamn saknas."),  # digits in the subject only
        ("Rum 4 och DDG-PC-12", "Datorn surrar."),  # the name itself in the subject
        ("Dator 4", "Min dator heter ddg-pc-77."),  # digits in both
        ("Skrivaren", "Datorn LU-123456 surrar."),
    ],
)
def test_computer_name_in_subject_or_text(lx: Lexicon, subject: str, body: str) -> None:
    # missing_computer_name tries only the subject's start positions when the text has no
    # digit; the answer must be what a search of subject and text together gives.
    named = find_computer_name(strip_subject(subject) + "\n" + body, lx)
    assert (missing_computer_name(subject, body, lx) is None) == (named is not None)


def test_identity_checks_do_not_depend_on_what_was_read_before(lx: Lexicon) -> None:
    # The identity checks reuse tokens multi_issue left (text.remember_lines) and the last
    # text they read; what they find must not depend on either.
    texts = [
        "Hej!\nMitt användarnamn är kim12.\nDatorn heter DDG-PC-12.\nMvh Kim",
        "Hello,\nmy laptop is broken: the screen flickers.\nUsername: ab1234cd\nThanks",
        "Datornamn: LU-123456\n- skrivaren\n- nätverket\nMVH",
        "ANVÄNDARNAMN: Kim.S\n\nDATORN startar inte.",
    ]
    fresh = {}
    for text in texts:
        remember_lines({})
        fresh[text] = (find_username(text, lx), missing_computer_name("Hjälp", text, lx),
                       find_computer_name(text, lx))
    for first in texts:
        for text in texts:
            multi_issue("Hjälp", first, lx)  # leaves the lines of `first`
            private_address("kim@gmail.com", first, lx, ["example.org"])
            assert (find_username(text, lx), missing_computer_name("Hjälp", text, lx),
                    find_computer_name(text, lx)) == fresh[text]
    # A remembered line is only ever the tokens of that very line.
    remember_lines({"Mitt användarnamn är kim12.": ["Mitt", "användarnamn", "är", "kim12"]})
    assert lines_tokens("x\nMitt användarnamn är kim12.\n  y: z ") == tokenize(
        "x\nMitt användarnamn är kim12.\n  y: z "
    )


@pytest.mark.parametrize(
    "text",
    ["a\rb\x0bc\x0cd\x1ce\x1df\x1eg\x85h\u2028i\u2029j", "pc:n\nwifi:t är nere\n", "", "\n\n"],
)
def test_lines_tokens_are_the_texts_tokens(text: str) -> None:
    remember_lines({"pc:n": ["pc"], "b": ["b"]})
    assert lines_tokens(text) == tokenize(text)
    remember_lines({})
    assert lines_tokens(text) == tokenize(text)


def test_same_matter_with_one_way_relations() -> None:
    lx = default_lexicon()
    one_way = dataclasses.replace(lx, related=frozenset({("printer", "network")}))
    assert one_way.same_matter({"printer"}, {"network"})
    assert not one_way.same_matter({"network"}, {"printer"})
    assert one_way.same_matter({"network", "av"}, {"av"})
    assert not one_way.same_matter(set(), {"av"})


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("Datorn är trasig.", ["Datorn är trasig."]),
        ("Datorn är trasig. Skrivaren också!", ["Datorn är trasig.", "Skrivaren också!"]),
        ("Se bilden, e.g. här", ["Se bilden, e.g. här"]),  # an abbreviation goes on
        ("Hej!  Nu\tigen? ja", ["Hej!", "Nu\tigen?", "ja"]),
        ("Ring kl. 10 tack", ["Ring kl. 10 tack"]),
        ("Ett; två", ["Ett", "två"]),
        ("   ", []),
        ("Hjälp?Nu", ["Hjälp?Nu"]),
    ],
)
def test_sentences(block: str, expected: list[str]) -> None:
    assert segment.sentences(block) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Datorn är trasig.", ["Datorn", "är", "trasig"]),
        ("Hjälp?!", ["Hjälp"]),
        ("x_y z", None),  # "_" is a word character but not alphanumeric: the regex decides
        ("can't log in e-post!", ["can't", "log", "in", "e-post"]),
        ("can' t", None),
        ("a -b", None),
        ("a--b", None),
        ("a - b", None),  # a clause break
        ("Datorn, skrivaren", None),
        ("e.g.", None),
        ("", None),
        ("٣ ½ ² abc\u2028def", ["٣", "½", "²", "abc", "def"]),
    ],
)
def test_plain_words(sentence: str, expected: list[str] | None) -> None:
    assert segment.plain_words(sentence) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("aåZ7٣½²_ .!?,:'-\t\u2028\x1c\xa0"), max_size=30))
def test_plain_words_are_the_sentence_tokens(sentence: str) -> None:
    words = segment.plain_words(sentence)
    if words is not None:
        assert words == re.findall(r"\w++(?:['\-:.]\w++)*+", sentence)
        assert segment.sentence_tokens(sentence) == (words, [words])


@pytest.mark.parametrize(
    "text", ["", "abc", "åäö", "åäö 7", "x\u0663y", "ab\u2028c", "€ ½ ² ³", "٣"]
)
def test_has_digit_is_what_backslash_d_finds(text: str) -> None:
    assert has_digit(text) == (re.search(r"\d", text) is not None)
    # The shortcut for Latin-1 text rests on this: no decimal digit there but 0-9.
    assert [c for c in map(chr, range(256)) if c.isdecimal()] == list("0123456789")
