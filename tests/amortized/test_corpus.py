import json

import pytest

from scoredream.amortized.corpus import load_corpus
from scoredream.serialization import ConfigError
from scoredream.world.shapes import COLOUR_NAMES, SHAPE_NAMES, all_prompts, parse_prompt


def test_shipped_shapes_world_corpus_holds_out_unseen_combinations():
    corpus = load_corpus("assets/corpora/shapes_world.json")
    assert len(corpus.train) == 40 and len(corpus.test) == 8
    assert sorted(corpus.train + corpus.test) == sorted(all_prompts())
    seen = [parse_prompt(p) for p in corpus.train]
    assert {c for c, _ in seen} == set(COLOUR_NAMES) and {s for _, s in seen} == set(SHAPE_NAMES)
    assert not set(corpus.test) & set(corpus.train)


def test_text_and_prompt_library_formats(tmp_path):
    text = tmp_path / "prompts.txt"
    text.write_text("# my prompts\na red cube\n\n  a blue sphere  \n")
    assert load_corpus(text).train == ["a red cube", "a blue sphere"]
    library = tmp_path / "library.json"
    library.write_text(json.dumps({"train": ["a red cube"], "val": ["a blue cube"], "test": ["a green cube"]}))
    corpus = load_corpus(library)
    assert corpus.split("val") == ["a blue cube"] and corpus.split("test") == ["a green cube"]
    with pytest.raises(ConfigError, match="unknown corpus split"):
        corpus.split("dev")


@pytest.mark.parametrize("content", ['{"train": "a red cube"}', '{"training": ["a"]}', "[1, 2]", "{not json",
                                     '{"train": []}', '{"train": ["a red cube", ""]}'])
def test_bad_corpora_are_refused(tmp_path, content):
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ConfigError):
        load_corpus(path)


def test_missing_and_empty_text_corpora_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_corpus(tmp_path / "none.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(ConfigError, match="no training prompts"):
        load_corpus(tmp_path / "empty.txt")
