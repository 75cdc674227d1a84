"""`scoredream ui` and `python -m ui` hand their options to the app's `launch` (launching is covered by the app
tests)."""

import runpy
import sys
from pathlib import Path

import pytest

from scoredream.cli import main


@pytest.fixture
def launched(monkeypatch):
    """The (host, port, outputs) of every `launch` call, with share and auth when set; nothing is served."""
    import ui.app

    calls = []

    def launch(host, port, outputs, share=False, auth=None):
        calls.append((host, port, outputs) + ((share, auth) if share or auth else ()))

    monkeypatch.setattr(ui.app, "launch", launch)
    return calls


def test_ui_command_passes_its_options_to_the_app(launched, tmp_path, capsys):
    assert main(["ui", "--host", "0.0.0.0", "--port", "8123", "--outputs", str(tmp_path)]) == 0
    assert main(["ui"]) == 0
    assert launched == [("0.0.0.0", 8123, tmp_path), ("127.0.0.1", 7860, Path("outputs"))]
    with pytest.raises(SystemExit) as e:
        main(["ui", "--port", "not-a-port"])
    assert e.value.code == 2 and "not-a-port" in capsys.readouterr().err and len(launched) == 2


def test_share_and_auth_are_gradios_own(launched, tmp_path, capsys):
    assert main(["ui", "--share", "--auth", "ada:se:cret", "--outputs", str(tmp_path)]) == 0
    assert launched == [("127.0.0.1", 7860, tmp_path, True, ("ada", "se:cret"))]
    assert main(["ui", "--auth", "nopassword"]) == 2 and "user:password" in capsys.readouterr().err
    assert len(launched) == 1


def test_python_dash_m_ui_is_scoredream_ui(launched, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["python -m ui", "--port", "8124", "--outputs", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        runpy.run_module("ui", run_name="__main__")
    assert e.value.code == 0 and launched == [("127.0.0.1", 8124, tmp_path)]
