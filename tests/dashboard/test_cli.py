"""`castiel dashboard`: loopback by default, the password lookup, the loud warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from castiel.commands.dashboard import bind_warning, has_password, is_loopback, secrets_files
from tests.helpers import ROOT


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    assert not is_loopback("dash.example.com")


def test_password_from_secrets_file_or_env(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    files = secrets_files(None, cwd, home)
    assert not has_password(files, {})
    assert has_password(files, {"CASTIEL_DASHBOARD_PASSWORD": "x"})
    (cwd / ".streamlit").mkdir(parents=True)
    (cwd / ".streamlit" / "secrets.toml").write_text('[castiel]\npassword = "pw"\n')
    assert has_password(files, {})
    other = tmp_path / "other.toml"
    other.write_text("[something]\nkey = 1\n")
    assert secrets_files(other, cwd, home)[-1] == other
    assert not has_password([other], {})


def test_warning_only_when_reachable_without_password() -> None:
    assert bind_warning("127.0.0.1", protected=False) is None
    assert bind_warning("0.0.0.0", protected=True) is None
    warning = bind_warning("0.0.0.0", protected=False)
    assert warning is not None and "WITHOUT a password" in warning and "0.0.0.0" in warning


def test_bad_secrets_file_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "secrets.toml"
    bad.write_text("[castiel\npassword = \n")
    result = subprocess.run(
        [sys.executable, "-m", "castiel", "dashboard", "--secrets", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2, result.stderr
    assert str(bad) in result.stderr and "Traceback" not in result.stderr


def test_bad_port_is_bad_input() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "castiel", "dashboard", "--port", "70000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "--port: 70000 is not a port number" in result.stderr
