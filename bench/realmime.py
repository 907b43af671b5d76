"""The message as a mail program writes it, for bench/realmix.py: headers, MIME, encodings.

Four kinds of sender, as a university sees them: Outlook on Exchange Online (quoted-printable,
Thread-Index, an HTML part full of Word styles when it sends HTML), Gmail (a lean HTML part),
Thunderbird (format=flowed 8bit text), and the iPhone's Mail (quoted-printable). Each mail
has the Received chain, authentication results and DKIM signature an inbound relay adds.
Built by string formatting rather than `email.message`, so that a load generator can make
thousands a second; the same random generator gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import quopri
import random
from email.header import Header

ATTACHMENTS = ("screenshot.png", "felmeddelande.jpg", "logg.txt", "intyg.pdf",
               "rapport.docx", "Skärmbild 2025-03-03.png")
_ATTACHMENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "txt": "text/plain",
                     "pdf": "application/pdf",
                     "docx": "application/vnd.openxmlformats-officedocument."
                             "wordprocessingml.document"}
_SIZES = {"png": (15_000, 90_000), "jpg": (20_000, 120_000), "txt": (1_500, 8_000),
          "pdf": (25_000, 80_000), "docx": (12_000, 40_000)}
_AGENTS = {
    "outlook": "Microsoft Outlook 16.0",
    "gmail": None,
    "thunderbird": "Mozilla Thunderbird",
    "iphone": "iPhone Mail (22D63)",
}


def header(text: str) -> str:
    """RFC 2047 encoding for non-ASCII header text, as mail programs send it."""
    return text if text.isascii() else Header(text, "utf-8").encode()


def _qp(text: str, charset: str = "utf-8") -> bytes:
    body = quopri.encodestring(text.encode(charset, "replace"))
    return body.replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    encoded = base64.encodebytes(data)  # 76-character lines
    return encoded.replace(b"\n", b"\r\n")


def _flowed(text: str) -> bytes:
    # format=flowed: a line ending in a space continues; the text is wrapped already.
    return text.replace("\n", "\r\n").encode("utf-8")


def _received(rng: random.Random, rcpt: str, sender_domain: str, minute: int) -> list[str]:
    hour, mins = 8 + (minute // 60) % 9, minute % 60
    when = f"Mon, 3 Mar 2025 {hour:02d}:{mins:02d}:{rng.randint(0, 59):02d} +0100"
    relay = rng.randint(1, 4)
    if sender_domain.endswith("example.org"):  # from inside: the campus mail hub only
        return [f"Received: from exch{relay}.example.org (10.1.{relay}.{rng.randint(2, 250)})"
                f"\r\n\tby relay.example.org (Postfix) with ESMTPS id "
                f"{rng.getrandbits(40):010X}\r\n\tfor <{rcpt}>; {when}"]
    return [
        f"Received: from mx{relay}.example.org (mx{relay}.example.org [192.0.2.{relay}])\r\n"
        f"\tby relay.example.org (Postfix) with ESMTPS id {rng.getrandbits(40):010X}\r\n"
        f"\tfor <{rcpt}>; {when}",
        f"Received: from mail-{rng.choice(('eur', 'we', 'db'))}{rng.randint(1, 9)}"
        f".{sender_domain} (mail.{sender_domain} [198.51.100.{rng.randint(1, 254)}])\r\n"
        f"\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\r\n"
        f"\tby mx{relay}.example.org (Postfix) with ESMTPS id {rng.getrandbits(40):010X}\r\n"
        f"\tfor <{rcpt}>; {when}",
        f"Authentication-Results: mx{relay}.example.org; dkim=pass header.d={sender_domain};"
        f"\r\n\tspf=pass smtp.mailfrom={sender_domain}; dmarc=pass header.from={sender_domain}",
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={sender_domain}; s=s1;\r\n"
        f"\th=from:to:subject:date:message-id:mime-version;\r\n"
        f"\tbh={base64.b64encode(rng.randbytes(32)).decode()};\r\n"
        f"\tb={base64.b64encode(rng.randbytes(128)).decode()[:76]}\r\n"
        f"\t {base64.b64encode(rng.randbytes(128)).decode()[:96]}",
    ]


def _html(text: str, client: str) -> str:
    """The HTML alternative of `text`: quoted lines as a blockquote, paragraphs as divs."""
    out: list[str] = []
    quote: list[str] = []

    def flush_quote() -> None:
        if quote:
            out.append('<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;'
                       'padding-left:1ex">' + "<br>\n".join(quote) + "</blockquote>")
            quote.clear()

    for line in text.split("\n"):
        if line.startswith(">"):
            quote.append(html.escape(line.lstrip("> ")))
            continue
        flush_quote()
        escaped = html.escape(line) or "<br>"
        out.append(f'<p class="MsoNormal">{escaped}<o:p></o:p></p>' if client == "outlook"
                   else f"<div>{escaped}</div>")
    flush_quote()
    body = "\n".join(out)
    if client == "outlook":
        return ('<html xmlns:o="urn:schemas-microsoft-com:office:office" '
                'xmlns:w="urn:schemas-microsoft-com:office:word">\n<head>\n'
                '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
                '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n'
                "<style><!--\n@font-face {font-family:Calibri;}\n"
                "p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm;font-size:11.0pt;"
                "font-family:\"Calibri\",sans-serif;}\n"
                "span.EmailStyle17 {mso-style-type:personal-compose;}\n"
                ".MsoChpDefault {mso-style-type:export-only;}\n"
                "@page WordSection1 {size:612.0pt 792.0pt;margin:72.0pt 72.0pt 72.0pt 72.0pt;}"
                "\ndiv.WordSection1 {page:WordSection1;}\n--></style>\n</head>\n"
                '<body lang="SV" link="#0563C1" vlink="#954F72">\n'
                f'<div class="WordSection1">\n{body}\n</div>\n</body>\n</html>\n')
    return f'<div dir="ltr">\n{body}\n</div>\n'


def _attachment(rng: random.Random, name: str) -> tuple[str, bytes]:
    ext = name.rsplit(".", 1)[1]
    low, high = _SIZES[ext]
    size = rng.randint(low, high)
    if ext == "txt":
        lines = [f"2025-03-03 09:{i % 60:02d}:{i * 7 % 60:02d} ERROR sync: connection "
                 f"reset by peer (attempt {i})" for i in range(size // 70)]
        return _ATTACHMENT_TYPES[ext], "\n".join(lines).encode()
    magic = {"png": b"\x89PNG\r\n\x1a\n", "jpg": b"\xff\xd8\xff\xe0", "pdf": b"%PDF-1.7\n",
             "docx": b"PK\x03\x04"}[ext]
    return _ATTACHMENT_TYPES[ext], magic + rng.randbytes(size - len(magic))


def compose(rng: random.Random, *, client: str, sender: tuple[str, str], rcpt: str,
            subject: str, text: str, message_id: str, refs: tuple[str, ...], html: bool,
            attachment: str | None, auto: bool, minute: int) -> bytes:
    """One message's bytes (CRLF line ends)."""
    name, address = sender
    domain = address.rpartition("@")[2]
    date = (f"Mon, 3 Mar 2025 {8 + (minute // 60) % 9:02d}:{minute % 60:02d}:"
            f"{rng.randint(0, 59):02d} +0100")
    headers = _received(rng, rcpt, domain, minute)
    headers += [f"From: {header(name)} <{address}>", f"To: {rcpt}",
                f"Subject: {header(subject)}", f"Date: {date}",
                f"Message-ID: <{message_id}>"]
    if refs:
        headers += [f"In-Reply-To: <{refs[-1]}>",
                    "References: " + " ".join(f"<{r}>" for r in refs)]
    if client == "outlook":
        headers += [f"Thread-Topic: {header(subject)}",
                    f"Thread-Index: {base64.b64encode(rng.randbytes(22)).decode()}",
                    "Accept-Language: sv-SE, en-US", "Content-Language: sv-SE",
                    f"X-MS-Has-Attach: {'yes' if attachment else ''}",
                    "X-MS-TNEF-Correlator:",
                    f"X-MS-Exchange-Organization-Network-Message-Id: "
                    f"{rng.getrandbits(128):032x}"]
    if _AGENTS[client] and client != "outlook":
        headers.append(f"User-Agent: {_AGENTS[client]}")
    if auto:
        headers += ["Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All"]
    headers.append("MIME-Version: 1.0")
    if client == "thunderbird":
        text_part = (b"Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
                     b"Content-Transfer-Encoding: 8bit\r\n\r\n" + _flowed(text))
    elif rng.random() < 0.05:  # an older client, in Latin-1
        text_part = (b"Content-Type: text/plain; charset=iso-8859-1\r\n"
                     b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                     + _qp(text, "iso-8859-1"))
    else:
        text_part = (b"Content-Type: text/plain; charset=utf-8\r\n"
                     b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + _qp(text))
    body = text_part
    if html:
        boundary = f"_000_{rng.getrandbits(64):016x}_"
        html_part = (b"Content-Type: text/html; charset=utf-8\r\n"
                     b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                     + _qp(_html(text, client)))
        body = _multipart("alternative", boundary, [text_part, html_part])
    if attachment:
        boundary = f"_004_{rng.getrandbits(64):016x}_"
        ctype, data = _attachment(rng, attachment)
        filename = header(attachment)
        attached = (f'Content-Type: {ctype}; name="{filename}"\r\n'
                    f'Content-Disposition: attachment; filename="{filename}"\r\n'
                    "Content-Transfer-Encoding: base64\r\n\r\n").encode() + _b64(data)
        body = _multipart("mixed", boundary, [body, attached])
    # The outermost part's own headers (Content-Type, -Transfer-Encoding) end the message's.
    head = "\r\n".join(headers).encode() + b"\r\n"
    return head + body + (b"" if body.endswith(b"\r\n") else b"\r\n")


def _multipart(kind: str, boundary: str, parts: list[bytes]) -> bytes:
    inner = b"".join(b"--" + boundary.encode() + b"\r\n" + part
                     + (b"" if part.endswith(b"\r\n") else b"\r\n") for part in parts)
    return (f'Content-Type: multipart/{kind}; boundary="{boundary}"\r\n\r\n'.encode()
            + inner + b"--" + boundary.encode() + b"--\r\n")
