"""MIME bombs: time and peak RSS of parsing hostile structure, alone and in the daemon.

Each bomb is built in memory (CRLF line ends, lines within SMTP's 1,000 octets):

  nested_multipart   multipart/mixed nested 1,000 deep, each level its own boundary
  nested_rfc822      message/rfc822 enclosing itself 1,000 deep
  many_parts         one multipart/mixed with 10,000 text parts
  header_field       one header field folded over 1 MiB
  header_block       1 MiB of header block: 20,000 short fields
  body_text          text/plain filling the default size limit (25 MiB, headers included)
  body_base64        a base64 attachment filling the size limit
  body_blank_lines   25 MiB of blank lines (once 20 s in flanker)
  body_html          25 MiB of nested HTML tags and stray "<"

Two modes:

  parse (default)  each bomb in a child process of its own: `mail.parse` only; the child
                   resets its peak RSS (clear_refs) after building the bomb, so `parse MB`
                   is what parsing added on top of holding the raw bytes
  --daemon         one `ticketgate serve` on a temporary site: each bomb over SMTP, time
                   to 250 and until its spool row is processed, and the daemon's peak RSS
                   while it handled that bomb (its VmHWM, reset before each bomb)

    .venv/bin/python bench/mime_bombs.py [--daemon] [--json] [--only NAME,NAME] [--scale 1.0]

`--scale` shrinks every bomb (0.1: a tenth of the depth, parts and bytes) for a quick look.
All traffic goes to 127.0.0.1; everything runs under a temporary directory.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIB = 1 << 20
LIMIT = 25 * MIB  # the default max_message_size
HEAD = (b"From: Kim <kim@example.org>\r\nTo: helpdesk@example.org\r\n"
        b"Subject: Bomb\r\nMessage-ID: <bomb.%s@client.test.invalid>\r\nMIME-Version: 1.0\r\n")


def _head(name: str, extra: bytes = b"") -> bytes:
    return HEAD % name.encode() + extra


def nested_multipart(scale: float) -> bytes:
    depth = max(2, int(1000 * scale))
    out = [_head("nested_multipart", b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n')]
    for level in range(1, depth):
        out.append(b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n'
                   % (level - 1, level))
    out.append(b"--b%d\r\nContent-Type: text/plain\r\n\r\nDeepest text.\r\n" % (depth - 1))
    out.extend(b"--b%d--\r\n" % level for level in reversed(range(depth)))
    return b"".join(out)


def nested_rfc822(scale: float) -> bytes:
    depth = max(2, int(1000 * scale))
    layer = b"Content-Type: message/rfc822\r\n\r\nFrom: x@example.org\r\nSubject: layer\r\n"
    return (_head("nested_rfc822") + layer * depth
            + b"Content-Type: text/plain\r\n\r\nDeepest text.\r\n")


def many_parts(scale: float) -> bytes:
    count = max(2, int(10_000 * scale))
    part = b"--p\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDel %d av texten.\r\n"
    return (_head("many_parts", b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n')
            + b"".join(part % i for i in range(count)) + b"--p--\r\n")


def header_field(scale: float) -> bytes:
    lines = max(1, int(MIB * scale) // 78)
    folded = b"X-Long: start\r\n" + b" " + b"\r\n ".join([b"x" * 75] * lines) + b"\r\n"
    return _head("header_field", folded + b"Content-Type: text/plain\r\n\r\nBody text.\r\n")


def header_block(scale: float) -> bytes:
    count = max(1, int(20_000 * scale))
    fields = b"".join(b"X-Field-%d: value number %d of many\r\n" % (i, i) for i in range(count))
    return _head("header_block", fields + b"Content-Type: text/plain\r\n\r\nBody text.\r\n")


def _fill(name: str, ctype: bytes, line: bytes, scale: float, tail: bytes = b"") -> bytes:
    head = _head(name, b"Content-Type: " + ctype + b"\r\n\r\n")
    room = int(LIMIT * scale) - len(head) - len(tail) - 64
    return head + line * max(1, room // len(line)) + tail


def body_text(scale: float) -> bytes:
    line = b"Skrivaren i rum 2110 skriver ut tomma sidor och blinkar med felkod E-04.\r\n"
    return _fill("body_text", b"text/plain; charset=utf-8", line, scale)


def body_base64(scale: float) -> bytes:
    rng = random.Random(7)
    line = base64.b64encode(rng.randbytes(57)) + b"\r\n"  # 76 characters, as MUAs write
    head = (b'multipart/mixed; boundary="a"\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\n'
            b"Loggen bifogad.\r\n--a\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="log.bin"')
    return _fill("body_base64", head, line, scale, b"--a--\r\n")


def body_blank_lines(scale: float) -> bytes:
    return _fill("body_blank_lines", b"text/plain", b"\r\n", scale)


def body_html(scale: float) -> bytes:
    line = b"<div><span><b>text</b> < <i>more</i></span></div><p>1 < 2 <!-- x --></p>\r\n"
    return _fill("body_html", b"text/html; charset=utf-8", line, scale)


BOMBS: dict[str, Callable[[float], bytes]] = {
    f.__name__: f for f in (nested_multipart, nested_rfc822, many_parts, header_field,
                            header_block, body_text, body_base64, body_blank_lines, body_html)
}


def _status(pid: int | str, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak(pid: int | str = "self") -> bool:
    """Reset VmHWM to the current RSS (Linux: clear_refs 5); False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(name: str, scale: float) -> dict[str, object]:
    """Build one bomb and parse it; runs in a fresh process (see main)."""
    sys.path.insert(0, str(REPO / "daemon"))
    from ticketgate import mail

    mail.parse(b"From: warm@example.org\r\n\r\nup\r\n")  # imports and tables, not the bomb's
    raw = BOMBS[name](scale)
    before = _status("self", "VmRSS")
    exact = reset_peak()
    started = time.perf_counter()
    parsed = mail.parse(raw)
    seconds = time.perf_counter() - started
    peak = _status("self", "VmHWM")
    return {"bomb": name, "bytes": len(raw), "parse_s": round(seconds, 3),
            "rss_before": before, "peak_rss": peak, "parse_rss": peak - before if exact else None,
            "text_chars": len(parsed.text), "parts": parsed.parts,
            "defects": list(parsed.defects)[:3]}


def run_children(names: list[str], scale: float) -> list[dict[str, object]]:
    results = []
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--child", name, "--scale", str(scale)],
                             capture_output=True, timeout=600, check=True)
        results.append(json.loads(out.stdout.decode().strip().splitlines()[-1]))
    return results


def _site(root: Path) -> Path:
    import shutil

    shutil.copytree(REPO / "rules", root / "rules", ignore=shutil.ignore_patterns("schema"))
    shutil.copytree(REPO / "templates", root / "templates")
    site = root / "ticketgate.yaml"
    site.write_text("instance: gate.test.invalid\nsmtp: {host: 127.0.0.1, port: 0}\n"
                    "database: var/ticketgate.db\nlog_format: json\n"
                    "delivery: {transport: maildir, maildir: var/maildir}\n")
    return site


def run_daemon(names: list[str], scale: float) -> list[dict[str, object]]:
    """Each bomb through a real `ticketgate serve`, one after the other."""
    results = []
    with tempfile.TemporaryDirectory(prefix="tg-bombs-") as tmp:
        site = _site(Path(tmp))
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([sys.executable, "-m", "ticketgate.cli", "serve", "--config",
                                 str(site)], stdout=log, stderr=log)
        try:
            port = _wait_port(Path(tmp) / "serve.log", proc)
            db = Path(tmp) / "var/ticketgate.db"
            for name in names:
                raw = BOMBS[name](scale)
                time.sleep(0.5)  # let the previous bomb's garbage go
                exact = reset_peak(proc.pid)
                before = _status(proc.pid, "VmRSS")
                started = time.perf_counter()
                with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
                    client.sendmail("kim@example.org", ["helpdesk@example.org"], raw)
                accepted = time.perf_counter() - started
                state = _wait_processed(db, name)
                processed = time.perf_counter() - started
                peak = _status(proc.pid, "VmHWM")
                results.append({"bomb": name, "bytes": len(raw), "accept_s": round(accepted, 3),
                                "processed_s": round(processed, 3), "state": state,
                                "rss_before": before, "peak_rss": peak,
                                "added_rss": peak - before if exact else None})
        finally:
            proc.terminate()
            proc.wait(60)
            log.close()
    return results


def _wait_port(log: Path, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if '"listening"' in line:
                return int(json.loads(line)["port"])
        if proc.poll() is not None:
            raise RuntimeError(log.read_text(errors="replace")[-2000:])
        time.sleep(0.1)
    raise RuntimeError("ticketgate serve did not start listening")


def _wait_processed(db: Path, name: str, timeout: float = 300) -> str:
    mid = f"<bomb.{name}@client.test.invalid>"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            rows = conn.execute("SELECT state, instr(substr(raw, 1, 400), ?) FROM spool"
                                " ORDER BY id DESC LIMIT 1", (mid.encode(),)).fetchall()
        if rows and rows[0][1] and rows[0][0] != "new":
            return str(rows[0][0])
        time.sleep(0.05)
    raise RuntimeError(f"{name} was not processed within {timeout} s")


def _table(results: list[dict[str, object]]) -> str:
    mb = 1_000_000
    lines = []
    for r in results:
        if "parse_s" in r:
            added = r["parse_rss"]
            lines.append(f"{r['bomb']:<18} {int(r['bytes']) / mb:>7.1f} MB  parse "  # type: ignore[call-overload]
                         f"{r['parse_s']:>6.2f} s  peak {int(r['peak_rss']) / mb:>6.0f} MB  "  # type: ignore[call-overload]
                         f"parse +{'?' if added is None else f'{int(added) / mb:.0f}'} MB  "  # type: ignore[call-overload]
                         f"text {r['text_chars']} chars, {r['parts']} parts")
        else:
            added = r["added_rss"]
            lines.append(f"{r['bomb']:<18} {int(r['bytes']) / mb:>7.1f} MB  250 after "  # type: ignore[call-overload]
                         f"{r['accept_s']:>5.2f} s  {r['state']} after {r['processed_s']:>6.2f}"
                         f" s  daemon peak {int(r['peak_rss']) / mb:>5.0f} MB (+"  # type: ignore[call-overload]
                         f"{'?' if added is None else f'{int(added) / mb:.0f}'} MB)")  # type: ignore[call-overload]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--daemon", action="store_true", help="through `ticketgate serve`")
    parser.add_argument("--json", action="store_true", help="one JSON object per bomb")
    parser.add_argument("--only", help="comma-separated bomb names")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.scale)))
        return 0
    names = args.only.split(",") if args.only else list(BOMBS)
    unknown = [n for n in names if n not in BOMBS]
    if unknown:
        parser.error(f"unknown bombs: {', '.join(unknown)}; known: {', '.join(BOMBS)}")
    os.chdir(REPO)
    results = run_daemon(names, args.scale) if args.daemon else run_children(names, args.scale)
    print("\n".join(json.dumps(r) for r in results) if args.json else _table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
