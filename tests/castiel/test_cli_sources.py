"""`castiel sources check`: exit 0 when every source answers, 3 when some do not, 2 for a bad
or missing config; a table either way, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from castiel.cli import main
from castiel.redis_server import free_port
from tests.helpers import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "castiel.yaml"
    path.write_text(text)
    return path


def test_all_sources_answer_exit_0(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, f'sources:\n  redis:\n    url: "{redis_url}"\n')
    assert main(["sources", "check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "redis" in out and "yes" in out and "answers" in out


def test_a_source_that_does_not_answer_exit_3(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = free_port()
    config = write(
        tmp_path,
        f'sources:\n  redis: {{url: "{redis_url}"}}\n'
        f'  prometheus: {{url: "http://127.0.0.1:{closed}"}}\n',
    )
    assert main(["sources", "check", "--config", str(config), "--timeout", "1"]) == 3
    out, err = capsys.readouterr()
    assert "does not answer" in out and "castiel: 1 of 2 sources do not answer" in err


def test_bad_config_exit_2_with_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, "sources:\n  prometheus:\n    url: http://x\n    metod: exact\n")
    assert main(["sources", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:4:5: sources.prometheus.metod: unknown key 'metod'" in err
    assert "did you mean 'method'" in err
    assert main(["sources", "check", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err
    typo = write(tmp_path, "source:\n  redis: {url: redis://127.0.0.1:1}\n")
    assert main(["sources", "check", "--config", str(typo)]) == 2
    assert f"{typo}:1:1: source: unknown section 'source' (did you mean 'sources'?)" in (
        capsys.readouterr().err
    )
    empty = write(tmp_path, "alerts:\n")
    assert main(["sources", "check", "--config", str(empty)]) == 2
    assert "no sources configured" in capsys.readouterr().err
    assert main(["sources", "check", "--config", str(empty), "--timeout", "0"]) == 2


def test_the_installed_command_runs(tmp_path: Path) -> None:
    config = write(tmp_path, f'sources:\n  redis: {{url: "redis://127.0.0.1:{free_port()}"}}\n')
    done = subprocess.run(
        [sys.executable, "-m", "castiel", "sources", "check", "--config", str(config)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "redis" in done.stdout
