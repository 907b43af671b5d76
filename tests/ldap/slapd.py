"""A private OpenLDAP server for tests: slapd on loopback ports with a temporary mdb database.

`Slapd(root).start()` writes a slapd.conf under `root` (suffix dc=example,dc=org, rootdn
cn=admin,dc=example,dc=org), optionally a self-signed certificate for LDAPS and StartTLS,
starts slapd in the foreground on free ports, waits until it answers, and loads people.ldif
with ldapadd. `stop()` ends it. Nothing outside `root` is touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "admin-secret"
BIND_DN = f"cn=ticketgate,ou=services,{SUFFIX}"
BIND_PW = "ticketgate-secret"
BASE_DN = f"ou=people,{SUFFIX}"
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def find(program: str) -> str | None:
    """The program's path, looking in the sbin directories too (slapd lives in /usr/sbin)."""
    return shutil.which(program, path=SEARCH_PATH)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _module_path() -> str | None:
    for candidate in ("/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap"):
        if Path(candidate, "back_mdb.so").exists() or Path(candidate, "back_mdb.la").exists():
            return candidate
    return None  # built in


def make_certificate(root: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 (openssl): (ca, cert, key)."""
    ca_key, ca, key, csr, cert = (root / n for n in ("ca.key", "ca.pem", "server.key",
                                                     "server.csr", "server.pem"))
    ext = root / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=ticketgate test CA", "-keyout", str(ca_key), "-out", str(ca)],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(csr)],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert)],
    ]
    for cmd in run:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return ca, cert, key


class Slapd:
    """One slapd process; `url` and (with tls) `ldaps_url` say where it listens."""

    def __init__(self, root: Path, *, tls: bool = False) -> None:
        self.root = root
        self.tls = tls
        self.port = free_port()
        self.ldaps_port = free_port() if tls else None
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_url = f"ldaps://127.0.0.1:{self.ldaps_port}" if tls else None
        self.ca_file: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "slapd.log"

    def config(self) -> str:
        lines = [f"include /etc/ldap/schema/{n}.schema" for n in ("core", "cosine",
                                                                  "inetorgperson")]
        lines.append(f"include {HERE / 'eduperson.schema'}")
        lines += [f"pidfile {self.root / 'slapd.pid'}", f"argsfile {self.root / 'slapd.args'}"]
        modules = _module_path()
        if modules:
            lines += [f"modulepath {modules}", "moduleload back_mdb"]
        if self.tls:
            ca, cert, key = make_certificate(self.root)
            self.ca_file = ca
            lines += [f"TLSCACertificateFile {ca}", f"TLSCertificateFile {cert}",
                      f"TLSCertificateKeyFile {key}"]
        lines += [
            "database mdb",
            "maxsize 10485760",
            f'suffix "{SUFFIX}"',
            f'rootdn "{ROOT_DN}"',
            f"rootpw {ROOT_PW}",
            f"directory {self.root / 'db'}",
            "access to attrs=userPassword by anonymous auth by * none",
            "access to * by * read",
        ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 20.0, *, seed: bool = True) -> Slapd:
        """Start slapd (on the same ports and database when started before)."""
        slapd, ldapadd = find("slapd"), find("ldapadd")
        assert slapd and ldapadd, "slapd and ldapadd are needed (apt-get install slapd ldap-utils)"
        (self.root / "db").mkdir(parents=True, exist_ok=True)
        conf = self.root / "slapd.conf"
        if not conf.exists():
            conf.write_text(self.config())
        urls = self.url + "/" + (f" {self.ldaps_url}/" if self.ldaps_url else "")
        # -d 0: stay in the foreground (so the test owns the process) and log nothing.
        self.log = self.root / "slapd.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([slapd, "-d", "0", "-f", str(conf), "-h", urls],
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    output = self.log.read_text(errors="replace")
                    raise AssertionError(f"slapd did not start: {output}") from None
                time.sleep(0.05)
        if not seed:
            return self
        subprocess.run(
            [ldapadd, "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PW,
             "-f", str(HERE / "people.ldif")],
            check=True, capture_output=True, timeout=30,
        )
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
