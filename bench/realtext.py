"""How people frame what they write to a university helpdesk, for bench/realmix.py.

Written for the benchmark (no text taken from anywhere), in Swedish and English: greetings,
thanks, sign-offs, signatures and their disclaimers, vague subjects, what a reply adds on top
of a quoted acknowledgement, forwarded requests, out-of-office answers. What the mails are
about is in realtopics.py; `{slots}` are filled by realmix.py.
"""

from __future__ import annotations

GREETINGS = {
    "sv": ("Hej,", "Hej!", "Hej helpdesk,", "Hejsan,", "Hej igen,", "God morgon!", "Hallå,",
           "Hej IT,", "Tja,", "Hej hej,"),
    "en": ("Hi,", "Hello,", "Hi there,", "Dear helpdesk,", "Good morning,", "Hello IT,",
           "Hi again,", "Dear colleagues,"),
}

THANKS = {
    "sv": ("Tack på förhand!", "Tack så mycket för hjälpen.", "Tacksam för snabbt svar.",
           "Hör av er om ni behöver mer information.", "Tack!", "Vore jättebra om ni kunde "
           "titta på det i dag.", "Säg till om jag ska komma förbi med den.",
           "Jag sitter på mitt rum hela eftermiddagen om ni vill ringa."),
    "en": ("Thanks in advance!", "Many thanks for your help.", "Let me know if you need "
           "anything else from me.", "Thanks!", "It would be great if someone could have a "
           "look today.", "I am in my office all afternoon if you want to call.",
           "Happy to bring it over if that helps."),
}

SIGNOFFS = {
    "sv": ("Mvh", "Med vänliga hälsningar", "Vänliga hälsningar", "Hälsningar", "/", "MVH",
           "Bästa hälsningar", "Ha det bra!", "Vänligen"),
    "en": ("Best regards,", "Kind regards,", "Regards,", "Thanks,", "Best,", "Cheers,",
           "All the best,", "Sincerely,"),
}

TITLES = {
    "sv": ("Doktorand", "Universitetslektor", "Administratör", "Studievägledare",
           "Forskningsingenjör", "Professor", "Ekonom", "Bibliotekarie", "Student",
           "Studierektor", "Postdoktor", "Projektkoordinator"),
    "en": ("PhD student", "Senior lecturer", "Administrator", "Research engineer",
           "Professor", "Postdoctoral researcher", "Student", "Project coordinator",
           "Visiting researcher", "Study advisor"),
}

DEPARTMENTS = ("Institutionen för datavetenskap", "Fysiska institutionen",
               "Ekonomihögskolan", "Kemiska institutionen", "Matematikcentrum",
               "Sociologiska institutionen", "Universitetsbiblioteket",
               "Department of Computer Science", "Department of Physics",
               "School of Economics and Management")

MOBILE_FOOTERS = ("Skickat från min iPhone", "Skickat från min Galaxy", "Sent from my iPhone",
                  "Sent from Outlook for Android", "Hämta Outlook för iOS")

DISCLAIMERS = (
    "När du skickar e-post till Universitetet behandlar vi dina personuppgifter enligt "
    "gällande dataskyddslagstiftning. Läs mer om hur det går till på universitetets webbplats "
    "under rubriken Behandling av personuppgifter.",
    "This e-mail and any attachments are intended only for the addressee. If you have "
    "received it by mistake, please tell the sender and delete it; do not copy it or pass it "
    "on. The university handles personal data as described on its website.",
    "Observera att e-post till och från universitetet kan bli allmän handling enligt "
    "offentlighetsprincipen.",
)

# Subjects that say nothing about the matter (the vague_subject flag), as people send them.
VAGUE_SUBJECTS = {
    "sv": ("Hjälp!", "Fråga", "Problem", "Hej", "Akut!!", "Det funkar inte", "Angående",
           "Behöver hjälp", "Ring mig", "Viktigt", "Fel", "Support", "Ärende", "Hej igen",
           "Snabb fråga", "Strul"),
    "en": ("Help!", "Question", "Problem", "Hi", "Urgent", "It doesn't work", "Issue",
           "Need help", "Please call me", "Quick question", "Request", "Support"),
}

# A reply with the ticket code, on top of the quoted acknowledgement: what people add.
REPLY_TEXTS = {
    "sv": ("Tack för snabbt svar! Datorn heter {pc}, om det hjälper.",
           "Nu fungerar det igen, ni kan stänga ärendet. Tack!",
           "Det är fortfarande samma problem i dag tyvärr.",
           "Jag bifogar en skärmdump av felmeddelandet.",
           "Jag är på plats i {room} hela dagen i morgon om ni vill komma förbi.",
           "Mitt användarnamn är {username}.",
           "Har ni hunnit titta på det här? Det brådskar lite nu inför kursstarten.",
           "Ursäkta, jag glömde skriva att det gäller rum {room}.",
           "Det hjälpte att starta om, men nu är det tillbaka igen."),
    "en": ("Thanks for the quick reply! The computer is {pc}, in case that helps.",
           "It works again now, you can close the ticket. Thanks!",
           "Still the same problem today, unfortunately.",
           "Attaching a screenshot of the error.",
           "I am in {room} all day tomorrow if you want to come by.",
           "My username is {username}.",
           "Any news on this? It is getting urgent before the course starts.",
           "Sorry, I forgot to say it is room {room}."),
}

# The acknowledgement as a requester's mail program quotes it (our own wording, short).
QUOTED_ACK = {
    "sv": ("Hej,\n\nVi har tagit emot ditt ärende och gett det koden [{tag} #{number}]. Behåll "
           "koden i ämnesraden när du svarar, så hamnar svaret i samma ärende.\n\n"
           "Vänliga hälsningar\nHelpdesk"),
    "en": ("Hello,\n\nWe have received your request and given it the code [{tag} #{number}]. "
           "Please keep the code in the subject when you reply.\n\nKind regards\nHelpdesk"),
}

# A first line for a second matter in the same mail (the multi_issue flag).
ALSO = {
    "sv": ("En sak till: ", "Passar också på att fråga: ", "Dessutom ", "Och medan jag "
           "ändå skriver: ", "Sedan en helt annan sak: "),
    "en": ("One more thing: ", "While I am at it: ", "Also, ", "Another thing: ",
           "Unrelated, but "),
}

# Forwarded requests (a colleague's mail passed on to the helpdesk).
FORWARD_NOTES = {
    "sv": ("Vidarebefordrar detta till er, se nedan.", "Kan ni hjälpa vår nya kollega?",
           "Detta borde väl hamna hos er?"),
    "en": ("Forwarding this to you, see below.", "Could you help our new colleague?"),
}

# Out-of-office replies to an acknowledgement (automatic mail with the code in the subject).
AUTO_REPLIES = {
    "sv": ("Jag är på semester till och med {n2} augusti och läser inte e-post. Vid brådskande "
           "ärenden, kontakta institutionens expedition.",
           "Tack för ditt mejl. Jag är på tjänsteresa och har begränsad tillgång till e-post."),
    "en": ("I am out of the office until the {n2}th with limited access to e-mail. For "
           "urgent matters please contact the department office.",
           "Thank you for your message. I am travelling and will reply when I am back."),
}
