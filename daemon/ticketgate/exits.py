"""sysexits(3) codes, as mail systems expect them from a delivery program."""

OK = 0
USAGE = 64
DATAERR = 65
NOINPUT = 66
NOUSER = 67
SOFTWARE = 70
CANTCREAT = 73
TEMPFAIL = 75
CONFIG = 78
