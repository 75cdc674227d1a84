"""Prompt corpora: ScaleDreamer's prompt-library JSON ({"train": [...], "val": [...], "test": [...]}, as its
`load/*_prompt_library.json`; MG15, DF415 and the like are public lists a user brings) or plain text, one prompt
a line (blank lines and lines starting with # are skipped; every prompt is a training prompt)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from scoredream.serialization import ConfigError

SPLITS = ("train", "val", "test")


@dataclass
class Corpus:
    train: list[str]
    val: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)

    def split(self, name: str) -> list[str]:
        if name not in SPLITS:
            raise ConfigError(f"unknown corpus split {name!r}; choose one of {list(SPLITS)}")
        return list(getattr(self, name))


def load_corpus(path: str | Path) -> Corpus:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the prompt corpus {path}: {e}") from e
    if path.suffix == ".json":
        corpus = _from_json(text, path)
    else:
        corpus = Corpus(train=[line.strip() for line in text.splitlines()
                               if line.strip() and not line.lstrip().startswith("#")])
    if not corpus.train:
        raise ConfigError(f"the prompt corpus {path} has no training prompts")
    return corpus


def _from_json(text: str, path: Path) -> Corpus:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"{path} is not JSON: {e}") from e
    if not isinstance(data, dict) or set(data) - set(SPLITS):
        raise ConfigError(f"{path} must be a JSON object with keys among {list(SPLITS)} (ScaleDreamer's prompt "
                          "library format)")
    splits = {}
    for name in SPLITS:
        prompts = data.get(name, [])
        if not isinstance(prompts, list) or not all(isinstance(p, str) and p.strip() for p in prompts):
            raise ConfigError(f"{path}: {name!r} must be a list of non-empty prompt strings")
        splits[name] = [p.strip() for p in prompts]
    return Corpus(**splits)
