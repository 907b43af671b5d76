"""Text helpers: HTML to plain text, and the new text of a reply without quotes and signature."""

from __future__ import annotations

import re
from html.parser import HTMLParser


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Paragraph-level elements get a blank line around them; other blocks (Gmail writes a <div> for
# every line) just start a new line.
_PARAGRAPH = _words("p h1 h2 h3 h4 h5 h6 ul ol dl table hr")
_LINE = _words("div tr dt dd form fieldset address article aside section header footer nav")
_SKIP = _words("script style title template")
_CELL = frozenset(("td", "th"))
_HTML_SPACE = re.compile(r"[ \t\n\r\f\u00a0\u200b]+")
# html.parser rescans to the end of the input for each "<" or "<!--" that starts nothing complete,
# which is quadratic (50,000 "<>" took 72 s). So comments are dropped first, in one linear pass,
# and a "<" that cannot start a tag (no ">" before the next "<", within 4 KiB) is escaped.
_STRAY_LT = re.compile(r"<(?![A-Za-z/?][^<>]{0,4096}>|![^\[<>][^<>]{0,4096}>)")
# Office's "<![if !supportLists]>" sections; any other "<![" (CDATA) is escaped, as html.parser
# searches to the end for its "]]>".
_MARKED_SECTION = re.compile(r"<!\[[^\[\]<>]{0,200}\]>")


def _prepare(html: str) -> str:
    out: list[str] = []
    pos = 0
    while (start := html.find("<!--", pos)) >= 0:
        out.append(html[pos:start])
        end = html.find("-->", start + 4)
        pos = len(html) if end < 0 else end + 3  # unterminated: the rest is comment
    out.append(html[pos:])
    return _STRAY_LT.sub("&lt;", _MARKED_SECTION.sub("", "".join(out)))


class _TextParser(HTMLParser):
    """Collects lines of text with their blockquote depth; stdlib only, tolerant of bad HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self.current: list[str] = []
        self.has_text = False  # whether the current line has more than white space
        self.skip = 0
        self.pre = 0
        self.quote = 0

    def _flush(self) -> None:
        line = "".join(self.current)
        self.lines.append((self.quote, line.rstrip() if self.pre else line.strip()))
        self.current = []
        self.has_text = False

    def _newline(self) -> None:
        if self.has_text:
            self._flush()

    def _paragraph(self) -> None:
        if self.has_text:
            self._flush()
        if self.lines and self.lines[-1][1]:
            self.lines.append((self.quote, ""))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "body":  # whatever was left open in the head is over
            self.skip = 0
        elif tag == "br":
            self._flush()
        elif tag == "blockquote":
            self._paragraph()
            self.quote += 1
        elif tag == "li":
            self._newline()
            self.current.append("- ")
        elif tag in _CELL:
            self.current.append(" ")
        elif tag == "pre":
            self._paragraph()
            self.pre += 1
        elif tag in _PARAGRAPH:
            self._paragraph()
        elif tag in _LINE:
            self._newline()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:  # <br/>, and <div/> that some generators write
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self._paragraph()
            self.quote = max(0, self.quote - 1)
        elif tag == "pre":
            self._paragraph()
            self.pre = max(0, self.pre - 1)
        elif tag in _PARAGRAPH:
            self._paragraph()
        elif tag == "li" and not self.has_text:
            self.current = []  # an empty item leaves no dangling "- "
        elif tag in _LINE or tag == "li":
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            first, *rest = data.replace("\r\n", "\n").split("\n")
            self.current.append(first)
            for line in rest:
                self._flush()
                self.current.append(line)
            self.has_text = True
            return
        text = _HTML_SPACE.sub(" ", data)
        if not self.has_text:
            text = text.lstrip()
        self.has_text = self.has_text or bool(text)
        self.current.append(text)


def html_to_text(html: str) -> str:
    """Readable text of an HTML document: tags, scripts and styles dropped, entities decoded,
    paragraphs kept as blank lines, blockquotes as "> " lines (so quotes are found as in plain
    text). Never raises."""
    parser = _TextParser()
    try:
        parser.feed(_prepare(html))
        parser.close()
    except Exception:  # html.parser is lenient, but keep whatever was collected if it gives up
        pass
    parser._flush()
    out: list[str] = []
    for depth, line in parser.lines:
        text = ("> " * depth + line).rstrip() if depth and line else line.rstrip()
        if text or (out and out[-1]):
            out.append(text)
    return "\n".join(out).strip("\n").replace("\u00a0", " ")


# --- replies ---------------------------------------------------------------------------------

_QUOTED = re.compile(r"^\s*>")
_SIG_DELIMITER = re.compile(r"^--[ \t]?$")
_OPENER = re.compile(r"^[-\s*]*(on|den|am|le|el|il|op|em|w dniu|dne)\b", re.I)
_VERB = re.compile(
    r"\b(wrote|writes|skrev|schrieb|a écrit|escribió|ha scritto|schreef|napisał|написала?|"
    r"kirjoitti|írta|yazdı|escreveu|skrifaði)\b.{0,120}:$",
    re.I,
)
# an attribution names an address or a time; "I wrote to you on May 3:" does neither
_ADDRESS_OR_TIME = re.compile(r"@|\d[:.]\d\d\b")
_WRAPPED_PREFIX = re.compile(r"([<,\"(]|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}.*)$")
_MARKER = re.compile(
    r"^[-_=*\s]*-{2,}\s*(original message|ursprungligt meddelande|ursprüngliche nachricht|"
    r"oprindelig meddelelse|opprinnelig melding|message d'origine|mensaje original|"
    r"messaggio originale|alkuperäinen viesti|oorspronkelijk bericht|исходное сообщение|"
    r"forwarded message|vidarebefordrat meddelande|videresendt (melding|meddelelse)|"
    r"weitergeleitete nachricht|message transféré|mensaje reenviado)\s*-{2,}[-\s]*$"
    r"|^(begin forwarded message|början på vidarebefordrat meddelande|vidarebefordrat meddelande|"
    r"anfang der weitergeleiteten nachricht)\s*:?$",
    re.I,
)
_LABEL = re.compile(r"^\s*\*?\s*([^\W\d_]+(?: [^\W\d_]+)?)\s*:\*?(\s|$)")
_FROM_LABELS = _words("from från von de fra van od от lähettäjä feladó da")
_DATE_LABELS = _words(
    "sent date skickat datum gesendet envoyé enviado sendt verzonden lähetetty отправлено дата "
    "data inviato wysłano"
)
_HEADER_LABELS = (
    _FROM_LABELS
    | _DATE_LABELS
    | _words("to till an à para til aan кому cc kopia kopie subject ämne betreff objet asunto")
    | _words("emne onderwerp aihe тема oggetto temat reply-to")
)
_SEPARATOR = re.compile(r"^\s*([-_=*~]\s*){3,}$")
_MOBILE = re.compile(
    r"^\s*((sent|skickat|sendt|gesendet|envoyé|enviado|inviato|verzonden|lähetetty)\s+"
    r"(from|från|fra|von|de|desde|da|van|with|med|mit|avec|con|met|via)\b.{0,60}"
    r"\b(iphone|ipad|android|blackberry|samsung|galaxy|mobile|mobil|phone|telefon|outlook|"
    r"mail|sparrow|huawei|pixel|windows|smartphone|tablet|surfplatta)\b.{0,40}"
    r"|get outlook for (ios|android))\s*$",
    re.I,
)
_BLANK_LINES = re.compile(r"\n{3,}")


def _is_attribution(line: str, next_line: str | None) -> bool:
    text = line.strip()
    if len(text) > 300 or not text.endswith(":"):
        return False
    if _VERB.search(text):
        return bool(_OPENER.match(text) or _ADDRESS_OR_TIME.search(text))
    # Yandex and mail.ru write just a date and an address before the quote
    return bool(next_line is not None and _QUOTED.match(next_line) and "@" in text)


def _header_block(lines: list[str], i: int) -> bool:
    """Whether an Outlook-style "From: / Sent: / To:" block starts at lines[i]."""
    labels: set[str] = set()
    for line in lines[i : i + 8]:
        match = _LABEL.match(line)
        if not match or match.group(1).lower() not in _HEADER_LABELS:
            break
        labels.add(match.group(1).lower())
    return bool(labels & _FROM_LABELS and labels & _DATE_LABELS)


def _next_nonblank(lines: list[str], i: int) -> str | None:
    return next((line for line in lines[i : i + 3] if line.strip()), None)


def _find_split(lines: list[str]) -> tuple[int, int, bool] | None:
    """The first line where quoted or forwarded text begins: (start, end, is_attribution)."""
    for i, line in enumerate(lines):
        if not line.strip() or (">" in line and _QUOTED.match(line)):  # "in" spares a regex call
            continue
        spans = (1, 2, 3) if ":" in line or _OPENER.match(line) else ()
        for span in spans:  # an attribution may be wrapped over up to three lines
            if span > 1 and not _OPENER.match(line):
                break
            joined = " ".join(part.strip() for part in lines[i : i + span])
            if _is_attribution(joined, _next_nonblank(lines, i + span)):
                start = i
                if span == 1 and i > 0 and not _OPENER.match(line):
                    previous = lines[i - 1].strip()
                    if (
                        previous
                        and not _QUOTED.match(previous)
                        and _WRAPPED_PREFIX.search(previous)
                    ):
                        start = i - 1
                return start, i + span, True
        if (":" in line or "-" in line) and (_MARKER.match(line) or _header_block(lines, i)):
            start = i - 1 if i > 0 and _SEPARATOR.match(lines[i - 1]) else i
            return start, len(lines), False
    return None


def _has_content(lines: list[str]) -> bool:
    return any(
        line.strip()
        and not _QUOTED.match(line)
        and not _MOBILE.match(line)
        and not _SEPARATOR.match(line)
        for line in lines
    )


def strip_quotes_and_signature(text: str) -> str:
    """The new text of a reply: quoted lines, the quoted original after an attribution ("On ...
    wrote:", "Den ... skrev:"), Outlook "Original Message"/"From: ... Sent: ..." blocks, forwarded
    originals, the signature after an RFC 3676 "-- " line and mobile footers removed.

    Closings and name blocks without a "-- " line are kept: guessing them wrong loses the reply.
    Bottom-posted replies (attribution first, answer below the quote) keep the unquoted answer.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for _ in range(3):
        split = _find_split(lines)
        if split is None:
            break
        start, end, attribution = split
        if _has_content(lines[:start]):
            lines = lines[:start]
            break
        # nothing above it: a bottom-posted answer below an attribution, or a bare forward
        lines = lines[end:] if attribution else []
    joined = "\n".join(lines)
    if "--" not in joined and ">" not in joined:  # no signature delimiter, no quoted line
        kept = [line.rstrip() for line in lines if not _MOBILE.match(line)]
    else:
        kept = []
        for line in lines:
            if _SIG_DELIMITER.match(line):
                break
            if not _QUOTED.match(line) and not _MOBILE.match(line):
                kept.append(line.rstrip())
    while kept and (not kept[-1] or _SEPARATOR.match(kept[-1])):
        kept.pop()
    # blank lines at the start dropped, runs of them made one (kept lines have no end spaces)
    joined = "\n".join(kept)
    if "\n\n\n" in joined:  # a plain search is ~10x faster than the regex's in CPython
        joined = _BLANK_LINES.sub("\n\n", joined)
    return joined.strip("\n")


def is_quoted(line: str) -> bool:
    """Whether `line` is quoted text (starts with ">", after any white space)."""
    return bool(_QUOTED.match(line))


def quote_split(lines: list[str]) -> tuple[int, int, bool] | None:
    """Where quoted or forwarded text begins in `lines`, as strip_quotes_and_signature finds it:
    (start, end, is_attribution). An attribution ("On … wrote:", "Den … skrev:", wrapped over up
    to three lines) spans lines[start:end]; a header block ("From:/Sent:", "Från:/Skickat:") or
    an "Original Message" line gives end == len(lines), as all below it is the original. Lines
    that are already quoted ("> …") are not looked at. For mail/replycut.py."""
    return _find_split(lines)
