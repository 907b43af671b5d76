"""The staff desk in the browser: an ASGI application (Starlette, served by uvicorn).

Server-rendered HTML (Jinja2) that works without JavaScript for reading; the one script (the
reply form's heartbeat) and the style sheet are shipped in the package, nothing is fetched from
elsewhere. The modules, each one idea:

- app: the routes table and the middleware stack; server: uvicorn, for `ticketgate web` and
  `serve`; desk: what the views share (settings, rules, the store's view and writer)
- sessions: the signed session cookie; csrf: the token every POST must carry; headers: the
  Content-Security-Policy and the other headers of every answer; gate: logged in or to login
- secret (the cookie key file), passwords (argon2id file), auth (local or LDAP), ratelimit
  (failed logins), access (which queues a staff member sees: anything else is 404)
- views: login, lists, ticket, search, dashboard, downloads; mailview and sanitize (a stored
  mail for the browser: text, cleaned HTML, attachments); charts (SVG); presence (who has a
  reply form open); i18n (Swedish and English)

Nothing below imports this room (an import-linter contract); it reads through store/ and
will act through the staff actions layer (issue 15).
"""
