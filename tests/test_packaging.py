"""Packaging: `ticketgate init` writes a starter site that `rules check` accepts and `serve` runs;
the packaged starter is real files, a copy of the repository's example; a plain `pip install .`
works from an install directory nothing writes into; flanker's parser tables are never written
at run time."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, free_port, make_mail, send
from ticketgate import initcmd
from ticketgate.mail import plytables

STARTER = REPO / "daemon/ticketgate/starter"


def _serve_settings(site: Path, port: int) -> None:
    """Point the starter's settings at free ports (SMTP and the staff desk); change nothing
    else."""
    text = (site / "ticketgate.yaml").read_text()
    assert "\n  port: 2525\n" in text and "\n  port: 8025\n" in text
    text = text.replace("\n  port: 2525\n", f"\n  port: {port}\n")
    (site / "ticketgate.yaml").write_text(
        text.replace("\n  port: 8025\n", f"\n  port: {free_port()}\n"))


def _wait_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1].decode()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("serve did not start listening")


def _tickets(cli: list[str], settings: Path, cwd: Path) -> str:
    done = subprocess.run([*cli, "tickets", "list", "--json", "--config", str(settings)],
                          capture_output=True, timeout=60, cwd=cwd)
    return done.stdout.decode() if done.returncode == 0 else ""


def _serve_one_mail(cli: list[str], site: Path, cwd: Path) -> None:
    """serve --config SITE/ticketgate.yaml from elsewhere; one mail becomes a ticket; exit 0."""
    port = free_port()
    _serve_settings(site, port)
    settings = site / "ticketgate.yaml"
    proc = subprocess.Popen([*cli, "serve", "--config", str(settings)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(proc, port)
        send(port, make_mail(subject="Skrivaren på plan 3 skriver inte ut"))
        deadline = time.monotonic() + 30
        while "[DDG #1]" not in _tickets(cli, settings, cwd):
            assert time.monotonic() < deadline, "no ticket made"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    # Everything the site's settings name is inside the site, nothing in the working directory.
    assert (site / "var/ticketgate.db").is_file()
    assert list((site / "var/maildir/new").iterdir())
    assert not (cwd / "var").exists()


EXAMPLES = {"ticketgate.yaml": "ticketgate.example.yaml"}  # starter name -> the checkout's


def test_starter_is_real_files_in_the_package() -> None:
    """No link into the checkout: what init writes cannot depend on what the checkout holds."""
    package = STARTER.parent.resolve()
    entries = list(STARTER.rglob("*"))
    assert entries
    for entry in entries:
        assert not entry.is_symlink(), entry
        assert entry.resolve().is_relative_to(package), entry
    files = dict(initcmd.starter_files())
    names = {str(p) for p in files}
    assert {"ticketgate.yaml", "rules/queues.yaml", "rules/routes.yaml", "rules/etiquette.yaml",
            "rules/schema/settings.schema.json", "rules/schema/queues.schema.json",
            "templates/acknowledgement.sv.txt.j2", "templates/notification.en.txt.j2"} <= names
    assert "rules/directory.csv" not in names  # example people are no starter
    for relative, data in files.items():
        if relative.parts[:2] == ("rules", "schema"):  # the schemas the package validates with
            assert data == (package / "schemas" / relative.name).read_bytes()
        elif str(relative) == "ticketgate.yaml":
            assert data.decode().splitlines()[0] == initcmd.SITE_MODELINE
            rest = (STARTER / "ticketgate.yaml").read_bytes().splitlines()[1:]
            assert data.splitlines()[1:] == rest
        else:
            assert data == (STARTER / relative).read_bytes(), relative


def _committed(path: str) -> bytes | None:
    done = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=REPO, capture_output=True,
                          timeout=60)
    return done.stdout if done.returncode == 0 else None


def test_starter_matches_the_example_deployment() -> None:
    """The starter is a copy of the checkout's example files (`make starter` makes it). It is
    compared with the committed example, or the working tree's: an admin's local edits of
    rules/ do not fail this, a commit that changes one copy and not the other does."""
    if shutil.which("git") is None or _committed("Makefile") is None:
        pytest.skip("not a git checkout: nothing to compare the starter with")
    stale = []
    for entry in sorted(p for p in STARTER.rglob("*") if p.is_file()):
        relative = str(entry.relative_to(STARTER))
        example = EXAMPLES.get(relative, relative)
        ours = entry.read_bytes()
        if ours not in (_committed(example), (REPO / example).read_bytes()):
            stale.append(example)
    assert not stale, f"the starter differs from {', '.join(stale)}: run `make starter`"


def test_init_writes_the_pristine_example_whatever_the_checkout_holds(tmp_path: Path) -> None:
    """An editable install is the checkout's package directory; an admin who tried `make run`
    edited the checkout's rules/. `init` from that package still writes the starter as shipped."""
    checkout = tmp_path / "checkout"
    shutil.copytree(STARTER.parent, checkout / "daemon/ticketgate", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("rules", "templates"):
        shutil.copytree(REPO / name, checkout / name, symlinks=True)
    shutil.copy(REPO / "ticketgate.example.yaml", checkout / "ticketgate.example.yaml")
    edited = "# edited by the admin of this checkout\nqueues: {mine: {addresses: [me@x.example]}}\n"
    (checkout / "rules/queues.yaml").write_text(edited)
    (checkout / "templates/acknowledgement.sv.txt.j2").write_text("edited\n")
    (checkout / "ticketgate.example.yaml").write_text("instance: edited.example\n")
    site = tmp_path / "site"
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "import ticketgate\n"
            "assert ticketgate.__file__.startswith(sys.argv[1]), ticketgate.__file__\n"
            "from ticketgate.cli import main\n"
            "sys.exit(main(['init', sys.argv[2]]))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code, str(checkout / "daemon"), str(site)],
                          capture_output=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert (site / "rules/queues.yaml").read_bytes() == (STARTER / "rules/queues.yaml").read_bytes()
    assert b"edited" not in (site / "rules/queues.yaml").read_bytes()
    assert (site / "templates/acknowledgement.sv.txt.j2").read_bytes() == (
        STARTER / "templates/acknowledgement.sv.txt.j2").read_bytes()
    assert b"edited.example" not in (site / "ticketgate.yaml").read_bytes()


def test_init_writes_a_site_that_checks_and_serves(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "ticketgate.cli"]
    site = tmp_path / "site"
    done = subprocess.run([*cli, "init", str(site)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert (site / "rules/schema/queues.schema.json").is_file()
    check = subprocess.run([*cli, "rules", "check", "--config", str(site / "ticketgate.yaml")],
                           capture_output=True, timeout=60)
    assert check.returncode == 0, check.stderr.decode()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _serve_one_mail(cli, site, elsewhere)


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "ticketgate.cli"]
    site = tmp_path / "site"
    (site / "rules").mkdir(parents=True)
    (site / "rules/queues.yaml").write_text("# mine\n")
    done = subprocess.run([*cli, "init", str(site)], capture_output=True, timeout=60)
    assert done.returncode == 73
    assert done.stderr.startswith(b"ticketgate: error: ")
    assert b"rules/queues.yaml" in done.stderr and b"--force" in done.stderr
    assert (site / "rules/queues.yaml").read_text() == "# mine\n"
    assert not (site / "ticketgate.yaml").exists()  # nothing at all was written
    done = subprocess.run([*cli, "init", "--force", str(site)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert (site / "rules/queues.yaml").read_bytes() == (STARTER / "rules/queues.yaml").read_bytes()


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under `roots`: (size, mtime in ns)."""
    found = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            st = path.lstat()
            found[str(path)] = (st.st_size, st.st_mtime_ns)
    return found


def test_stale_parser_tables_are_rebuilt_in_memory_not_written(tmp_path: Path) -> None:
    """As flanker's published wheel has them: tables from an older ply's grammar signature."""
    import flanker

    copy = tmp_path / "flanker"
    shutil.copytree(Path(flanker.__file__).parent, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    parser_dir = copy / "addresslib/_parser"
    for table in parser_dir.glob("*_parsetab.py"):
        table.write_text(table.read_text().replace("_lr_signature = '", "_lr_signature = 'old"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(copy)], check=True)
    before = _snapshot(copy)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from ticketgate.mail import plytables\n"
        "with plytables.read_only():\n"
        "    from flanker.addresslib import address\n"
        "assert address.__file__.startswith(sys.argv[1])\n"
        "assert address.parse('Kim <kim@example.org>').address == 'kim@example.org'\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert _snapshot(copy) == before
    assert plytables.START_SYMBOLS  # and build() writes current tables (the wheel test shows it)


@pytest.mark.slow
def test_pip_install_runs_from_an_untouched_install_dir(tmp_path: Path) -> None:
    """`pip install .` (not editable) into a fresh venv: init, rules check, serve; nothing in
    the install directory changes while it runs; --build-tables then writes current tables."""
    source = tmp_path / "src"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
        ".hypothesis"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin/pip"), "install", "-q", str(source)],
                         capture_output=True, timeout=600)
    assert pip.returncode == 0, pip.stderr.decode()[-3000:]
    python = str(venv / "bin/python")
    site_packages = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, check=True, text=True).stdout.strip())
    installed = [site_packages / name for name in ("ticketgate", "flanker", "ply")]
    assert not (site_packages / "ticketgate/starter/rules").is_symlink()  # copied, not linked
    before = _snapshot(*installed)

    cli = [str(venv / "bin/ticketgate")]
    site = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TICKETGATE_CONFIG")}
    done = subprocess.run([*cli, "init", str(site)], capture_output=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr.decode()
    check = subprocess.run([*cli, "rules", "check", "--config", str(site / "ticketgate.yaml")],
                           capture_output=True, timeout=60, env=env)
    assert check.returncode == 0, check.stderr.decode()
    _serve_one_mail(cli, site, tmp_path)
    assert _snapshot(*installed) == before, "the installed package wrote into its install dir"

    # The install-time step writes tables ply accepts: a plain import of flanker (without
    # ticketgate's guard) then finds them current and writes nothing either.
    subprocess.run([python, "-m", "ticketgate.mail", "--build-tables"], check=True, timeout=120)
    parser_dir = site_packages / "flanker/addresslib/_parser"
    for start in plytables.START_SYMBOLS:
        assert (parser_dir / f"{start}_parsetab.py").is_file()
    built = _snapshot(*installed)
    subprocess.run([python, "-c", "import flanker.addresslib.address"], check=True, timeout=60)
    assert _snapshot(*installed) == built
