"""The one place that imports flanker, with its logging silenced first.

flanker builds ply parser tables on first import and logs "Symbol ... is unreachable" at WARNING
while doing so; its address lexer also warns on every malformed address. None of that is ours to
show: parse failures reach us as exceptions and become ParsedMail.defects. The handler and
propagate setting are made before the import so not even the first import is heard. Its imports
of modules deprecated in Python 3.12 (cgi through webob, imghdr) are kept quiet too.
"""

from __future__ import annotations

import logging
import warnings

from .plytables import read_only

_quiet = logging.getLogger("flanker")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False

# Parser tables are read when current and built in memory otherwise, never written into the
# install directory (see plytables.py).
with warnings.catch_warnings(), read_only():
    warnings.simplefilter("ignore", DeprecationWarning)
    from flanker import mime
    from flanker.addresslib import address

__all__ = ["address", "mime"]
