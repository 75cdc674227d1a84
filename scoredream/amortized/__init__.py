"""Amortized text-to-3D (ATT3D, ScaleDreamer): one text-conditioned generator for a whole prompt corpus, trained
by score distillation (data-parallel under torchrun); any prompt, seen or not, becomes a field in one forward pass.

    generators  text embedding -> an ordinary field (Hyper-iNGP: shared grid + generated head; triplane generator)
    generated   the generated field, and its baking into the ordinary architecture (a run folder's checkpoint)
    corpus      prompt libraries (ScaleDreamer's train/val/test JSON, or text)
    train       the training loop (DDP), checkpoint: the generator's checkpoint, sample: objects into run folders
"""
