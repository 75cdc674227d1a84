"""Load a diffusers text-to-image model (hub id, local folder or the embedded prior) component by component.

Each component named in the folder's model_index.json is loaded with its own class's `from_pretrained`, so Stable
Diffusion, pixel-space models and the embedded prior all go through the same code. Only classes from diffusers
and transformers are accepted, so a model folder cannot make us import arbitrary code.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from scoredream.errors import PriorLoadError

ALLOWED_LIBRARIES = ("diffusers", "transformers")
COMPONENTS = ("unet", "text_encoder", "tokenizer", "scheduler", "vae")
REQUIRED = ("unet", "text_encoder", "tokenizer", "scheduler")
EMBEDDED_PRIORS = {"embedded": "prior", "embedded-camera": "prior_camera"}
"""The text priors shipped in assets/, by name: the view-prompted one (2D sampling, the one-step student's
teacher) and the camera-conditioned one (3D generation's default; `scoredream.priors.camera_labels`)."""


def is_embedded(model: str) -> bool:
    return model in EMBEDDED_PRIORS


def assets_dir() -> Path:
    env = os.environ.get("SCOREDREAM_ASSETS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "assets"


def resolve_model_folder(
    model: str,
    revision: str | None = None,
    local_files_only: bool = False,
    embedded: str = "prior",
    components: tuple[str, ...] = COMPONENTS,
) -> Path:
    """`embedded` names the folder under assets/ that "embedded" means (its training command is in the folder's
    TRAINING.md), and `EMBEDDED_PRIORS` the other shipped priors; `components` are the subfolders a hub download
    fetches."""
    if model == "embedded" or (embedded == "prior" and is_embedded(model)):
        name = embedded if model == "embedded" else EMBEDDED_PRIORS[model]
        folder = assets_dir() / name
        if not (folder / "model_index.json").exists():
            label = f"embedded {name.replace('_', '-')}" if model == "embedded" else model
            raise PriorLoadError(
                f"the {label} prior is missing from {folder}; restore assets/ from the repository or retrain it as "
                f"assets/{name}/TRAINING.md says"
            )
        return folder
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "model_index.json").exists():
            raise PriorLoadError(f"{path} is not a diffusers model folder (no model_index.json in it)")
        return path
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise PriorLoadError(f"no model folder at {path}")
    return _download(model, revision, local_files_only, components)


def _download(repo_id: str, revision: str | None, local_files_only: bool, components: tuple[str, ...]) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    patterns = ["model_index.json", *(f"{c}/*.json" for c in components), *(f"{c}/*.txt" for c in components)]
    patterns += [f"{c}/*.safetensors" for c in components] + ["tokenizer/*.model"]
    try:
        return Path(
            snapshot_download(repo_id, revision=revision, allow_patterns=patterns, local_files_only=local_files_only)
        )
    except (RepositoryNotFoundError, GatedRepoError) as e:
        raise PriorLoadError(
            f"'{repo_id}' is not on the Hugging Face hub or needs a login ({type(e).__name__}). Stable Diffusion 2.1 "
            "repos were removed from the hub in 2025; pass another model id or a local folder."
        ) from e
    except RevisionNotFoundError as e:
        raise PriorLoadError(f"'{repo_id}' has no revision '{revision}'") from e
    except LocalEntryNotFoundError as e:
        raise PriorLoadError(
            f"'{repo_id}' is not in the local Hugging Face cache and no model hub is reachable from this machine. "
            "Download it where the hub is reachable and pass the folder, or use --prior.model embedded."
        ) from e
    except OSError as e:  # connection errors surface as OSError subclasses in huggingface_hub
        raise PriorLoadError(f"could not download '{repo_id}': {e}. Is the model hub reachable?") from e


def read_model_index(folder: Path) -> dict:
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError) as e:
        raise PriorLoadError(f"cannot read {folder / 'model_index.json'}: {e}") from e
    if not isinstance(index, dict):
        raise PriorLoadError(f"{folder / 'model_index.json'} is not a JSON object")
    return index


def listed(index: dict, name: str) -> bool:
    entry = index.get(name)
    return isinstance(entry, list) and len(entry) == 2 and entry[0] is not None


def load_components(
    folder: Path,
    dtype: object = None,
    components: tuple[str, ...] = COMPONENTS,
    required: tuple[str, ...] = REQUIRED,
    kind: str = "a text-conditioned UNet model",
) -> dict[str, object]:
    """Each of `components` that model_index.json lists, by its own class's from_pretrained; `required` ones must
    be listed (the error says scoredream needs `kind`)."""
    index = read_model_index(folder)
    missing = [c for c in required if not listed(index, c)]
    if missing:
        raise PriorLoadError(f"{folder} lacks {', '.join(missing)}: scoredream needs {kind}")
    loaded: dict[str, object] = {}
    for name in components:
        if not listed(index, name):
            continue
        library, class_name = index[name]
        if library not in ALLOWED_LIBRARIES:
            raise PriorLoadError(f"{name} comes from '{library}'; only {ALLOWED_LIBRARIES} are loaded")
        cls = getattr(importlib.import_module(library), class_name, None)
        if cls is None:
            raise PriorLoadError(f"{library} has no class {class_name} (needed for {name}); upgrade {library}?")
        plain = name in ("tokenizer", "scheduler", "feature_extractor") or dtype is None
        kwargs = {} if plain else {"torch_dtype": dtype}
        try:
            loaded[name] = cls.from_pretrained(folder / name, **kwargs)
        except Exception as e:  # from_pretrained raises many types; all mean the same to the user
            raise PriorLoadError(f"could not load {name} ({class_name}) from {folder / name}: {e}") from e
    return loaded
