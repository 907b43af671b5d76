"""``python -m ticketgate.mail --build-tables``: write flanker's parser tables at install time.

At run time the tables are never written (plytables.py); this writes them once.
"""

import sys

from .plytables import build

if sys.argv[1:] not in ([], ["--build-tables"]):
    sys.exit("usage: python -m ticketgate.mail --build-tables")
build()
