"""The new text of a staff member's answer (ticketgate.mail.replycut): exactly that, or nothing."""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CORPORA
from ticketgate.mail import parse
from ticketgate.mail.replycut import (
    SEPARATOR_PHRASES,
    CutBy,
    ReplyCut,
    cut_reply,
    find_separator,
    separator_line,
)
from ticketgate.mail.text import html_to_text

REPLIES = Path(__file__).parent / "data" / "replies"
TALON = CORPORA / "talon"
needs_talon = pytest.mark.skipif(not TALON.is_dir(), reason="../shared/corpora/talon is absent")
ADDRESS = "helpdesk+bmaqcdyxk4vr7tzs3h2gq5wlnhe6jd4opfui2xa@example.org"


def lines_of(text: str) -> list[str]:
    """Text as lines without trailing space ("-- " kept), as cut_reply gives them."""
    return [line if line == "-- " else line.rstrip() for line in text.strip("\n").split("\n")]


# --- the talon corpus ----------------------------------------------------------------------------

TALON_REPLIES = {
    "android.eml": "Hello", "aol.eml": "Hello", "apple_mail.eml": "Hello",
    "apple_mail_2.eml": "Hello", "comcast.eml": "Hello", "gmail.eml": "Hello",
    "hotmail.eml": "Hello", "iphone.eml": None, "outlook.eml": "Hello", "sparrow.eml": None,
    "thunderbird.eml": "Hello", "yahoo.eml": "Hello",
}


@needs_talon
@pytest.mark.parametrize("name", sorted(TALON_REPLIES))
def test_talon_standard_replies_cut_to_exactly_the_new_text(name: str) -> None:
    folder = TALON / "standard_replies"
    expected = TALON_REPLIES[name]
    if expected is None:  # talon's own expected text, signature and all
        expected = (folder / f"{name.removesuffix('.eml')}_reply_text").read_text()
    cut = cut_reply(parse((folder / name).read_bytes()).text)
    assert cut.how is CutBy.QUOTE_BOUNDARY
    assert lines_of(cut.text) == lines_of(expected)


@needs_talon
@pytest.mark.parametrize("name", [
    "gmail.html", "hotmail.html", "mail_ru.html", "ms_outlook_2003.html", "ms_outlook_2007.html",
    "ms_outlook_2010.html", "thunderbird.html", "windows_mail.html", "yandex_ru.html",
])
def test_talon_html_replies_cut_to_the_new_text(name: str) -> None:
    html = (TALON / "html_replies" / name).read_text(encoding="utf-8")
    cut = cut_reply(html_to_text(html))
    assert cut.how is CutBy.QUOTE_BOUNDARY
    # as talon compares them: Outlook's <p> per line renders as paragraphs, which is the
    # HTML-to-text step's business, not the cut's
    assert re.sub(r"\s+", "", cut.text) == "Hi.Iamfine.Thanks,Alex"


@needs_talon
@pytest.mark.parametrize(("name", "expected"), [
    ("reply-separated-by-hr.html", "Hi\nthere\nBob"),
    ("OLK_SRC_BODY_SECTION.html", "Reply"),
])
def test_talon_other_html_replies(name: str, expected: str) -> None:
    cut = cut_reply(html_to_text((TALON / name).read_text(encoding="utf-8")))
    assert (cut.how, cut.text) == (CutBy.QUOTE_BOUNDARY, expected)


@needs_talon
def test_talon_reply_whose_quote_shares_its_block() -> None:
    cut = cut_reply(parse((TALON / "reply-quotations-share-block.eml").read_bytes()).text)
    assert cut.how is CutBy.QUOTE_BOUNDARY
    assert cut.text.startswith("Hi Katharine.") and cut.text.endswith("Joe XXX")
    assert "wrote" not in cut.text and "From:" not in cut.text


@needs_talon
def test_talon_bodies_without_any_quote_are_not_cut() -> None:
    bodies = sorted((TALON / "signature" / "emails" / "stripped").glob("*_body"))
    assert bodies
    for body in bodies:
        cut = cut_reply(body.read_text(encoding="utf-8"))
        assert (cut.how, cut.text, cut.reason) == (CutBy.NONE, "", "no_quote"), body.name


# --- replies written the way the common clients write them ------------------------------------

FIXTURES = {
    "outlook_sv": CutBy.SEPARATOR,
    "outlook_web_html_only_en": CutBy.SEPARATOR,
    "outlook_original_message_en": CutBy.QUOTE_BOUNDARY,
    "gmail_sv": CutBy.SEPARATOR,
    "gmail_html_only_en": CutBy.SEPARATOR,
    "gmail_no_separator_en": CutBy.QUOTE_BOUNDARY,
    "apple_mail_en": CutBy.SEPARATOR,
    "apple_mail_html_only_sv": CutBy.SEPARATOR,
    "thunderbird_en": CutBy.SEPARATOR,
    "thunderbird_original_message_sv": CutBy.QUOTE_BOUNDARY,
    "thunderbird_bottom_sv": CutBy.SEPARATOR,
    "commands_gmail_sv": CutBy.SEPARATOR,
}


def test_every_fixture_is_checked() -> None:
    names = {p.stem for p in REPLIES.glob("*.eml")}
    assert names == set(FIXTURES) | {"inline_answer_en", "no_quote_sv"}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_client_replies_cut_to_exactly_the_new_text(name: str) -> None:
    mail = parse((REPLIES / f"{name}.eml").read_bytes())
    cut = cut_reply(mail.text)
    expected = (REPLIES / f"{name}.txt").read_text(encoding="utf-8").removesuffix("\n")
    assert (cut.how, cut.text) == (FIXTURES[name], expected)
    assert "Kim Student" not in cut.text and "private_address" not in cut.text
    assert "helpdesk+" not in cut.text and "##-" not in cut.text


@pytest.mark.parametrize("name", ["outlook_sv", "gmail_sv"])
def test_the_html_alternative_cuts_to_the_same_lines(name: str) -> None:
    message = email.message_from_bytes((REPLIES / f"{name}.eml").read_bytes(),
                                       policy=email.policy.default)
    html = message.get_body(("html",))
    assert html is not None
    cut = cut_reply(html_to_text(html.get_content()))
    expected = (REPLIES / f"{name}.txt").read_text(encoding="utf-8")
    assert cut.how is CutBy.SEPARATOR
    assert [x for x in cut.text.split("\n") if x] == [x for x in expected.split("\n") if x]


@pytest.mark.parametrize(("name", "reason"), [
    ("inline_answer_en", "inline_answer"), ("no_quote_sv", "no_quote"),
])
def test_replies_that_cannot_be_cut_relay_nothing(name: str, reason: str) -> None:
    cut = cut_reply(parse((REPLIES / f"{name}.eml").read_bytes()).text)
    assert (cut.how, cut.text, cut.reason, cut.found) == (CutBy.NONE, "", reason, False)


# --- the separator --------------------------------------------------------------------------------

NOTICE = "New ticket [DDG #12] in DDG Helpdesk.\n\nFrom:        Kim <kim@example.org>"


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.split("\n"))


QUOTED_NOTICE = _quoted(NOTICE)


def test_the_separator_line_in_each_language() -> None:
    assert separator_line("en") == "##- Write your reply above this line -##"
    assert separator_line("sv") == "##- Skriv ditt svar ovanför denna rad -##"
    assert separator_line("de") == separator_line("en")
    for lang in SEPARATOR_PHRASES:
        assert find_separator(["Answer", "", separator_line(lang)]) == 2


@pytest.mark.parametrize("separator", [
    "> ##- Write your reply above this line -##",
    "> > ##- WRITE YOUR REPLY ABOVE THIS LINE -##",
    ">> ##- Write your reply\n>> above this\n>> line -##",
    "##- Skriv ditt svar\novanför denna rad -##",
    unicodedata.normalize("NFD", "> ##- Skriv ditt svar ovanför denna rad -##"),
    "> Write your reply above this line",
    ">\u00a0##-\u00a0Write your reply above this line\u00a0-##",
])
def test_the_separator_survives_quoting_wrapping_case_and_unicode_forms(separator: str) -> None:
    text = f"Fixed.\n\nOn Tue, 3 Jun 2025 at 10:12, Helpdesk <helpdesk@example.org> wrote:\n" \
           f"{separator}\n{QUOTED_NOTICE}"
    cut = cut_reply(text)
    assert (cut.how, cut.text, cut.line) == (CutBy.SEPARATOR, "Fixed.", 4)


def test_the_separator_in_html_only_mail() -> None:
    html = ("<div>Fixed.</div><div><br></div><div>Anna</div><blockquote><p>"
            "##-&nbsp;Write your reply <b>above</b> this line&nbsp;-##</p><p>New ticket</p>"
            "</blockquote>")
    assert cut_reply(html_to_text(html)) == ReplyCut("Fixed.\n\nAnna", CutBy.SEPARATOR, 5)


def test_a_banner_between_outlooks_header_block_and_the_separator_is_cut_too() -> None:
    banner = "\n".join(f"CAUTION: this mail came from outside the organisation ({i})."
                       for i in range(8))
    text = (f"Fixed.\n\n________________________________\nFrom: Helpdesk <{ADDRESS}>\n"
            f"Sent: Tuesday, June 3, 2025 10:12\nTo: Anna\nSubject: [DDG #12] x\n\n{banner}\n\n"
            f"{separator_line('en')}\n{NOTICE}")
    assert cut_reply(text) == ReplyCut("Fixed.", CutBy.SEPARATOR, 18)


def test_the_separator_wins_over_an_earlier_quote_like_line() -> None:
    # the staff member's own text has a "Från:/Skickat:" pair; only the separator counts
    text = ("Kim skrev till oss i fredags:\n\nFrån: Kim\nSkickat: fredag\n\nVi ser över det.\n\n"
            f"{separator_line('sv')}\n{NOTICE}")
    cut = cut_reply(text)
    assert cut.how is CutBy.SEPARATOR
    assert cut.text == "Kim skrev till oss i fredags:\n\nFrån: Kim\nSkickat: fredag\n\n" \
                       "Vi ser över det."


def test_nothing_above_the_separator_relays_nothing() -> None:
    for text in (f"{separator_line('en')}\n{NOTICE}",
                 f"On Tue, 3 Jun 2025, Helpdesk <h@example.org> wrote:\n> "
                 f"{separator_line('en')}\n{QUOTED_NOTICE}\n"):
        cut = cut_reply(text)
        assert (cut.how, cut.text, cut.reason) == (CutBy.NONE, "", "nothing_written")


def test_answers_between_quoted_lines_above_the_separator_relay_nothing() -> None:
    text = f"> Kim wrote that it blinks\nIt is the toner.\n\n> {separator_line('en')}\n> x"
    assert cut_reply(text).reason == "inline_answer"


def test_text_both_above_and_below_a_quoted_separator_relays_nothing() -> None:
    quote = f"On Tue, 3 Jun 2025, Helpdesk <h@example.org> wrote:\n> {separator_line('en')}\n"
    assert cut_reply(f"Fixed.\n\n{quote}{QUOTED_NOTICE}\n\nAnd more.").reason == \
        "text_around_quote"
    assert cut_reply(f"Fixed.\n\n{quote}{QUOTED_NOTICE}\n\n-- \nAnna").text == "Fixed."
    # unquoted (Outlook): all below the separator is the notification
    assert cut_reply(f"Fixed.\n\n{separator_line('en')}\n{NOTICE}").text == "Fixed."


def test_a_bottom_post_below_a_quoted_separator_with_more_quotes_relays_nothing() -> None:
    text = f"> {separator_line('en')}\n{QUOTED_NOTICE}\n\nFixed.\n\n> more quote\nmore text"
    assert cut_reply(text).reason == "inline_answer"


# --- the quote boundary without a separator -------------------------------------------------------

@pytest.mark.parametrize(("attribution", "kind"), [
    ("On Tue, Jun 3, 2025 at 10:12 AM Helpdesk DDG <helpdesk@example.org> wrote:", "gmail"),
    ("On Tue, Jun 3, 2025 at 10:12 AM Helpdesk DDG <\nhelpdesk@example.org> wrote:", "wrapped"),
    ("Den tis 3 juni 2025 kl 10:12 skrev Helpdesk DDG <helpdesk@example.org>:", "gmail sv"),
    ("Am Di., 3. Juni 2025 um 10:12 Uhr schrieb Helpdesk <helpdesk@example.org>:", "de"),
    ("Den 2025-06-03 kl. 10:12, skrev Helpdesk DDG:", "thunderbird sv"),
    ("-------- Original Message --------\nSubject: x\nDate: 2025-06-03\nFrom: h@example.org",
     "thunderbird"),
    ("-------- Ursprungligt meddelande --------\nÄmne: x\nDatum: 2025-06-03\nFrån: h@example.org",
     "thunderbird sv"),
    ("________________________________\nFrom: Helpdesk\nSent: Tuesday, June 3, 2025 10:12\n"
     "To: Anna\nSubject: [DDG #12] x", "outlook"),
    ("Från: Helpdesk <helpdesk@example.org>\nSkickat: den 3 juni 2025 10:12\nTill: Anna\n"
     "Ämne: [DDG #12] x", "outlook sv"),
    ("-----Original Message-----\nFrom: Helpdesk\nSent: Tuesday\nSubject: x", "outlook old"),
    ("> On 3 Jun 2025, at 10:12, Helpdesk <helpdesk@example.org> wrote:", "apple mail"),
])
def test_common_quote_boundaries(attribution: str, kind: str) -> None:
    text = f"Hello Kim,\n\nfixed.\n\nAnna\n\n{attribution}\n\n{QUOTED_NOTICE}\n"
    cut = cut_reply(text)
    assert (cut.how, cut.text) == (CutBy.QUOTE_BOUNDARY, "Hello Kim,\n\nfixed.\n\nAnna"), kind


def test_a_signature_below_the_quote_is_dropped_with_it_but_other_text_refuses() -> None:
    head = "Fixed.\n\nOn Tue, 3 Jun 2025, Helpdesk <h@example.org> wrote:\n> x\n\n"
    assert cut_reply(head + "-- \nAnna\n").text == "Fixed."
    assert cut_reply(head + "And one more thing.\n").reason == "text_around_quote"


def test_a_forward_with_nothing_written_relays_nothing() -> None:
    text = "---------- Forwarded message ---------\nFrom: Kim\nDate: Tue\n\nHi"
    assert cut_reply(text).reason == "nothing_written"


def test_no_quote_at_all_relays_nothing() -> None:
    for text in ("", "\n\n", "Just an answer, with the quote deleted.\n\nAnna"):
        assert cut_reply(text) == ReplyCut("", CutBy.NONE, None, "no_quote")


def test_signatures_and_mobile_footers_are_kept() -> None:
    text = ("Fixed.\n\n-- \nAnna Andersson\nIT-support\n\nSkickat från min iPhone\n\n"
            "Den 3 juni 2025 kl. 10:12 skrev Helpdesk <h@example.org>:\n> x")
    assert cut_reply(text).text == "Fixed.\n\n-- \nAnna Andersson\nIT-support\n\n" \
                                   "Skickat från min iPhone"


def test_cutting_a_large_answer_stays_linear() -> None:
    import time
    body = "word " * 20 + "\n"
    big = body * 20_000 + "\nOn Tue, 3 Jun 2025, Helpdesk <h@example.org> wrote:\n> x\n"
    started = time.perf_counter()
    cut = cut_reply(big)
    assert cut.how is CutBy.QUOTE_BOUNDARY and len(cut.text) > 1_000_000
    assert time.perf_counter() - started < 5


# --- property: any new text, any client's way of quoting ------------------------------------------

WORDS = ("hej", "kim", "skrivaren", "är", "lagad", "prova", "igen", "tonern", "the", "printer",
         "works", "now", "please", "try", "again", "room", "214", "tack", "anna", "ärende")
_line = st.builds(
    lambda indent, words, end: " " * indent + " ".join(words) + end,
    st.integers(0, 4), st.lists(st.sampled_from(WORDS), min_size=1, max_size=10),
    st.sampled_from(["", ".", "!", "?", ",", " ;)"]),
)
new_texts = st.lists(st.one_of(_line, _line, st.just("")), min_size=1, max_size=12).map(
    lambda lines: "\n".join(lines)).filter(lambda text: text.strip() != "")


def _html_div(text: str) -> str:
    return "".join(f"<div>{line or '<br>'}</div>" for line in text.split("\n"))


STYLES: dict[str, Callable[[str, str], str]] = {
    "gmail": lambda new, note: f"{new}\n\nOn Tue, Jun 3, 2025 at 10:12 AM Helpdesk DDG <"
                               f"{ADDRESS}> wrote:\n\n{_quoted(note)}\n",
    "gmail_sv_wrapped": lambda new, note: f"{new}\n\nDen tis 3 juni 2025 kl 10:12 skrev "
                                          f"Helpdesk DDG <\n{ADDRESS}>:\n\n{_quoted(note)}\n",
    "outlook_sv": lambda new, note: f"{new}\n\n________________________________\nFrån: Helpdesk "
                                    f"DDG <{ADDRESS}>\nSkickat: den 3 juni 2025 10:12\nTill: "
                                    f"Anna\nÄmne: [DDG #12] Skrivaren\n\n{note}\n",
    "outlook_en": lambda new, note: f"{new}\n\n-----Original Message-----\nFrom: Helpdesk DDG "
                                    f"<{ADDRESS}>\nSent: Tuesday, June 3, 2025 10:12 AM\nTo: "
                                    f"Anna\nSubject: [DDG #12] Printer\n\n{note}\n",
    "apple": lambda new, note: f"{new}\n\n> On 3 Jun 2025, at 10:12, Helpdesk DDG <{ADDRESS}> "
                               f"wrote:\n>\n{_quoted(note)}\n",
    "thunderbird": lambda new, note: f"{new}\n\nOn 2025-06-03 10:12, Helpdesk DDG wrote:\n"
                                     f"{_quoted(note)}\n",
    "thunderbird_bottom": lambda new, note: f"Den 2025-06-03 kl. 10:12, skrev Helpdesk DDG:\n"
                                            f"{_quoted(note)}\n\n{new}\n",
    "gmail_html": lambda new, note: html_to_text(
        f'<div dir="ltr">{_html_div(new)}</div><div class="gmail_quote">On Tue, Jun 3, 2025 at '
        f"10:12 AM Helpdesk DDG &lt;{ADDRESS}&gt; wrote:<br><blockquote>"
        f"{note.replace(chr(10), '<br>')}</blockquote></div>"),
}


@settings(max_examples=400, deadline=None)
@given(new=new_texts, style=st.sampled_from(sorted(STYLES)),
       lang=st.sampled_from([None, "sv", "en"]))
def test_the_cut_is_exactly_the_new_text_for_any_text_and_client(
        new: str, style: str, lang: str | None) -> None:
    note = NOTICE if lang is None else f"{separator_line(lang)}\n\n{NOTICE}"
    if style == "thunderbird_bottom" and lang is None:
        note = NOTICE
    text = STYLES[style](new, note)
    expected = "\n".join(lines_of(new)).strip("\n")
    if style == "gmail_html":  # HTML collapses leading spaces and runs of blank lines
        expected = re.sub(r"\n{3,}", "\n\n",
                          "\n".join(line.strip() for line in expected.split("\n")))
    cut = cut_reply(text)
    assert cut.text == expected, (style, text)
    assert cut.how is (CutBy.QUOTE_BOUNDARY if lang is None else CutBy.SEPARATOR)
