"""Mail commands: the `#status waiting` lines that lead a staff member's answer.

Syntax (docs/staff.md is the reference for staff). After the quote cut, the answer may start
with command lines, one a line, blank lines between them allowed:

    #<command> [argument]          a "#", a command name starting with a letter, any case

The name runs to the first space or ":" (`#status: waiting` is allowed); so `#resolve.` is an
unknown command, not text. The first other line ends the block; the rest is the answer. So
`Subject: …`, `Från: …` and any other `Key: value` line is text, never a command, and
`# heading` or `#12` is text too (no letter right after the "#"). A known command further
down, after text, refuses the mail: it was surely meant as a command, and relaying it instead
would be wrong both ways. Quoted lines (`> #resolve`) are never commands (and the quote is cut
away before this runs anyway).

Every command has an English name and Swedish aliases, and arguments in both languages:

    #status open|waiting|resolved     #status öppen|väntar|löst
    #resolve                          #löst
    #take                             #ta
    #owner <username>|none            #ägare <användarnamn>|ingen
    #queue <queue>                    #kö <kö>
    #priority low|normal|high|urgent  #prioritet låg|normal|hög|brådskande
    #note                             #anteckning, #intern

An unknown command, a bad argument, two commands that contradict each other (`#resolve` and
`#status waiting`, `#take` and `#owner kim`) or a misplaced command refuse the whole mail:
MailCommands.error names the line, and command_reference() lists what is valid, for the answer
to the staff member. Whether the sender may use each command is the caller's to decide, from
Command.permission; it reports a refusal with CommandError(Problem.NOT_PERMITTED, …).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

SIGIL = "#"
# The owner values that are not usernames: the sender (#take) and nobody (#owner none).
SENDER = "@sender"
NOBODY = "@nobody"
PERMISSIONS = ("status", "take", "owner", "queue", "priority", "note")


class Verb(StrEnum):
    """What a command changes."""

    STATUS = "status"
    OWNER = "owner"
    QUEUE = "queue"
    PRIORITY = "priority"
    NOTE = "note"  # makes this mail an internal note


@dataclass(frozen=True)
class Spec:
    """One command as data: its spellings, what it sets and how its argument reads."""

    name: str
    aliases: tuple[str, ...]
    verb: Verb
    permission: str
    fixed: str | None  # the value of a command that takes no argument
    values: dict[str, str] | None  # spelling -> value, for a closed set of arguments
    argument: dict[str, str]  # language -> how the argument is written ({} for none)
    does: dict[str, str]  # language -> what the command does


_STATUS = {"open": "open", "öppen": "open", "öppna": "open",
           "waiting": "waiting", "väntar": "waiting", "vänta": "waiting",
           "resolved": "resolved", "löst": "resolved"}
_PRIORITY = {"low": "low", "låg": "low", "normal": "normal", "high": "high", "hög": "high",
             "urgent": "urgent", "brådskande": "urgent"}
_NOBODY_WORDS = ("none", "ingen")

SPECS: tuple[Spec, ...] = (
    Spec("status", (), Verb.STATUS, "status", None, _STATUS,
         {"en": "open|waiting|resolved", "sv": "öppen|väntar|löst"},
         {"en": "set the ticket's status", "sv": "sätt ärendets status"}),
    Spec("resolve", ("löst",), Verb.STATUS, "status", "resolved", None, {},
         {"en": "set the ticket's status to resolved", "sv": "sätt ärendets status till löst"}),
    Spec("take", ("ta",), Verb.OWNER, "take", SENDER, None, {},
         {"en": "you become the ticket's owner", "sv": "du blir ärendets ägare"}),
    Spec("owner", ("ägare",), Verb.OWNER, "owner", None, None,
         {"en": "<username>|none", "sv": "<användarnamn>|ingen"},
         {"en": "give the ticket to a colleague, or to nobody",
          "sv": "ge ärendet till en kollega, eller till ingen"}),
    Spec("queue", ("kö",), Verb.QUEUE, "queue", None, None,
         {"en": "<queue>", "sv": "<kö>"},
         {"en": "move the ticket to another queue", "sv": "flytta ärendet till en annan kö"}),
    Spec("priority", ("prioritet",), Verb.PRIORITY, "priority", None, _PRIORITY,
         {"en": "low|normal|high|urgent", "sv": "låg|normal|hög|brådskande"},
         {"en": "set the priority", "sv": "sätt prioriteten"}),
    Spec("note", ("anteckning", "intern"), Verb.NOTE, "note", "", None, {},
         {"en": "this mail is an internal note: the requester does not get it",
          "sv": "det här brevet är en intern anteckning: beställaren får det inte"}),
)
_BY_NAME = {n: s for s in SPECS for n in (s.name, *s.aliases)}

_LINE = re.compile(r"^[ \t]*#(?P<name>[^\W\d_][^\s:]*):?(?P<rest>.*)$")
_USERNAME = re.compile(r"^[\w.@+-]{1,128}$")
_QUEUE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class Problem(StrEnum):
    UNKNOWN = "unknown_command"
    BAD_ARGUMENT = "bad_argument"
    AMBIGUOUS = "ambiguous_commands"
    MISPLACED = "misplaced_command"
    NOT_PERMITTED = "command_not_permitted"


@dataclass(frozen=True)
class CommandError:
    """Why a mail's commands were refused, naming the line (1-based in the text parsed).

    `expected` lists what the argument could have been; `suggestion` a command or value close
    to what was written; `other_line` the line a command contradicts (AMBIGUOUS).
    """

    problem: Problem
    line_number: int
    line: str
    expected: tuple[str, ...] = ()
    suggestion: str | None = None
    other_line: int | None = None

    def message(self, lang: str = "en") -> str:
        """One line for the refusal mail, in English or Swedish."""
        sv = lang == "sv"
        where = f'{"rad" if sv else "line"} {self.line_number}: "{self.line.strip()}"'
        if self.problem is Problem.UNKNOWN:
            what = "okänt kommando" if sv else "unknown command"
        elif self.problem is Problem.BAD_ARGUMENT:
            if not self.expected:
                what = "tar inget argument" if sv else "takes no argument"
            else:
                what = ("väntade " if sv else "expected ") + ", ".join(self.expected)
        elif self.problem is Problem.AMBIGUOUS:
            what = (f"motsäger rad {self.other_line}" if sv
                    else f"contradicts line {self.other_line}")
        elif self.problem is Problem.MISPLACED:
            what = ("kommandon ska stå först, före all annan text" if sv
                    else "commands go first, before any other text")
        else:
            what = ("du får inte använda det här kommandot här" if sv
                    else "you may not use this command here")
        if self.suggestion:
            what += f" ({'menade du' if sv else 'did you mean'} {self.suggestion}?)"
        return f"{where}: {what}"


@dataclass(frozen=True)
class Command:
    """One command: `value` is the status, priority or queue it names, a username, SENDER
    (#take), NOBODY (#owner none), or "" (#note)."""

    verb: Verb
    value: str
    permission: str
    line_number: int
    line: str


@dataclass(frozen=True)
class MailCommands:
    """The outcome of parse_commands(). With an error there are no commands and no text, so
    nothing can be applied or relayed by mistake."""

    commands: tuple[Command, ...] = ()
    text: str = ""
    error: CommandError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def internal(self) -> bool:
        """Whether #note made this mail an internal note."""
        return any(c.verb is Verb.NOTE for c in self.commands)

    def value(self, verb: Verb) -> str | None:
        """The value the commands set for `verb`, or None when none does."""
        return next((c.value for c in self.commands if c.verb is verb), None)


def _nearest(word: str, choices: Collection[str]) -> str | None:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _parse(number: int, line: str, name: str, argument: str,
           queues: Collection[str] | None) -> Command | CommandError:
    spec = _BY_NAME.get(name)
    if spec is None:
        near = _nearest(name, _BY_NAME)
        return CommandError(Problem.UNKNOWN, number, line,
                            suggestion=SIGIL + near if near else None)
    words = argument.split()
    if spec.fixed is not None:
        if words:
            return CommandError(Problem.BAD_ARGUMENT, number, line)
        value = spec.fixed
    elif spec.values is not None:
        value = spec.values.get(words[0].casefold(), "") if len(words) == 1 else ""
        if not value:
            near = _nearest(words[0].casefold(), spec.values) if len(words) == 1 else None
            return CommandError(Problem.BAD_ARGUMENT, number, line,
                                expected=tuple(spec.values), suggestion=near)
    elif spec.verb is Verb.OWNER:
        if len(words) != 1 or not _USERNAME.match(words[0]):
            return CommandError(Problem.BAD_ARGUMENT, number, line,
                                expected=("<username>", *_NOBODY_WORDS))
        word = words[0].casefold()
        value = NOBODY if word in _NOBODY_WORDS else word
    else:  # QUEUE
        word = words[0].casefold() if len(words) == 1 else ""
        known = sorted(queues) if queues is not None else None
        if not _QUEUE.match(word) or (known is not None and word not in known):
            near = _nearest(word, known) if known else None
            return CommandError(Problem.BAD_ARGUMENT, number, line,
                                expected=tuple(known) if known else ("<queue>",),
                                suggestion=near)
        value = word
    return Command(spec.verb, value, spec.permission, number, line)


def _command_line(line: str) -> tuple[str, str] | None:
    """(name, argument) of a line shaped like a command, else None."""
    if SIGIL not in line:
        return None
    match = _LINE.match(unicodedata.normalize("NFC", line))
    if match is None:
        return None
    return match.group("name").casefold(), match.group("rest").strip()


def parse_commands(text: str, *, queues: Collection[str] | None = None) -> MailCommands:
    """The commands that lead `text` (a staff member's new text, after the quote cut) and the
    text after them, or the error that refuses the mail.

    `queues`, when given, are the queue keys #queue may name (others are a bad argument, with
    the list); without it any well-formed key passes and the caller checks. Pure, no I/O.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    commands: list[Command] = []
    at = 0
    while at < len(lines):
        if lines[at].strip():
            shaped = _command_line(lines[at])
            if shaped is None:
                break
            parsed = _parse(at + 1, lines[at], *shaped, queues)
            if isinstance(parsed, CommandError):
                return MailCommands(error=parsed)
            commands.append(parsed)
        at += 1
    for later in range(at, len(lines)):
        shaped = _command_line(lines[later])
        if shaped is not None and shaped[0] in _BY_NAME:
            return MailCommands(error=CommandError(Problem.MISPLACED, later + 1, lines[later]))
    kept: dict[Verb, Command] = {}
    for command in commands:
        earlier = kept.get(command.verb)
        if earlier is not None and earlier.value != command.value:
            return MailCommands(error=CommandError(
                Problem.AMBIGUOUS, command.line_number, command.line,
                other_line=earlier.line_number))
        kept.setdefault(command.verb, command)
    return MailCommands(commands=tuple(kept.values()),
                        text="\n".join(lines[at:]).strip("\n"))


def command_reference(lang: str = "en") -> str:
    """The list of valid commands, for the refusal mail and the docs: in English or Swedish,
    with the arguments in both (either spelling works)."""
    lang, other = ("sv", "en") if lang == "sv" else ("en", "sv")
    out = []
    for spec in SPECS:
        line = ", ".join(SIGIL + n for n in (spec.name, *spec.aliases))
        if spec.argument:
            line += f" {spec.argument[lang]}  ({spec.argument[other]})"
        out.append(f"{line}\n    {spec.does[lang]}")
    return "\n".join(out)
