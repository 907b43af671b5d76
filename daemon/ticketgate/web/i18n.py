"""Swedish and English: every word the desk shows, chosen by the staff member's switch (kept
in the session) or else the browser's Accept-Language."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("sv", "en")
DEFAULT = "en"

# key: (English, Swedish)
_STRINGS: dict[str, tuple[str, str]] = {
    "desk": ("Staff desk", "Handläggarvyn"),
    "skip": ("Skip to the content", "Hoppa till innehållet"),
    "main_nav": ("Lists", "Listor"),
    "mine": ("Mine", "Mina"),
    "unowned": ("Unowned", "Utan ägare"),
    "open": ("Open", "Öppna"),
    "waiting": ("Waiting", "Väntar"),
    "resolved": ("Resolved", "Lösta"),
    "mine_help": ("Tickets you own that are not resolved.",
                  "Ärenden du äger som inte är lösta."),
    "unowned_help": ("Tickets nobody has taken that are not resolved: take one.",
                     "Ärenden som ingen har tagit och som inte är lösta: ta ett."),
    "open_help": ("New tickets and tickets being worked on, whoever owns them.",
                  "Nya ärenden och ärenden under arbete, oavsett ägare."),
    "waiting_help": ("Tickets waiting for the requester's answer.",
                     "Ärenden som väntar på svar från den som frågade."),
    "resolved_help": ("Tickets done; the requester's next mail opens them again.",
                      "Avslutade ärenden; nästa mejl från den som frågade öppnar dem igen."),
    "search": ("Search", "Sök"),
    "search_label": ("Search tickets: code, requester, subject or text",
                     "Sök ärenden: kod, avsändare, ämne eller text"),
    "dashboard": ("Dashboard", "Översikt"),
    "log_in": ("Log in", "Logga in"),
    "log_out": ("Log out", "Logga ut"),
    "address": ("Staff address", "Handläggaradress"),
    "password": ("Password", "Lösenord"),
    "login_wrong": ("Wrong address or password.", "Fel adress eller lösenord."),
    "login_unavailable": ("The directory does not answer; try again in a minute.",
                          "Katalogen svarar inte; försök igen om en minut."),
    "login_limited": ("Too many failed logins; try again in {minutes} minutes.",
                      "För många misslyckade inloggningar; försök igen om {minutes} minuter."),
    "language": ("Language", "Språk"),
    "change_language": ("Change language", "Byt språk"),
    "all_queues": ("All my queues", "Alla mina köer"),
    "queue": ("Queue", "Kö"),
    "queues": ("Queues", "Köer"),
    "ticket": ("Ticket", "Ärende"),
    "subject": ("Subject", "Ämne"),
    "requester": ("Requester", "Avsändare"),
    "status": ("Status", "Status"),
    "owner": ("Owner", "Ägare"),
    "nobody": ("nobody", "ingen"),
    "age": ("Age", "Ålder"),
    "flags": ("Flags", "Flaggor"),
    "priority": ("Priority", "Prioritet"),
    "newest_first": ("Newest first", "Nyaste först"),
    "oldest_first": ("Oldest first", "Äldsta först"),
    "order": ("Order", "Ordning"),
    "show": ("Show", "Visa"),
    "more": ("More tickets", "Fler ärenden"),
    "no_tickets": ("No tickets here.", "Inga ärenden här."),
    "count_tickets": ("{count} tickets", "{count} ärenden"),
    "take": ("Take", "Ta"),
    "actions_soon": ("Taking tickets and answering from the browser come with the staff "
                     "actions; until then, answer the notification mail.",
                     "Att ta ärenden och svara i webbläsaren kommer med handläggarfunktionerna; "
                     "svara på aviseringsmejlet så länge."),
    "thread": ("Messages, oldest first", "Meddelanden, äldsta först"),
    "incoming": ("Incoming", "Inkommande"),
    "outgoing": ("Sent by us", "Skickat av oss"),
    "from_requester": ("from the requester", "från den som frågade"),
    "from_staff": ("from staff", "från handläggare"),
    "from_other": ("from someone else on the ticket", "från någon annan i ärendet"),
    "automatic": ("automatic mail", "automatiskt mejl"),
    "public": ("public", "offentligt"),
    "internal": ("internal note", "intern anteckning"),
    "from": ("From", "Från"),
    "to": ("To", "Till"),
    "when": ("When", "När"),
    "attachments": ("Attachments", "Bilagor"),
    "download": ("download", "ladda ned"),
    "raw": ("Raw message", "Originalmeddelande"),
    "html_shown": ("This mail has no plain text; its HTML is shown cleaned: no scripts, no "
                   "remote images.", "Mejlet saknar ren text; dess HTML visas rensad: inga "
                   "skript, inga fjärrbilder."),
    "sent_mail": ("Mail sent about this ticket", "Mejl som skickats i ärendet"),
    "kind": ("Kind", "Slag"),
    "state": ("State", "Läge"),
    "attempts": ("Attempts", "Försök"),
    "events": ("History", "Händelser"),
    "event": ("Event", "Händelse"),
    "details": ("Details", "Detaljer"),
    "person": ("The requester in the directory", "Avsändaren i katalogen"),
    "not_in_directory": ("Not found in the directory.", "Finns inte i katalogen."),
    "name": ("Name", "Namn"),
    "username": ("Username", "Användarnamn"),
    "affiliation": ("Affiliation", "Tillhörighet"),
    "department": ("Department", "Institution"),
    "phone": ("Phone", "Telefon"),
    "reply": ("Reply", "Svara"),
    "write_reply": ("Write a reply", "Skriv ett svar"),
    "your_reply": ("Your reply to the requester", "Ditt svar till den som frågade"),
    "send": ("Send", "Skicka"),
    "others_replying": ("Also writing a reply now: {who}", "Skriver också ett svar nu: {who}"),
    "other_tickets": ("The requester's other tickets", "Avsändarens andra ärenden"),
    "linked_to": ("Linked to", "Länkat till"),
    "results": ("Results", "Träffar"),
    "no_results": ("Nothing found.", "Inget hittades."),
    "not_found": ("Not found", "Hittades inte"),
    "not_found_text": ("There is nothing here, or nothing you may see.",
                       "Här finns inget, eller inget du får se."),
    "new_per_day": ("New tickets per day", "Nya ärenden per dag"),
    "new_per_day_desc": ("New tickets each day of the last {days} days, stacked by queue.",
                         "Nya ärenden varje dag de senaste {days} dagarna, staplade per kö."),
    "first_answer": ("Time to first answer", "Tid till första svar"),
    "first_answer_desc": ("For the tickets created each week: the share first answered by "
                          "staff within an hour, 4 hours, a day, 3 days, later, or not yet. "
                          "An answer is a staff reply relayed to the requester or a mail from "
                          "the queue's staff on the ticket.",
                          "För ärendena som skapades varje vecka: andelen som handläggare "
                          "först svarade inom en timme, 4 timmar, ett dygn, 3 dygn, senare, "
                          "eller inte än. Ett svar är ett handläggarsvar som vidarebefordrats "
                          "till den som frågade eller ett mejl från köns handläggare i ärendet."),
    "etiquette": ("How people write", "Hur folk skriver"),
    "etiquette_desc": ("Share of each week's new tickets whose first mail was flagged: vague "
                       "subject, several matters, private address, missing computer name.",
                       "Andel av veckans nya ärenden vars första mejl flaggades: vagt ämne, "
                       "flera ärenden, privat adress, datornamn saknas."),
    "within_1h": ("within 1 hour", "inom 1 timme"),
    "within_4h": ("1 to 4 hours", "1 till 4 timmar"),
    "within_1d": ("4 to 24 hours", "4 till 24 timmar"),
    "within_3d": ("1 to 3 days", "1 till 3 dygn"),
    "later": ("later", "senare"),
    "not_yet": ("not yet", "inte än"),
    "week": ("week", "vecka"),
    "status_new": ("new", "ny"),
    "status_open": ("open", "öppen"),
    "status_waiting": ("waiting", "väntar"),
    "status_resolved": ("resolved", "löst"),
    "status_closed": ("closed", "stängd"),
    "flag_vague_subject": ("vague subject", "vagt ämne"),
    "flag_multi_issue": ("several matters", "flera ärenden"),
    "flag_private_address": ("private address", "privat adress"),
    "flag_missing_computer_name": ("no computer name", "datornamn saknas"),
    "flag_resent": ("sent again", "skickat igen"),
    "flag_foreign_code": ("someone else's code", "någon annans kod"),
    "flag_unknown_person": ("unknown person", "okänd person"),
    "flag_invalid_from": ("invalid sender", "ogiltig avsändare"),
}


def negotiate(accept_language: str | None) -> str:
    """The first of our languages the browser names (by weight), else English."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, position, tag.strip().lower().split("-")[0]))
    for weight, _, tag in sorted(ranked):
        if tag in LANGUAGES and weight < 0:
            return tag
    return DEFAULT


def translator(language: str) -> Callable[..., str]:
    """t(key, **values): the text in `language`; an unknown key shows as itself."""
    index = 1 if language == "sv" else 0

    def t(key: str, **values: object) -> str:
        pair = _STRINGS.get(key)
        text = pair[index] if pair else key
        return text.format(**values) if values else text
    return t


def flag_label(t: Callable[..., str], flag: str) -> str:
    label = t(f"flag_{flag}")
    return flag.replace("_", " ") if label == f"flag_{flag}" else label


def known_keys() -> frozenset[str]:
    return frozenset(_STRINGS)
