"""Concurrent users: the shared, cached models are safe to use at once, and no session sees another's image."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np

from vae import anomaly, latent
from vae.checkpoint import load_atlas, load_model

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is a folder of scripts, not an installed package
    sys.path.insert(0, str(ROOT))


SESSIONS, INTERACTIONS = 20, 25  # issue 5: 20 sessions, each 25 interactions on /map and 25 on /image


def test_one_model_decodes_and_encodes_correctly_from_many_threads(checkpoints_dir, data_dir):
    """The app shares one model object across sessions: concurrent calls must give each caller its own answer."""
    from vae.data import load_split

    folder = checkpoints_dir / "mnist-vae-z16"
    model, _ = load_model(folder)
    fit = anomaly.complexity_fit(load_atlas(folder))
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((16, 8, model.config.latent_dim)).astype(np.float32)  # 16 threads x 8 calls
    pixels = load_split("mnist", train=False, root=data_dir).images.numpy()[: 16 * 8].reshape(16, 8, 28, 28)
    alone_decoded = latent.decode(model, codes)
    alone_read = [[anomaly.read_image(model, p, fit).reconstruction for p in row] for row in pixels]
    together_decoded = np.zeros_like(alone_decoded)
    together_read = np.zeros((16, 8, 28, 28), np.float32)
    start = threading.Barrier(16)

    def work(t: int) -> None:
        start.wait()
        for i in range(8):
            together_decoded[t, i] = latent.decode(model, codes[t, i][None])[0]
            together_read[t, i] = anomaly.read_image(model, pixels[t, i], fit).reconstruction

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    np.testing.assert_allclose(together_decoded, alone_decoded, atol=1e-5)
    np.testing.assert_allclose(together_read, np.array(alone_read), atol=1e-5)
    assert np.abs(np.diff(together_decoded.reshape(-1, 784), axis=0)).mean() > 0.01  # the answers differ
