"""The Amortized tab's handler: a typed prompt becomes a turntable and a mesh from a trained generator."""

from scoredream.cli import main
from ui.amortized import OBJECTS, AmortizedHandlers, list_generators


def train_tiny_generator(outputs):
    corpus = outputs / "corpus.txt"
    corpus.write_text("a red cube\na blue sphere\n")
    assert main(["amortized", "train", str(corpus), "--output-dir", str(outputs / "amortized"), "--run-name", "gen",
                 "--hyper-ingp.grid.levels", "3", "--hyper-ingp.grid.max-resolution", "32",
                 "--hyper-ingp.grid.dense-max-resolution", "32", "--train.steps", "2", "--train.prompts-per-step",
                 "2", "--train.resolution", "16", "--train.device", "cpu", "--render.num-samples", "12"]) == 0


def test_the_tab_turns_a_typed_prompt_into_a_turntable_and_mesh(tmp_path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    train_tiny_generator(outputs)
    assert list_generators(outputs) == ["amortized/gen"]
    h = AmortizedHandlers(outputs)
    video, mesh, message = h.make("amortized/gen", "a green mug")
    assert video.endswith("turntable.mp4") and mesh.endswith("mesh.glb"), message
    assert "ms from text to field" in message and str(tmp_path) not in message
    video2, _, _ = h.make("amortized/gen", "a green mug")  # a second object of one prompt: its own folder
    assert video2 != video and len(list((outputs / OBJECTS).iterdir())) == 2
    for bad in ("", "a red cube " * 20):
        assert h.make("amortized/gen", bad)[2].startswith("**error:**")
    assert len(list((outputs / OBJECTS).iterdir())) == 2  # a refused prompt writes nothing
    assert "outside the outputs folder" in h.make("../elsewhere", "a red cube")[2]
