"""What people write to a university helpdesk about, for bench/realmix.py.

Written for the benchmark (no text taken from anywhere): Swedish and English requests about
what a department's IT helpdesk, its access-card office and its web team hear about, each
topic with clear subjects, problem statements, details (what was tried, when it started) and
what is asked for. Topics about a computer (`device`) may or may not name it, as people do
(the missing_computer_name flag). `{slots}` are filled by realmix.py from SLOTS and from the
person writing.
"""

from __future__ import annotations

# The queue a topic's mail goes to: function addresses as in rules/queues.yaml.
QUEUE_ADDRESSES = {
    "helpdesk": ("helpdesk@example.org", "support@example.org"),
    "lukortet": ("lukortet@example.org",),
    "sot": ("sot@example.org", "sot-helpdesk@example.org"),
}

SLOTS = {
    "room": ("E:1126", "E:2311", "M:B", "rum 2110", "F:205", "V:C", "E:C", "MA:6", "1405",
             "plan 3", "biblioteket"),
    "pc": ("ddg-pc-{n4}", "DDG-LAP-{n2}", "LU-{n6}", "fys-ws-{n3}", "ddg-mac-{n3}"),
    "printer": ("pr-3", "pr-{n2}", "Ricoh-skrivaren", "HP-skrivaren", "kopiatorn"),
    "software": ("Zotero", "MATLAB", "SPSS", "Adobe Acrobat", "NVivo", "Mathematica",
                 "LaTeX", "Python 3.12", "ArcGIS Pro", "Office 365", "R och RStudio",
                 "Teams", "Zoom", "EndNote", "Stata"),
    "course": ("EDAA45", "FYSA21", "EKHA01", "MATA22", "KEMA02", "DATN05", "SOCB43"),
    "weekday": ("måndags", "tisdags", "onsdags", "torsdags", "fredags"),
    "day_en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
    "error": ("0x80070005", "ERR_CONNECTION_RESET", "Access denied", "Error 403",
              "The trust relationship between this workstation and the primary domain failed",
              "AADSTS50076", "Kerberos: ticket expired", "Page not found", "0xC004F074"),
    "minutes": ("fem", "tio", "tjugo", "trettio"),
    "minutes_en": ("five", "ten", "twenty", "thirty"),
    "site": ("institutionens webbplats", "kurssidan", "personalsidan", "intranätet"),
    "site_en": ("the department website", "the course page", "the staff page",
                "the intranet"),
}

# One topic: what the matter is about, in each language. `device` marks topics about a
# computer, where a computer name is expected.
TOPICS: dict[str, dict[str, object]] = {
    "printer": {
        "queue": "helpdesk", "device": False,
        "sv": {
            "subjects": ("Skrivaren {printer} i {room} skriver inte ut",
                         "{printer} drar in flera papper åt gången", "Pappersstopp i {printer}",
                         "Kan inte skriva ut till {printer}", "Skrivaren på {room} är offline"),
            "problems": ("Skrivaren {printer} i {room} tar emot jobben men inget kommer ut.",
                         "Sedan i {weekday} drar {printer} in flera papper åt gången och det "
                         "blir pappersstopp hela tiden.",
                         "När jag skriver ut till {printer} står det bara \"I kö\" och sedan "
                         "händer ingenting.",
                         "Utskrifterna från {printer} blir randiga och svaga, som om tonern "
                         "är slut, fast displayen säger att den är full."),
            "details": ("Jag har provat att starta om datorn och ta bort jobbet ur kön.",
                        "Kollegorna på samma våning har samma problem, så det är nog inte "
                        "min dator.",
                        "Displayen visar felkod SC-{n3} ibland.",
                        "Det fungerade fint förra veckan."),
            "asks": ("Kan någon komma och titta på den?",
                     "Vet ni om det finns någon annan skrivare jag kan använda så länge?",
                     "Behöver skriva ut tentor i eftermiddag, så det är lite bråttom."),
        },
        "en": {
            "subjects": ("Printer {printer} in {room} not printing",
                         "Paper jam in {printer} again", "Cannot print to {printer}",
                         "{printer} prints blank pages"),
            "problems": ("The printer {printer} in {room} accepts jobs but nothing comes out.",
                         "Since {day_en} {printer} jams every few pages.",
                         "Everything I send to {printer} ends up stuck in the queue.",
                         "Pages from {printer} come out streaky and pale."),
            "details": ("I restarted my laptop and cleared the queue, no change.",
                        "My colleagues on the same floor see the same thing.",
                        "The display sometimes shows error SC-{n3}."),
            "asks": ("Could someone come and have a look?",
                     "Is there another printer I can use in the meantime?",
                     "I need to print exam papers this afternoon."),
        },
    },
    "computer": {
        "queue": "helpdesk", "device": True,
        "sv": {
            "subjects": ("Min dator startar inte", "Datorn är väldigt långsam",
                         "Blåskärm på {pc}", "Datorn surrar högt", "Laptopen laddar inte",
                         "Skärmen flimrar på min dator", "Datorn hittar inte dockningsstationen"),
            "problems": ("Min dator har blivit väldigt långsam sedan uppdateringen i {weekday}; "
                         "det tar flera minuter att öppna Outlook.",
                         "Datorn startar inte längre, lampan lyser men skärmen förblir svart.",
                         "Jag får blåskärm flera gånger om dagen, senast med felet {error}.",
                         "Fläkten i datorn låter som en dammsugare hela tiden, även när jag "
                         "inte gör något.",
                         "Laddaren verkar inte fungera längre, batteriet går ner till noll "
                         "fast sladden sitter i.",
                         "Skärmen flimrar när jag kopplar datorn till dockningsstationen."),
            "details": ("Jag har startat om flera gånger utan att det blir bättre.",
                        "Datorn heter {pc} enligt klisterlappen på undersidan.",
                        "Det står {pc} på lappen på datorn.",
                        "Jag har inte installerat något nytt själv.",
                        "Det började efter att jag tog med datorn hem över helgen."),
            "asks": ("Kan ni hjälpa mig? Jag har en deadline på fredag.",
                     "Ska jag lämna in den hos er eller kan någon komma hit?",
                     "Finns det en lånedator jag kan använda under tiden?"),
        },
        "en": {
            "subjects": ("Laptop will not charge", "Computer very slow since update",
                         "Blue screen on {pc}", "My computer does not start",
                         "Screen flickers with the docking station"),
            "problems": ("My laptop has become very slow since the update on {day_en}.",
                         "The computer does not boot any more; the light is on but the "
                         "screen stays black.",
                         "I get a blue screen several times a day, last time with {error}.",
                         "The charger seems broken: the battery drains even when plugged in."),
            "details": ("I have restarted it a few times, no difference.",
                        "The sticker on the bottom says {pc}.",
                        "The machine is {pc}.",
                        "I have not installed anything myself."),
            "asks": ("Could you help? I have a deadline on Friday.",
                     "Should I bring it to you or can someone come by?",
                     "Is there a loan laptop I could use meanwhile?"),
        },
    },
    "account": {
        "queue": "helpdesk", "device": False,
        "sv": {
            "subjects": ("Lösenordet har gått ut", "Kontot är låst",
                         "Kan inte logga in med mitt användarnamn",
                         "Konto för ny doktorand", "Tvåstegsverifiering fungerar inte"),
            "problems": ("Jag kan inte logga in sedan i morse, det står att kontot är låst.",
                         "Mitt lösenord gick ut under semestern och nu kommer jag inte in "
                         "någonstans.",
                         "Vi har en ny doktorand som börjar den första och behöver ett konto "
                         "och tillgång till gruppens katalog.",
                         "Appen för tvåstegsverifiering frågar inte längre, och inloggningen "
                         "stannar på felet {error}."),
            "details": ("Mitt användarnamn är {username}.",
                        "Jag har provat att byta lösenord via självservice men får inget sms.",
                        "Det gäller både e-posten och Canvas."),
            "asks": ("Kan ni låsa upp kontot?", "Vad behöver ni från mig för att ordna det?",
                     "Ring gärna på {phone} så kan vi ta det direkt."),
        },
        "en": {
            "subjects": ("Account locked", "Password expired while abroad",
                         "Account for new PhD student", "Cannot log in with my username",
                         "Two-factor login fails"),
            "problems": ("I cannot log in since this morning; it says my account is locked.",
                         "My password expired while I was travelling and now nothing works.",
                         "A new PhD student starts on the first and needs an account.",
                         "The two-factor prompt never arrives and the login stops at {error}."),
            "details": ("My username is {username}.",
                        "The self-service reset wants a text message that never comes.",
                        "It affects both mail and Canvas."),
            "asks": ("Could you unlock the account?", "What do you need from me?",
                     "Feel free to call me on {phone}."),
        },
    },
    "email": {
        "queue": "helpdesk", "device": False,
        "sv": {
            "subjects": ("Mejlen kommer inte fram", "Vidarebefordran av e-post",
                         "Outlook synkar inte", "Delad brevlåda för institutionen",
                         "Brevlådan är full"),
            "problems": ("Mejl från externa avsändare verkar inte komma fram till mig sedan "
                         "i {weekday}.",
                         "Jag skulle vilja vidarebefordra min e-post till en kollega medan "
                         "jag är tjänstledig.",
                         "Outlook på min telefon har slutat synka, men webbversionen visar "
                         "nya mejl.",
                         "Jag får meddelandet att brevlådan är full fast jag har rensat."),
            "details": ("En kollega har skickat tre mejl som aldrig dykt upp, inte heller i "
                        "skräpposten.",
                        "Det gäller adressen till kursexpeditionen också."),
            "asks": ("Kan ni se i loggarna vad som händer?", "Hur gör jag?",
                     "Kan ni utöka utrymmet?"),
        },
        "en": {
            "subjects": ("Mail from outside does not arrive", "Outlook stopped syncing",
                         "Shared mailbox for the department", "Mailbox full"),
            "problems": ("Mail from external senders has not reached me since {day_en}.",
                         "Outlook on my phone stopped syncing, the web version is fine.",
                         "I keep getting told my mailbox is full although I deleted a lot."),
            "details": ("A colleague sent three messages that never arrived, not in junk "
                        "either.",),
            "asks": ("Could you check the logs?", "Could you give me more space?"),
        },
    },
    "network": {
        "queue": "helpdesk", "device": False,
        "sv": {
            "subjects": ("Eduroam fungerar inte i {room}", "VPN kopplar ner hela tiden",
                         "Inget nätverk i nätverksuttaget", "Trådlöst nät saknas i {room}"),
            "problems": ("Eduroam försvinner hela tiden i {room}, varannan minut ungefär.",
                         "VPN:en kopplar ner efter {minutes} minuter när jag jobbar hemifrån.",
                         "Nätverksuttaget vid mitt skrivbord ger ingen anslutning alls."),
            "details": ("Jag har glömt nätverket och lagt till det igen.",
                        "Det gäller även studenterna i salen, inte bara mig."),
            "asks": ("Kan ni kontrollera accesspunkten?", "Vad kan jag testa själv?"),
        },
        "en": {
            "subjects": ("Eduroam keeps dropping in {room}", "VPN disconnects every few minutes",
                         "No network on the wall socket"),
            "problems": ("Eduroam drops every couple of minutes in {room}.",
                         "The VPN disconnects after {minutes_en} minutes when I work from home.",
                         "The network socket at my desk gives no connection at all."),
            "details": ("I removed the network and added it again.",
                        "The students in the room have the same problem."),
            "asks": ("Could you check the access point?", "Is there anything I can try?"),
        },
    },
    "software": {
        "queue": "helpdesk", "device": True,
        "sv": {
            "subjects": ("Installation av {software}", "Licens för {software}",
                         "{software} startar inte", "Behöver {software} till kursen {course}"),
            "problems": ("Jag behöver {software} installerat på min dator till kursen "
                         "{course}.",
                         "Licensen för {software} har gått ut och programmet vill inte "
                         "starta.",
                         "{software} kraschar direkt när jag öppnar ett projekt."),
            "details": ("Datorn heter {pc}.", "Jag har inte administratörsbehörighet själv.",
                        "Det står {error} i felrutan."),
            "asks": ("Kan ni installera det?", "Finns det en campuslicens?",
                     "Går det att få det i Software Center?"),
        },
        "en": {
            "subjects": ("Install {software}", "{software} licence expired",
                         "{software} crashes on start", "Need {software} for course {course}"),
            "problems": ("I need {software} installed for the course {course}.",
                         "The {software} licence has expired and it refuses to start.",
                         "{software} crashes as soon as I open a project."),
            "details": ("The computer is {pc}.", "I do not have admin rights.",
                        "The error box says {error}."),
            "asks": ("Could you install it?", "Is there a campus licence?"),
        },
    },
    "av": {
        "queue": "helpdesk", "device": False,
        "sv": {
            "subjects": ("Projektorn i {room} visar ingen bild", "Ljudet fungerar inte i {room}",
                         "Mötesrummet {room}: kameran syns inte i Teams"),
            "problems": ("Projektorn i {room} säger \"ingen signal\" oavsett vilken kabel jag "
                         "använder.",
                         "Högtalarna i {room} är tysta sedan i {weekday}.",
                         "Kameran i mötesrummet {room} syns inte i Teams."),
            "details": ("Jag har en föreläsning där i morgon klockan tio.",
                        "Fjärrkontrollen verkar fungera, lampan blinkar."),
            "asks": ("Kan någon titta på det före föreläsningen?",),
        },
        "en": {
            "subjects": ("Projector in {room} shows no picture", "No sound in {room}"),
            "problems": ("The projector in {room} says no signal whatever cable I use.",
                         "The speakers in {room} have been silent since {day_en}."),
            "details": ("I teach there tomorrow at ten.",),
            "asks": ("Could someone look at it before the lecture?",),
        },
    },
    "storage": {
        "queue": "helpdesk", "device": False,
        "sv": {
            "subjects": ("Kommer inte åt gruppens katalog på filservern",
                         "Återställa raderad fil", "Mer utrymme i hemkatalogen"),
            "problems": ("Jag kommer inte åt gruppens katalog på filservern, det står att jag "
                         "saknar behörighet.",
                         "Jag råkade radera en mapp med mätdata i går eftermiddag.",
                         "Hemkatalogen är full och jag kan inte spara något."),
            "details": ("Mappen hette \"matningar-{n4}\".", "Det fungerade i förra veckan."),
            "asks": ("Går det att återställa från backupen?", "Kan ni ge mig behörighet?"),
        },
        "en": {
            "subjects": ("No access to the group folder", "Restore a deleted folder",
                         "More space in my home directory"),
            "problems": ("I cannot open our group folder on the file server: access denied.",
                         "I accidentally deleted a folder of measurements yesterday."),
            "details": ("The folder was called \"runs-{n4}\".",),
            "asks": ("Can it be restored from backup?", "Could you grant me access?"),
        },
    },
    "access": {
        "queue": "lukortet", "device": False,
        "sv": {
            "subjects": ("Mitt LU-kort öppnar inte dörren", "Nytt passerkort",
                         "Behörighet till {room}", "Tappat passerkortet"),
            "problems": ("Mitt kort blinkar rött vid läsaren till {room} sedan i {weekday}.",
                         "Jag har tappat mitt passerkort och behöver spärra det och få ett "
                         "nytt.",
                         "Jag behöver behörighet till labbet i {room} från och med nästa "
                         "vecka.",
                         "Kortet har gått sönder, chipet sitter löst."),
            "details": ("Min handledare har godkänt behörigheten.",
                        "Kortnumret slutar på {n4}.",
                        "Jag kan komma förbi kortexpeditionen på torsdag."),
            "asks": ("Vad behöver jag ta med?", "Kan ni lägga in behörigheten?",
                     "Hur lång tid tar det att få ett nytt kort?"),
        },
        "en": {
            "subjects": ("Access card does not open the door", "New access card",
                         "Access to {room}", "Lost my access card"),
            "problems": ("My card blinks red at the reader for {room} since {day_en}.",
                         "I lost my access card and need it blocked and replaced.",
                         "I need access to the lab in {room} from next week."),
            "details": ("My supervisor has approved it.", "The card number ends in {n4}."),
            "asks": ("What should I bring?", "How long does a new card take?"),
        },
    },
    "learning_platform": {
        "queue": "sot", "device": False,
        "sv": {
            "subjects": ("Canvas-sidan för {course} saknas", "Studenter ser inte kursen "
                         "{course} i Canvas", "Lägga till lärare i Canvas"),
            "problems": ("Kurssidan för {course} finns inte i Canvas fast kursen börjar på "
                         "måndag.",
                         "Studenterna säger att de inte ser kursen {course} i Canvas.",
                         "Jag behöver lägga till en amanuens som lärare i {course}."),
            "details": ("Kursen är registrerad i Ladok sedan länge.",
                        "Det gäller ungefär {n2} studenter."),
            "asks": ("Kan ni skapa sidan?", "Hur lägger jag till en lärare?"),
        },
        "en": {
            "subjects": ("Canvas page for {course} missing", "Students cannot see {course}"),
            "problems": ("The Canvas page for {course} does not exist and we start Monday.",
                         "Students report they cannot see {course} in Canvas."),
            "details": ("About {n2} students are affected.",),
            "asks": ("Could you create the page?",),
        },
    },
    "web": {
        "queue": "sot", "device": False,
        "sv": {
            "subjects": ("Fel på {site}", "Uppdatera personalsidan",
                         "Länk på {site} leder fel"),
            "problems": ("Länken till anmälan på {site} ger {error}.",
                         "Jag behöver uppdatera min presentation på personalsidan.",
                         "Bilderna på {site} visas inte längre."),
            "details": ("Det började efter publiceringen i {weekday}.",),
            "asks": ("Kan ni rätta länken?", "Vem har behörighet att ändra?"),
        },
        "en": {
            "subjects": ("Broken link on {site_en}", "Update my staff page"),
            "problems": ("The registration link on {site_en} gives {error}.",
                         "I need my presentation on the staff page updated."),
            "details": ("It started after the update on {day_en}.",),
            "asks": ("Could you fix the link?",),
        },
    },
}
