"""`scoredream ui` and `python -m ui` parse their options (launching is covered by the app tests)."""

import runpy
import sys

import pytest

from scoredream.cli import main


def test_ui_command_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["ui", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--host" in out and "--outputs" in out


def test_python_dash_m_ui_help(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["python -m ui", "--help"])
    with pytest.raises(SystemExit) as e:
        runpy.run_module("ui", run_name="__main__")
    assert e.value.code == 0 and "--port" in capsys.readouterr().out
