"""Paths from users stay inside the outputs folder; upload names are sanitised."""

import pytest

from ui.files import UnsafePath, inside, list_runs, safe_name, store_upload, unique_name


def test_inside_refuses_escapes(tmp_path):
    outputs = tmp_path / "outputs"
    (outputs / "run").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (outputs / "link").symlink_to(tmp_path / "secret")
    assert inside(outputs, "run") == (outputs / "run").resolve()
    for bad in ("..", "../secret", "/etc/passwd", "run/../../secret", "link", "link/x", "", "  "):
        with pytest.raises(UnsafePath):
            inside(outputs, bad)


def test_uploads_get_safe_fresh_names(tmp_path):
    src = tmp_path / "my model; rm -rf.safetensors"
    src.write_bytes(b"x")
    a, b = store_upload(src, tmp_path / "out"), store_upload(src, tmp_path / "out")
    assert a != b and a.parent == b.parent == tmp_path / "out" / "_uploads"
    assert a.name.endswith("my-model-rm--rf.safetensors") and a.read_bytes() == b"x"
    assert safe_name("../../etc/passwd") == "passwd" and safe_name("...") == "file"


def test_unique_names_and_run_listing(tmp_path):
    (tmp_path / "a-cube").mkdir()
    assert unique_name(tmp_path, "a-cube") == "a-cube-2"
    assert unique_name(tmp_path, "a cube?") == "a-cube-2"
    (tmp_path / "a-cube" / "config.json").write_text('{"prompt": "a cube"}')
    (tmp_path / "not-a-run").mkdir()
    runs = list_runs(tmp_path)
    assert [r.name for r in runs] == ["a-cube"] and runs[0].prompt == "a cube" and runs[0].checkpoint is None
