"""Mail commands (ticketgate.staff.commands): a leading block of #lines, strict, bilingual."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from ticketgate.mail import parse
from ticketgate.mail.replycut import CutBy, cut_reply
from ticketgate.staff.commands import (
    NOBODY,
    PERMISSIONS,
    SENDER,
    SPECS,
    Command,
    CommandError,
    MailCommands,
    Problem,
    Verb,
    command_reference,
    parse_commands,
)

REPLIES = Path(__file__).parent / "data" / "replies"
ANSWER = "Hej Kim,\n\nSkrivaren är lagad.\n\n/Anna"


def only(text: str, **kw: object) -> Command:
    parsed = parse_commands(text, **kw)  # type: ignore[arg-type]
    assert parsed.ok, parsed.error
    (command,) = parsed.commands
    return command


@pytest.mark.parametrize(("line", "verb", "value", "permission"), [
    ("#status open", Verb.STATUS, "open", "status"),
    ("#status waiting", Verb.STATUS, "waiting", "status"),
    ("#status resolved", Verb.STATUS, "resolved", "status"),
    ("#status öppen", Verb.STATUS, "open", "status"),
    ("#status väntar", Verb.STATUS, "waiting", "status"),
    ("#status löst", Verb.STATUS, "resolved", "status"),
    ("#resolve", Verb.STATUS, "resolved", "status"),
    ("#löst", Verb.STATUS, "resolved", "status"),
    ("#take", Verb.OWNER, SENDER, "take"),
    ("#ta", Verb.OWNER, SENDER, "take"),
    ("#owner kim.k", Verb.OWNER, "kim.k", "owner"),
    ("#ägare Kim.K", Verb.OWNER, "kim.k", "owner"),
    ("#owner kim@example.org", Verb.OWNER, "kim@example.org", "owner"),
    ("#owner none", Verb.OWNER, NOBODY, "owner"),
    ("#ägare ingen", Verb.OWNER, NOBODY, "owner"),
    ("#queue print", Verb.QUEUE, "print", "queue"),
    ("#kö lukortet", Verb.QUEUE, "lukortet", "queue"),
    ("#priority high", Verb.PRIORITY, "high", "priority"),
    ("#prioritet hög", Verb.PRIORITY, "high", "priority"),
    ("#prioritet brådskande", Verb.PRIORITY, "urgent", "priority"),
    ("#priority low", Verb.PRIORITY, "low", "priority"),
    ("#note", Verb.NOTE, "", "note"),
    ("#anteckning", Verb.NOTE, "", "note"),
    ("#intern", Verb.NOTE, "", "note"),
])
def test_each_command_and_alias(line: str, verb: Verb, value: str, permission: str) -> None:
    parsed = parse_commands(f"{line}\n\n{ANSWER}")
    assert parsed.ok and parsed.text == ANSWER
    (command,) = parsed.commands
    assert (command.verb, command.value, command.permission, command.line_number,
            command.line) == (verb, value, permission, 1, line)
    assert command.permission in PERMISSIONS


@pytest.mark.parametrize("line", [
    "#RESOLVE", "  #Status  Waiting  ", "#status: waiting", "#status:waiting", "\t#take",
    "#STATUS VÄNTAR", "#status\u00a0waiting",
])
def test_case_spacing_and_a_colon_after_the_name_are_forgiven(line: str) -> None:
    assert parse_commands(line).ok


def test_swedish_letters_in_either_unicode_form() -> None:
    decomposed = unicodedata.normalize("NFD", "#kö print\n#status väntar")
    parsed = parse_commands(decomposed)
    assert parsed.value(Verb.QUEUE) == "print" and parsed.value(Verb.STATUS) == "waiting"


def test_several_commands_with_blank_lines_between_then_the_answer() -> None:
    parsed = parse_commands(f"\n#take\n\n#status waiting\n#priority high\n\n{ANSWER}\n")
    assert parsed.ok
    assert [(c.verb, c.value, c.line_number) for c in parsed.commands] == [
        (Verb.OWNER, SENDER, 2), (Verb.STATUS, "waiting", 4), (Verb.PRIORITY, "high", 5)]
    assert parsed.text == ANSWER and not parsed.internal


def test_a_mail_with_only_commands_leaves_no_text() -> None:
    parsed = parse_commands("#resolve\n#note\n\n")
    assert parsed.ok and parsed.text == "" and parsed.internal
    assert parsed.value(Verb.STATUS) == "resolved" and parsed.value(Verb.QUEUE) is None


def test_no_commands_leaves_the_text_as_it_is() -> None:
    assert parse_commands(ANSWER) == MailCommands(commands=(), text=ANSWER)


@pytest.mark.parametrize("text", [
    "Subject: #resolve", "Från: Helpdesk\n#resolve", "Status: resolved", "Owner: kim",
    "Ämne: [DDG #12] #take", "# A heading\nText", "#12 is the ticket", "#",
])
def test_key_value_lines_headings_and_numbers_are_text(text: str) -> None:
    first = text.split("\n")[0]
    parsed = parse_commands(text)
    if "\n#resolve" in text:  # a known command after text is refused, never ignored
        assert parsed.error is not None and parsed.error.problem is Problem.MISPLACED
        return
    assert parsed.ok and parsed.commands == () and parsed.text.split("\n")[0] == first


def test_a_quoted_command_does_nothing() -> None:
    parsed = parse_commands("> #resolve\n\nThanks, looking into it.")
    assert parsed.ok and parsed.commands == ()
    assert parsed.text == "> #resolve\n\nThanks, looking into it."


def test_commands_below_the_cut_do_nothing() -> None:
    # The Gmail fixture quotes a notification whose requester text ends with "#resolve".
    mail = parse((REPLIES / "commands_gmail_sv.eml").read_bytes())
    assert "#resolve" in mail.text
    cut = cut_reply(mail.text)
    assert cut.how is CutBy.SEPARATOR and "#resolve" not in cut.text
    parsed = parse_commands(cut.text)
    assert parsed.ok
    assert [(c.verb, c.value) for c in parsed.commands] == [
        (Verb.STATUS, "waiting"), (Verb.OWNER, SENDER)]
    assert parsed.text == "Hej Kim,\n\nKan du skicka numret på skrivarens etikett?\n\n/Anna"


@pytest.mark.parametrize(("text", "line_number", "suggestion"), [
    ("#reslove\n\nHej", 1, "#resolve"),
    ("#take\n#statsu waiting", 2, "#status"),
    ("#prio high", 1, "#priority"),
    ("#lös", 1, "#löst"),
    ("#resolve.", 1, "#resolve"),
    ("#hashtag", 1, None),
])
def test_typos_refuse_the_mail_naming_the_line(text: str, line_number: int,
                                               suggestion: str | None) -> None:
    parsed = parse_commands(text)
    assert parsed.error is not None
    assert (parsed.error.problem, parsed.error.line_number, parsed.error.suggestion) == (
        Problem.UNKNOWN, line_number, suggestion)
    assert parsed.commands == () and parsed.text == ""  # nothing to apply or relay
    assert text.split("\n")[line_number - 1] in parsed.error.message()


@pytest.mark.parametrize(("line", "expected"), [
    ("#status", ("open", "öppen", "öppna", "waiting", "väntar", "vänta", "resolved", "löst")),
    ("#status new", None), ("#status waiting now", None), ("#priority sky-high", None),
    ("#resolve now", ()), ("#take it", ()), ("#note please", ()),
    ("#owner", ("<username>", "none", "ingen")), ("#owner kim anna", None),
    ("#owner kim/anna", None), ("#queue", ("<queue>",)), ("#queue Print!", None),
])
def test_bad_arguments_refuse_the_mail(line: str, expected: tuple[str, ...] | None) -> None:
    parsed = parse_commands(f"{line}\n\nHej")
    error = parsed.error
    assert error is not None and error.problem is Problem.BAD_ARGUMENT and error.line == line
    if expected is not None:
        assert error.expected == expected


def test_a_close_argument_is_suggested() -> None:
    error = parse_commands("#status wating").error
    assert error is not None and error.suggestion == "waiting"
    assert "did you mean waiting?" in error.message()


def test_queues_are_checked_when_the_caller_names_them() -> None:
    queues = {"helpdesk", "lukortet", "print"}
    assert only("#queue print", queues=queues).value == "print"
    error = parse_commands("#queue prnt", queues=queues).error
    assert error is not None and error.problem is Problem.BAD_ARGUMENT
    assert error.expected == ("helpdesk", "lukortet", "print") and error.suggestion == "print"


@pytest.mark.parametrize(("text", "line_number", "other"), [
    ("#resolve\n#status waiting", 2, 1),
    ("#take\n#owner kim", 2, 1),
    ("#priority high\n\n#prioritet låg", 3, 1),
    ("#queue a\n#kö b", 2, 1),
])
def test_contradicting_commands_are_ambiguous(text: str, line_number: int, other: int) -> None:
    error = parse_commands(text).error
    assert error is not None
    assert (error.problem, error.line_number, error.other_line) == (
        Problem.AMBIGUOUS, line_number, other)
    assert f"contradicts line {other}" in error.message()
    assert f"motsäger rad {other}" in error.message("sv")


def test_the_same_command_twice_is_once() -> None:
    parsed = parse_commands("#resolve\n#status resolved\n#löst")
    assert parsed.ok and len(parsed.commands) == 1


def test_a_command_after_text_is_misplaced_not_relayed() -> None:
    parsed = parse_commands("Hej Kim,\n\nfixat.\n#resolve\n")
    assert parsed.error == CommandError(Problem.MISPLACED, 4, "#resolve")
    assert "commands go first" in parsed.error.message()
    # an unknown #word in the text is just text
    assert parse_commands("Hej Kim,\n#hashtag\n").ok


def test_refusal_messages_in_both_languages() -> None:
    error = parse_commands("#reslove").error
    assert error is not None
    assert error.message() == 'line 1: "#reslove": unknown command (did you mean #resolve?)'
    assert error.message("sv") == 'rad 1: "#reslove": okänt kommando (menade du #resolve?)'
    no_argument = parse_commands("#take me").error
    assert no_argument is not None and no_argument.message().endswith("takes no argument")
    denied = CommandError(Problem.NOT_PERMITTED, 2, "#queue print")
    assert denied.message("sv") == \
        'rad 2: "#queue print": du får inte använda det här kommandot här'


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_the_reference_lists_every_command_and_alias(lang: str) -> None:
    reference = command_reference(lang)
    for spec in SPECS:
        for name in (spec.name, *spec.aliases):
            assert f"#{name}" in reference
    assert ("väntar" in reference) and ("waiting" in reference)
    assert ("sätt ärendets status" in reference) == (lang == "sv")


def test_docs_staff_md_names_every_command_and_alias() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "staff.md").read_text()
    for spec in SPECS:
        for name in (spec.name, *spec.aliases):
            assert f"`#{name}" in docs, name
