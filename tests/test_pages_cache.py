"""The caches the pages share across sessions are bounded: a server that opens many models keeps the latest."""

from __future__ import annotations

import shutil

from pages.ui import cached
from vae.checkpoint import ATLAS, CARD, WEIGHTS


def test_the_shared_model_cache_keeps_the_most_recent_models_only(checkpoints_dir, tmp_path, monkeypatch):
    folders = []
    for i in range(cached.MODELS_KEPT + 4):
        folder = tmp_path / f"run-{i}"
        folder.mkdir()
        for name in (WEIGHTS, CARD, ATLAS):
            shutil.copy(checkpoints_dir / "mnist-vae-z2" / name, folder / name)
        folders.append(str(folder))
    loads = []
    real = cached.load_model
    monkeypatch.setattr(cached, "load_model", lambda folder: loads.append(folder) or real(folder))
    cached.cached_model.clear()
    for folder in folders:
        cached.cached_model(folder)
    cached.cached_model(folders[-1])
    assert loads == folders  # the latest is still held
    cached.cached_model(folders[0])
    assert loads == [*folders, folders[0]]  # the first was let go
    cached.cached_model.clear()
