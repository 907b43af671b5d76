"""Turning bytes of a declared, wrong, unknown or missing charset into readable text.

Mail lies about its charset all the time: GB2312 labels on UTF-8 text, ``us-ascii`` on Latin-1,
``ks_c_5601-1987`` for what is really CP949, and no label at all. The order tried here is:
UTF-8 when the bytes are valid UTF-8 (random legacy text almost never is), the declared charset
and its usual superset, a message-wide guess, a guess for these bytes (chardet, which comes with
flanker), and finally Latin-1, which never fails. Every fallback is reported as a short note.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Callable

import chardet

# Labels mapped to the codecs to try, best first. Most are supersets the label is used for in
# practice (what browsers do too); an empty tuple means "no usable label", so we guess instead.
ALIASES: dict[str, tuple[str, ...]] = {
    "us-ascii": (),
    "ascii": (),
    "ansi_x3.4-1968": (),
    "unknown": (),
    "unknown-8bit": (),
    "x-unknown": (),
    "default": (),
    "iso-8859-1": ("cp1252", "latin-1"),
    "iso8859-1": ("cp1252", "latin-1"),
    "iso_8859-1": ("cp1252", "latin-1"),
    "latin1": ("cp1252", "latin-1"),
    "latin-1": ("cp1252", "latin-1"),
    "l1": ("cp1252", "latin-1"),
    "iso-8859-9": ("cp1254", "iso8859-9"),
    "iso-8859-11": ("cp874",),
    "tis-620": ("cp874",),
    "windows-874": ("cp874",),
    "iso-8859-8-i": ("iso8859-8",),
    "iso-8859-8-e": ("iso8859-8",),
    "iso-8859-6-i": ("iso8859-6",),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "cp936": ("gb18030",),
    "euc-cn": ("gb18030",),
    "x-euc-cn": ("gb18030",),
    "chinese": ("gb18030",),
    "big5": ("big5hkscs", "cp950"),
    "x-big5": ("big5hkscs", "cp950"),
    "ks_c_5601-1987": ("cp949",),
    "ks_c_5601-1989": ("cp949",),
    "ks_c_5601": ("cp949",),
    "ksc5601": ("cp949",),
    "euc-kr": ("cp949",),
    "x-euc-kr": ("cp949",),
    "korean": ("cp949",),
    "shift_jis": ("cp932", "shift_jis"),
    "shift-jis": ("cp932", "shift_jis"),
    "sjis": ("cp932", "shift_jis"),
    "x-sjis": ("cp932", "shift_jis"),
    "ms_kanji": ("cp932",),
    "windows-31j": ("cp932",),
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext"),
    "windows-1258": ("cp1258",),
    "x-mac-cyrillic": ("mac-cyrillic",),
    "cp-850": ("cp850",),
    "utf8": ("utf-8",),
    "x-utf8": ("utf-8",),
    "unicode-1-1-utf-7": ("utf-7",),
}

# Codecs that decode bytes to str but are not charsets of text.
_NOT_CHARSETS = {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"}
_NOT_ASCII_COMPATIBLE = re.compile(r"^(utf-7|iso2022.*|hz|utf-(16|32).*)$")
_DETECT_BYTES = 64 * 1024
_NON_ASCII = re.compile(rb"[\x80-\xff]")

Hint = Callable[[], str | None]


@functools.lru_cache(maxsize=512)
def candidates(label: str | None) -> tuple[str, ...]:
    """The Python codecs to try for a declared charset label, best first; () when unusable."""
    if not label:
        return ()
    key = label.strip().strip("\"'").strip().lower()
    if not key or len(key) > 40:
        return ()
    if key in ALIASES:
        return ALIASES[key]
    try:
        info = codecs.lookup(key)
    except (LookupError, ValueError, TypeError):
        return ()
    # "zlib", "hex", "base64", "rot13"...: codecs Python knows that do not make text (they
    # return bytes or want str), so a label naming one is as good as no label.
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return ()
    return (info.name,)


def _decode(data: bytes, codec: str, *, final: bool, errors: str = "strict") -> str | None:
    """Decode, or None when the bytes are not valid in `codec`.

    An incremental decoder with final=False lets a body cut at a size limit end in the middle
    of a multibyte character without that counting as invalid.
    """
    try:
        return codecs.getincrementaldecoder(codec)(errors).decode(data, final)
    except (UnicodeError, LookupError, ValueError, TypeError):
        return None


def _mostly_utf8(data: bytes, final: bool) -> str | None:
    """UTF-8 with a few bad bytes (a name cut mid-character, one stray Latin-1 byte).

    Many valid multibyte sequences are strong evidence: legacy 8-bit text almost never has
    them, and reading the rest as Latin-1 or a guess would garble all of it.
    """
    text = _decode(data, "utf-8", final=final, errors="replace")
    if text is None:
        return None
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad
    return text if good >= 8 * bad else None


def detect(data: bytes) -> str | None:
    """chardet's guess for `data` as a codec name, or None when it has none."""
    sample = data[:_DETECT_BYTES]
    try:
        try:
            found = chardet.detect(
                sample, encoding_era=chardet.EncodingEra.MODERN_WEB, prefer_superset=True
            )
        except (TypeError, AttributeError):  # chardet < 7 has neither keyword
            found = chardet.detect(sample)
    except Exception:  # a detector bug must not cost us the message
        return None
    names = candidates(found.get("encoding"))
    return names[0] if names else None


def guess_message_charset(raw: bytes) -> str | None:
    """A charset for the 8-bit bytes of a whole message (headers and bodies without a label).

    Only lines with 8-bit bytes are sampled: in a mostly-ASCII message they are the evidence, and
    a few Cyrillic words drown in kilobytes of ASCII Received headers otherwise.
    """
    sample = bytearray()
    pos = 0
    while len(sample) < _DETECT_BYTES and (match := _NON_ASCII.search(raw, pos)):
        start = raw.rfind(b"\n", 0, match.start()) + 1
        end = raw.find(b"\n", match.start())
        end = len(raw) if end < 0 else end
        sample += raw[start : min(end, start + _DETECT_BYTES)] + b"\n"
        pos = end + 1
    if not sample:
        return None
    if _decode(bytes(sample), "utf-8", final=False) is not None:
        return "utf-8"
    return detect(bytes(sample))


# C0 control bytes that no text contains, in any charset a mail may be in that is not
# declared or recognised below: all but TAB, LF, VT, FF, CR and ESC (ISO-2022's), and DEL.
_STRAY_CONTROLS = bytes(c for c in range(0x20) if c not in b"\t\n\x0b\x0c\r\x1b") + b"\x7f"
BINARY_SAMPLE = 8 * 1024  # bytes looked at to tell binary from text
_FEW_CONTROLS = 4  # fewer than this is no evidence, however short the body: text wins
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def looks_binary(data: bytes, label: str | None) -> bool:
    """Whether `data`, a body declared as text in charset `label`, is no text at all: an image
    or a sound mislabelled, or a file sent bare with no header.

    Judged on the first BINARY_SAMPLE bytes. Text in any ASCII-compatible charset has next to
    no C0 controls, compressed or sampled data about one in ten bytes: a sample with fewer than
    one in 20 (or fewer than _FEW_CONTROLS in all: a short text with two stray ones) is text;
    so is one that is valid UTF-8 (NULs in ASCII text are shown as they always were),
    or valid in a declared charset that is not ASCII-compatible (UTF-16's NULs, ISO-2022's
    shifts), or unlabelled UTF-16/32 with a byte order mark or with its controls all on one
    side of each code unit (the high byte of ASCII or of one script's letters).
    """
    sample = data[:BINARY_SAMPLE]
    controls = len(sample) - len(sample.translate(None, _STRAY_CONTROLS))
    if controls < _FEW_CONTROLS or controls * 20 < len(sample):
        return False
    whole = len(sample) == len(data)  # else a character may be cut at the end
    return not any(
        _decode(sample if whole else sample[: len(sample) // unit * unit], codec,
                final=whole) is not None
        for codec, unit in _text_codecs(sample, label)
    )


def _text_codecs(sample: bytes, label: str | None) -> list[tuple[str, int]]:
    """The codecs `sample` could be text in despite its controls, with their code unit size."""
    found = [("utf-8", 1)]
    found += [(n, 4 if "32" in n else 2 if "16" in n else 1)
              for n in candidates(label) if _NOT_ASCII_COMPATIBLE.match(n)]
    found += [(codec, 4 if "32" in codec else 2) for bom, codec in _BOMS if sample.startswith(bom)]
    even = len(sample[0::2]) - len(sample[0::2].translate(None, _STRAY_CONTROLS))
    odd = len(sample[1::2]) - len(sample[1::2].translate(None, _STRAY_CONTROLS))
    if odd >= 19 * even:
        found.append(("utf-16-le", 2))  # "H\0e\0": the high byte of each unit comes second
    elif even >= 19 * odd:
        found.append(("utf-16-be", 2))
    return found


def decode(
    data: bytes, label: str | None, *, hint: Hint | None = None, final: bool = True
) -> tuple[str, str | None]:
    """Decode `data` declared as charset `label` into text; never raises.

    Returns the text and a short note when a fallback was taken (None when the label was right).
    `hint` lazily gives a message-wide guess for unlabeled 8-bit text; `final` is False when `data`
    was cut at a size limit.
    """
    names = candidates(label)
    shown = (label or "").strip()[:40] or "none"
    # ISO-2022-JP and UTF-7 are 7-bit and UTF-16 looks like ASCII with NULs: bytes that look
    # like ASCII still need the declared codec.
    own = [n for n in names if _NOT_ASCII_COMPATIBLE.match(n)]
    if not own and data.isascii() and b"\x1b$" in data:
        own = ["iso2022_jp_2"]  # unlabelled Japanese
    for name in own:
        text = _decode(data, name, final=final)
        if text is not None:
            return text, None
    if data.isascii():
        return data.decode("ascii"), None
    text = _decode(data, "utf-8", final=final)
    if text is not None:
        if names and names[0] != "utf-8":
            return text, f"charset {shown}: content was UTF-8"
        return text, None
    text = _mostly_utf8(data, final)
    if text is not None:
        return text, f"charset {shown}: UTF-8 with invalid bytes replaced"
    for name in names:
        text = _decode(data, name, final=final)
        if text is not None:
            return text, None
    for guesser in (hint, lambda: detect(data)):
        guess = guesser() if guesser else None
        if guess and guess not in names:
            text = _decode(data, guess, final=final)
            if text is not None:
                return text, f"charset {shown}: decoded as {guess}"
    if names:
        text = _decode(data, names[0], final=final, errors="replace")
        if text is not None:
            return text, f"charset {shown}: invalid bytes replaced"
    return data.decode("latin-1"), f"charset {shown}: decoded as latin-1"
