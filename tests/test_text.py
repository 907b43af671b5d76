"""Tests of ticketgate.mail.text: HTML to text, and the new text of replies."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ticketgate import mail
from ticketgate.mail.text import html_to_text, strip_quotes_and_signature

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
TALON = CORPORA / "talon"


def talon(path: str) -> Path:
    if not CORPORA.is_dir():
        pytest.skip("../shared/corpora is absent")
    return TALON / path


# --- html_to_text ----------------------------------------------------------------------------


def test_html_tags_scripts_and_styles_are_dropped() -> None:
    html = (
        "<html><head><title>T</title><style>p { color: red }</style>"
        "<script>alert('x < y')</script></head>"
        "<body><p>Hello <b>world</b></p><!-- hidden --><p>Bye</p></body></html>"
    )
    assert html_to_text(html) == "Hello world\n\nBye"


def test_html_entities_are_decoded() -> None:
    assert (
        html_to_text("<p>R&amp;D &lt;3 &eacute;t&#233; &#x263A;&nbsp;ok</p>") == "R&D <3 été ☺ ok"
    )


def test_html_paragraphs_lines_and_lists() -> None:
    html = (
        "<p>One</p><p>Two<br>Three</p><div>Four</div><div>Five</div><ul><li>a</li><li>b</li></ul>"
    )
    assert html_to_text(html) == "One\n\nTwo\nThree\n\nFour\nFive\n\n- a\n- b"


def test_html_whitespace_is_collapsed_except_in_pre() -> None:
    assert html_to_text("<p>a\n   b\t c</p><pre>x   y\n  z</pre>") == "a b c\n\nx   y\n  z"


def test_html_blockquote_becomes_quoted_lines() -> None:
    html = "<p>Reply</p><blockquote><p>Original</p><p>text</p></blockquote>"
    assert html_to_text(html) == "Reply\n\n> Original\n\n> text"


def test_html_broken_markup_keeps_the_text() -> None:
    assert html_to_text("<div><p>unclosed <b>bold <i>text") == "unclosed bold text"
    assert html_to_text("a < b and c > d") == "a < b and c > d"
    assert html_to_text("<p>before<!-- never closed <p>after") == "before"
    assert html_to_text("") == ""


def test_html_unclosed_title_does_not_hide_the_body() -> None:
    assert html_to_text("<html><head><title>Hi<body><p>Text</p><ul><li></li><li>x</ul>") == (
        "Text\n\n- x"
    )


def test_html_office_conditional_sections_are_dropped() -> None:
    html = "<p><![if !supportLists]>1.<![endif]> item</p><![CDATA[raw]]>"
    assert html_to_text(html).startswith("1. item")


@pytest.mark.parametrize(
    "html",
    [
        "<>" * 50_000,
        "<" * 100_000,
        "<!--" * 25_000,
        "<a " * 35_000,
        "<!-- <b>x</b>" * 8_000,
        "<![CDATA[-->" * 8_000,
        "</script>-->" * 8_000,
    ],
    ids=["lt-gt", "lt", "comments", "open-tags", "comment-tags", "cdata", "endtags"],
)
def test_html_parser_worst_cases_stay_linear(html: str) -> None:
    # each of these took from 2 s to over a minute in html.parser before _prepare()
    start = time.perf_counter()
    html_to_text(html)
    assert time.perf_counter() - start < 2


# --- strip_quotes_and_signature --------------------------------------------------------------


def test_quoted_lines_are_removed() -> None:
    text = "Yes, that works.\n\n> Can you try again?\n> Thanks\n\nBest regards,\nAnna"
    assert strip_quotes_and_signature(text) == "Yes, that works.\n\nBest regards,\nAnna"


@pytest.mark.parametrize(
    "attribution",
    [
        "On Mon, Apr 2, 2012 at 6:26 PM, Megan One <xxx@gmail.com> wrote:",
        "On Mon, Apr 2, 2012 at 6:26 PM, Megan One <\nxxx@gmail.com> wrote:",
        "Den 2 apr. 2012 kl. 18:26 skrev Megan One <xxx@gmail.com>:",
        "Den mån 2 apr. 2012 18:26Megan One <xxx@gmail.com> skrev:",
        "3 apr. 2012 kl. 16:19 skrev bob <bob@example.com>:",
        "Megan One skrev 2012-04-02 18:26:",
        "Am 02.04.2012 um 18:26 schrieb Megan One <xxx@gmail.com>:",
        "--- On Wed, 4/4/12, xxx@example.com <xxx@example.com> wrote:",
    ],
)
def test_top_posted_reply_drops_attribution_and_everything_after(attribution: str) -> None:
    text = f"Thanks, it works now.\n\n{attribution}\n\nHi, the printer is broken.\nNot quoted!"
    assert strip_quotes_and_signature(text) == "Thanks, it works now."


def test_bottom_posted_reply_keeps_the_answer_below_the_quote() -> None:
    text = "On 04/02/2012 06:26 PM, Megan One wrote:\n> Is it fixed?\nYes, since Monday."
    assert strip_quotes_and_signature(text) == "Yes, since Monday."


@pytest.mark.parametrize(
    "block",
    [
        "-----Original Message-----\nFrom: Bob\nSent: Monday\nTo: Helpdesk\nSubject: Printer",
        "----- Original Message -----\nFrom: Bob\nTo: Helpdesk",
        "-----Ursprungligt meddelande-----\nFrån: Bob\nSkickat: den 2 april 2012\nTill: Helpdesk",
        "From: Bob [mailto:bob@example.com]\nSent: Monday, April 02, 2012 5:44 PM\nTo: Helpdesk",
        "Från: Bob <bob@example.com>\nSkickat: den 2 april 2012 17:44\nTill: Helpdesk\nÄmne: Fel",
        "________________________________\nFrom: Bob\nSent: Monday\nTo: Helpdesk\nSubject: Hi",
        "*From:* Bob <bob@example.com>\n*Date:* Mon, 2 Apr 2012\n*To:* Helpdesk",
        "---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\nDate: Mon",
        "---------- Vidarebefordrat meddelande ---------\nFrån: Bob",
        "Begin forwarded message:\n\nFrom: Bob <bob@example.com>",
    ],
)
def test_outlook_blocks_and_forwarded_originals_are_removed(block: str) -> None:
    text = f"Please see below.\n\n{block}\n\nThe printer on floor 3 is broken."
    assert strip_quotes_and_signature(text) == "Please see below."


def test_bare_forward_has_no_new_text() -> None:
    text = "---------- Forwarded message ---------\nFrom: Bob\nDate: Mon\n\nThe original."
    assert strip_quotes_and_signature(text) == ""


def test_signature_after_rfc3676_delimiter_is_removed() -> None:
    text = "The VPN is down again.\n\nKind regards\n-- \nAnna Svensson\nIT, room 3"
    assert strip_quotes_and_signature(text) == "The VPN is down again.\n\nKind regards"
    assert strip_quotes_and_signature("Text\n--\nsig") == "Text"


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Skickat från min iPhone",
        "Sent from my Samsung Galaxy smartphone.",
        "Skickat från Outlook för iOS",
        "Get Outlook for Android",
        "Sent with Sparrow (http://www.sparrowmailapp.com/?sig)",
    ],
)
def test_mobile_footers_are_removed(footer: str) -> None:
    assert strip_quotes_and_signature(f"Hello\n\n{footer}") == "Hello"


def test_closings_and_look_alikes_are_kept() -> None:
    text = (
        "Thanks,\nJohn Doe\nSoftware Engineer\n\n"
        "-- FOUR $100 gift certificates\n"
        "From: Stockholm\nTo: Gothenburg\n"
        "Jag skrev till er den 3 maj:\n"
        "the printer still fails.\n"
        "I sent from my laptop the logs you asked for."
    )
    assert strip_quotes_and_signature(text) == text


def test_plain_text_is_unchanged_and_empty_is_empty() -> None:
    assert strip_quotes_and_signature("Line one\n\nLine two") == "Line one\n\nLine two"
    assert strip_quotes_and_signature("") == ""
    assert strip_quotes_and_signature("> all quoted") == ""


# --- talon's corpus of replies ---------------------------------------------------------------

STANDARD_REPLIES = [
    "android.eml",
    "aol.eml",
    "apple_mail.eml",
    "apple_mail_2.eml",
    "comcast.eml",
    "gmail.eml",
    "hotmail.eml",
    "iphone.eml",
    "outlook.eml",
    "sparrow.eml",
    "thunderbird.eml",
    "yahoo.eml",
]


@pytest.mark.parametrize("name", STANDARD_REPLIES)
def test_talon_standard_replies_keep_the_reply_and_drop_the_quote(name: str) -> None:
    parsed = mail.parse(talon(f"standard_replies/{name}").read_bytes())
    assert parsed.new_text == "Hello"
    assert len(parsed.text) > len(parsed.new_text)  # there was a quote to drop


def test_talon_share_block_reply() -> None:
    parsed = mail.parse(talon("reply-quotations-share-block.eml").read_bytes())
    assert parsed.new_text.startswith("Hi Katharine.")
    assert parsed.new_text.endswith("Joe XXX")
    assert "booking inquiry" not in parsed.new_text
    assert "booking inquiry" in parsed.text


@pytest.mark.parametrize(
    "name",
    [
        "gmail.html",
        "hotmail.html",
        "mail_ru.html",
        "ms_outlook_2003.html",
        "ms_outlook_2007.html",
        "ms_outlook_2010.html",
        "thunderbird.html",
        "windows_mail.html",
        "yandex_ru.html",
    ],
)
def test_talon_html_replies(name: str) -> None:
    html = talon(f"html_replies/{name}").read_text(encoding="utf-8", errors="replace")
    text = html_to_text(html)
    assert "Hello! How are you?" in text
    new = strip_quotes_and_signature(text)
    assert new.replace("\n\n", "\n") == "Hi. I am fine.\nThanks,\nAlex"


def test_talon_reply_text_fixtures() -> None:
    assert strip_quotes_and_signature(talon("standard_replies/iphone_reply_text").read_text()) == (
        "Hello"
    )
    assert strip_quotes_and_signature(talon("standard_replies/sparrow_reply_text").read_text()) == (
        "Hello"
    )


@pytest.mark.parametrize("name", ["jeff_body", "short_url_body", "long_body", "camel_case_body"])
def test_talon_signatures_without_delimiter_are_not_guessed_away(name: str) -> None:
    body = talon(f"signature/emails/stripped/{name}").read_text(encoding="utf-8")
    assert strip_quotes_and_signature(body) == body.strip("\n")
