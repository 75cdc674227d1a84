"""`scoredream ui` and `python -m ui` hand their options to the app's `launch` (launching is covered by the app
tests)."""

import runpy
import sys
from pathlib import Path

import pytest

from scoredream.cli import main


@pytest.fixture
def launched(monkeypatch):
    """The (host, port, outputs) of every `launch` call; nothing is served."""
    import ui.app

    calls = []
    monkeypatch.setattr(ui.app, "launch", lambda host, port, outputs: calls.append((host, port, outputs)))
    return calls


def test_ui_command_passes_its_options_to_the_app(launched, tmp_path, capsys):
    assert main(["ui", "--host", "0.0.0.0", "--port", "8123", "--outputs", str(tmp_path)]) == 0
    assert main(["ui"]) == 0
    assert launched == [("0.0.0.0", 8123, tmp_path), ("127.0.0.1", 7860, Path("outputs"))]
    with pytest.raises(SystemExit) as e:
        main(["ui", "--port", "not-a-port"])
    assert e.value.code == 2 and "not-a-port" in capsys.readouterr().err and len(launched) == 2


def test_python_dash_m_ui_is_scoredream_ui(launched, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["python -m ui", "--port", "8124", "--outputs", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        runpy.run_module("ui", run_name="__main__")
    assert e.value.code == 0 and launched == [("127.0.0.1", 8124, tmp_path)]
