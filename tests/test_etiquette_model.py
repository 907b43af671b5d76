"""The subject model (a thing and a matter), site names, what works as context, the computer
as the matter, and the flags' reasons as data in the verdict, `rules test` and the
acknowledgement. Scores on the project's development sets: bench/data/etiquette."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from conftest import make_mail, run_cli
from ticketgate.etiquette import (
    Lexicon,
    default_lexicon,
    judge_subject,
    matters_seen,
    missing_computer_name,
    multi_issue,
    vague_subject,
)
from ticketgate.outbox.render import Templates
from ticketgate.rules import load_rules

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import etiquette_scores  # noqa: E402


@pytest.fixture(scope="module")
def lx() -> Lexicon:
    return default_lexicon()


# --- vague_subject: a thing and a matter ----------------------------------------------------


@pytest.mark.parametrize(("subject", "kind"), [
    ("Funkar inte längre", "no_thing"),
    ("funkar ej", "no_thing"),
    ("Suddenly stopped working", "no_thing"),
    ("Crash at startup", "no_thing"),
    ("Keeps disconnecting", "no_thing"),
    ("Skrivaren", "no_matter"),
    ("server", "no_matter"),
    ("Min inloggning", "no_matter"),
    ("Angående min dator", "no_matter"),
    ("The app doesn't work", "placeholder"),
    ("Nya versionen fungerar inte", "placeholder"),
    ("Need help with my account", "placeholder"),
    ("Hjälp med installationen", "placeholder"),
    ("Hjälp!", "filler"),
    ("Behöver hjälp snarast", "filler"),
    ("How do I start", "filler"),
])
def test_kinds_of_vague_subjects(lx: Lexicon, subject: str, kind: str) -> None:
    found = judge_subject(subject, lx)
    assert found is not None and found.kind == kind, found


@pytest.mark.parametrize("subject", [
    "Skrivaren funkar inte",  # a thing with a generic complaint
    "Problem med VPN hemifrån",
    "Kontot är låst",  # a stand-in with a specific matter
    "Account locked",
    "Ny mus",
    "Fråga om backup av hemkatalogen",
    "Installera Matlab på min arbetsdator",
    "Dark mode setting not saved",  # words of no list, enough of them
    "Inaktiverad student i Sukat",
    "HP LaserJet M507 prints blank pages",  # a model name
])
def test_clear_subjects_name_a_thing_and_a_matter(lx: Lexicon, subject: str) -> None:
    assert vague_subject(subject, lx) is None


@pytest.mark.parametrize("subject", [
    "glomt losenord",  # no å, ä, ö
    "skrivarn funkar ej",
    "forgot pasword",  # a letter missing
    "Outlok kraschar",
    "wifi doesnt work in the libary",
    "datorn e jätteseg",
    "Behöver ngt program för att läsa pdf",
    "Skrivarproblem i rum 2110",  # a thing and a complaint run together
])
def test_misspellings_and_the_usual_short_forms(lx: Lexicon, subject: str) -> None:
    assert vague_subject(subject, lx) is None


def test_reasons_name_what_is_missing(lx: Lexicon) -> None:
    assert vague_subject("Funkar inte längre", lx) == "no thing named: funkar inte, längre"
    assert vague_subject("Skrivaren", lx) == "no matter said: skrivaren"
    assert vague_subject("Appen fungerar inte", lx) == (
        "no thing named, only a stand-in: appen, fungerar inte")
    found = judge_subject("Re: [DDG #3] Appen fungerar inte", lx)
    assert found is not None
    assert found.details() == {"kind": "placeholder", "subject": "Appen fungerar inte",
                               "things": [], "placeholders": ["appen"],
                               "matters": ["fungerar inte"]}


# --- site names -------------------------------------------------------------------------------


def test_site_names_teach_the_model_the_sites_systems(lx: Lexicon) -> None:
    assert vague_subject("Primula fungerar inte", lx) is not None
    taught = lx.with_site_names(["Primula", "helpdesk"])
    assert vague_subject("Primula fungerar inte", taught) is None
    assert vague_subject("primulan krånglar", taught) is None  # any case, inflected
    assert "helpdesk" not in taught.site_names  # a filler word names no thing
    assert vague_subject("Helpdesk problem", taught) is not None


def test_queues_and_route_words_reach_the_lexicon(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("queues.yaml", "routes.yaml", "etiquette.yaml"):
        (rules / name).write_text((REPO / "rules" / name).read_text(encoding="utf-8"),
                                  encoding="utf-8")
    routes = yaml.safe_load((rules / "routes.yaml").read_text(encoding="utf-8"))
    routes["routes"].insert(0, {"name": "payroll", "when": {"subject": {"contains": ["Primula"]}},
                                "then": {"tags": ["payroll"]}})
    (rules / "routes.yaml").write_text(yaml.safe_dump(routes, allow_unicode=True),
                                       encoding="utf-8")
    lexicon = load_rules(rules, None).lexicon
    assert {"Primula", "lukortet", "LU-kortet", "SoT Support"} <= set(lexicon.site_names)
    assert vague_subject("Primula fungerar inte", lexicon) is None
    assert vague_subject("Fungerar inte", lexicon) is not None


# --- multi_issue: what works is context ----------------------------------------------------


@pytest.mark.parametrize(("subject", "body"), [
    ("Kan inte skriva ut från laptopen",
     "Hej,\nJag kan inte skriva ut från min bärbara dator till skrivaren i korridoren. Min "
     "telefon och kollegans dator kan skriva ut till samma skrivare utan problem. Jag har "
     "startat om datorn.\nMvh Kim"),
    ("Cannot print from my laptop",
     "Hi,\nI can't print from my laptop to the printer in the corridor. My phone and my "
     "colleague's computer can print to the same printer just fine.\nKim"),
    ("VPN", "Hi,\nSince the Windows update the VPN won't connect. Wifi works and I can browse. "
            "My colleague with a Mac has no problem.\nB"),
    ("OneDrive", "Hi,\nOneDrive on my work computer doesn't sync. I can see the files online "
                 "and my phone syncs.\nIda"),
])
def test_what_works_and_what_was_tried_are_not_matters(
    lx: Lexicon, subject: str, body: str
) -> None:
    assert multi_issue(subject, body, lx) is None


def test_several_matters_are_still_seen(lx: Lexicon) -> None:
    body = ("Hej,\nSkrivaren på plan 3 fungerar inte. Dessutom fungerar inte passerkortet i "
            "hus E, men kortet fungerar i entrén.\nMvh Stina")
    assert multi_issue("Två saker", body, lx) is not None
    assert matters_seen("Två saker", body, lx) == ("printer", "access")
    asked = "Jag har några frågor. Hur vidarebefordrar jag min mejl? Och varför syns inte " \
            "min kurs i Canvas?"
    assert multi_issue("Några frågor", asked, lx) is not None  # questions ask


# --- missing_computer_name: only when the matter is the computer ---------------------------


@pytest.mark.parametrize(("subject", "body"), [
    ("Eduroam på mobilen", "Min mobil kommer inte upp på eduroam. Datorn fungerar fint."),
    ("Teams calls stutter", "My Teams calls stutter. My computer is new and everything else "
                            "works."),
    ("Locked out", "My account is locked. I tried on my computer and my phone."),
    ("Mejl", "Mejlen kommer inte fram till min telefon. På datorn fungerar allt."),
])
def test_no_computer_name_asked_when_the_computer_is_context(
    lx: Lexicon, subject: str, body: str
) -> None:
    assert missing_computer_name(subject, body, lx) is None


@pytest.mark.parametrize("body", [
    "Min dator surrar hela tiden.",
    "Kan ni installera Zotero på min arbetsdator?",
    "The screen of my laptop flickers.",
])
def test_computer_name_asked_when_the_computer_is_the_matter(lx: Lexicon, body: str) -> None:
    assert missing_computer_name("Dator", body, lx) is not None


@pytest.mark.parametrize("name", ["ddg-pc-1234", "DDG-LAP-12", "lab3-pc07", "LU-123456"])
def test_several_naming_patterns(lx: Lexicon, name: str) -> None:
    assert missing_computer_name("Datorn", f"Min dator {name} surrar.", lx) is None


# --- the reasons as data ------------------------------------------------------------------


def test_rules_test_json_gives_reasons_and_their_data(site: Path, tmp_path: Path) -> None:
    mail = tmp_path / "vague.eml"
    mail.write_bytes(make_mail("Funkar inte", "Skrivaren skriver inte ut. Dessutom fungerar "
                                              "inte VPN hemifrån."))
    result = run_cli(site, "rules", "test", "--json", str(mail))
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout.decode().splitlines()[0])
    assert row["reasons"]["vague_subject"] == "no thing named: funkar inte"
    assert row["flag_details"]["vague_subject"]["kind"] == "no_thing"
    assert row["flag_details"]["vague_subject"]["subject"] == "Funkar inte"
    assert row["flag_details"]["multi_issue"]["matters"] == ["printer", "network"]
    readable = run_cli(site, "rules", "test", str(mail)).stdout.decode()
    assert "flagged vague_subject: no thing named: funkar inte" in readable


def test_the_acknowledgement_makes_a_personal_suggestion() -> None:
    templates = Templates(REPO / "templates")
    context = {"code": "[DDG #12]", "queue": "DDG Helpdesk", "requester_name": "Kim",
               "flags": ["vague_subject", "missing_computer_name"], "followup": False,
               "named_code": "", "etiquette": {
                   "vague_subject": {"kind": "no_matter", "subject": "Skrivaren",
                                     "things": ["skrivaren"], "placeholders": [],
                                     "matters": []},
                   "missing_computer_name": {"mention": "datorn"}}}
    text = templates.render("acknowledgement", ("sv", "en"), context)
    assert 'Din ärenderad "Skrivaren" säger vad det gäller' in text
    assert 'Your subject "Skrivaren" says what it is about' in text
    assert 'en dator ("datorn")' in text and 'a computer ("datorn")' in text


# --- scores on the development sets ---------------------------------------------------------


def _counts(part: str) -> dict[str, dict[str, object]]:
    data = REPO / "bench" / "data" / "etiquette"
    lexicon = default_lexicon()
    subjects = etiquette_scores.load_subjects(data / "subjects.tsv")
    bodies = etiquette_scores.load_bodies(data / "bodies.jsonl")
    return {
        "vague_subject": etiquette_scores.score(
            "vague", subjects, lambda ex: vague_subject(ex.subject, lexicon), part=part,
            show_errors=False),
        "multi_issue": etiquette_scores.score(
            "multi", bodies, lambda ex: multi_issue(ex.subject, ex.body, lexicon), part=part,
            show_errors=False),
    }


def test_held_back_scores_reach_the_targets() -> None:
    found = _counts("held")
    for lang in ("sv", "en"):
        scope = found["vague_subject"][f"lang={lang}"]
        assert isinstance(scope, dict)
        assert scope["precision"] >= 0.90 and scope["recall"] >= 0.85, (lang, scope)
    multi = found["multi_issue"]["all"]
    assert isinstance(multi, dict)
    # Reached when the set was scored last (0.889 / 0.842); a regression fails here.
    assert multi["precision"] >= 0.88 and multi["recall"] >= 0.80, multi


_SEED_PROBE = """
import json, sys
from ticketgate import etiquette
from ticketgate.etiquette import default_lexicon
lexicon = default_lexicon()
out = []
for line in sys.stdin:
    case = json.loads(line)
    out.append([etiquette.vague_subject(case["subject"], lexicon),
                etiquette.multi_issue(case["subject"], case["body"], lexicon),
                etiquette.missing_computer_name(case["subject"], case["body"], lexicon)])
print(json.dumps(out))
"""


def test_the_flags_do_not_depend_on_the_hash_seed() -> None:
    # A set iterated where the first hit wins made a flag differ from one process to the next
    # (str hashes are salted per process): the same mail must get the same flags in any.
    import subprocess

    bodies = (REPO / "bench" / "data" / "etiquette" / "bodies.jsonl").read_text("utf-8")
    subjects = [
        line.split("\t")[-1] for line in
        (REPO / "bench" / "data" / "etiquette" / "subjects.tsv").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    cases = bodies + "".join(
        json.dumps({"subject": s, "body": ""}) + "\n" for s in subjects
    ) + json.dumps({"subject": "Undeliverable: Hello World", "body": ""}) + "\n"
    runs = set()
    for seed in ("0", "1", "2", "3", "4"):
        done = subprocess.run(
            [sys.executable, "-c", _SEED_PROBE], input=cases, capture_output=True, text=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}, check=True, timeout=120,
        )
        runs.add(done.stdout)
    assert len(runs) == 1
