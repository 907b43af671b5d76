"""The staff side: who may act on a ticket by mail, how, and what of their mail goes out.

Modules (pure, importing nothing above `config`, so the pipeline's staff stage may use them):

- `token`: the signed staff token in a notification's Reply-To and Message-ID (ticket, staff
  member, intent reply/note, notification), minted and verified with a `Keyring`.
- `keys`: the site secret behind the tokens (the key file: made, loaded, rotated).
- `commands`: the `#status waiting` lines that lead a staff mail.

The status rules are in `ticketgate.lifecycle` (the pipeline needs them too) and the quote cut
(a staff member's new text) in `ticketgate.mail.replycut`. docs/staff.md is the reference for
staff and admins.
"""
