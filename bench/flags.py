"""The `flags` stage alone: CPU milliseconds per mail on benchmark mail.

Builds N benchmark mails (bench/mails.py; by default only new tickets, the mails the stage
judges), runs the `parse` stage on each beforehand, then times `flags.process` over all of
them in a few rounds in this process. The first round fills the lexicon's memos (token
masks, phrase starts) as a freshly started daemon does; the later rounds are what a running
daemon pays. CPU time is the process's (time.process_time), so other load on the machine
matters less than for wall time. For an A/B run, point PYTHONPATH at each tree in turn:

    PYTHONPATH=daemon python bench/flags.py --mails 1000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mails import MailFactory, parse_mix
from procs import write_site
from ticketgate.config import load_settings
from ticketgate.pipeline import Context, Envelope, Message
from ticketgate.pipeline import flags as flags_stage
from ticketgate.pipeline import parse as parse_stage
from ticketgate.rules import load_rules


def _messages(args: argparse.Namespace, context: Context) -> list[Message]:
    """The mails as the flags stage receives them: parsed, with a fresh verdict."""
    factory = MailFactory(seed=args.seed, size=args.size, mix=parse_mix(args.mix))
    out: list[Message] = []
    for mail in factory.take(args.mails):
        message = Message(raw=mail.raw, envelope=Envelope(mail.mail_from, (mail.rcpt,)))
        out.append(parse_stage.process(message, context))
    return out


def _round(messages: list[Message], context: Context) -> float:
    """CPU seconds of one pass of the flags stage over `messages`."""
    process = flags_stage.process
    cpu0 = time.process_time()
    for message in messages:
        process(message, context)
    return time.process_time() - cpu0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="timed passes after the first")
    parser.add_argument("--mix", default="new=1", help="as bench/pipeline.py's --mix")
    parser.add_argument("--size", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="tg-flags-"))
    try:
        settings = load_settings(write_site(root))
        rules = load_rules(settings.rules_dir, settings.templates_dir)
        # The stage reads only settings and rules; it never touches the store view.
        context = Context(settings=settings, rules=rules, view=None)  # type: ignore[arg-type]
        messages = _messages(args, context)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    first = _round(messages, context)
    rest = [_round(messages, context) for _ in range(args.rounds)]
    per_mail = 1000 / len(messages)
    figures = {
        "mails": len(messages),
        "first_ms_per_mail": round(first * per_mail, 4),
        "median_ms_per_mail": round(statistics.median(rest) * per_mail, 4) if rest else None,
        "rounds_ms_per_mail": [round(r * per_mail, 4) for r in rest],
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"flags: {len(messages)} mails, CPU {figures['first_ms_per_mail']:.4f} ms/mail in"
              f" the first round, median {figures['median_ms_per_mail']} ms/mail over"
              f" {len(rest)} more {figures['rounds_ms_per_mail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
