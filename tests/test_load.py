"""Concurrent users: the shared, cached models are safe to use at once, and no session sees another's image."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bench.app_client import AppClient
from bench.load import TOLERANCE, run_load, summary
from bench.server import start_app, stop_app
from pages.ui.picker import PICK_DATASET
from vae import anomaly, latent
from vae.checkpoint import load_atlas, load_model

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


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_twenty_sessions_each_get_their_own_images(app_url, checkpoints_dir, data_dir):
    """20 websocket sessions at once, each 25 slider moves on /map and 25 uploads on /image, on 4 shared models."""
    reports, wall = run_load(app_url, checkpoints_dir, str(data_dir), SESSIONS, INTERACTIONS, timeout=180)
    problems = [f"session {r.index} ({r.model}): {m}" for r in reports for m in r.problems]
    assert not problems, "\n".join(problems[:20])
    for r in reports:
        pages = [x.page for x in r.interactions]
        assert pages.count("map") == INTERACTIONS and pages.count("image") == INTERACTIONS, (r.index, r.model)
    done = [x for r in reports for x in r.interactions]
    worst = max(done, key=lambda x: x.error)
    assert worst.error <= TOLERANCE, f"an image differs from the session's own by {worst.error:.1f} grey levels"
    # The check can tell images apart: a stale or foreign image would differ far more than the tolerance.
    assert np.median([x.foil for x in done]) > 3 * TOLERANCE
    print(f"\n{SESSIONS} sessions x {INTERACTIONS} interactions per page in {wall:.1f} s")
    for row in summary(reports):
        print(
            f"  {row['page']:<7} {row['latency']:<16} median {row['median_ms']:7.0f} ms  "
            f"p95 {row['p95_ms']:7.0f} ms  max {row['max_ms']:7.0f} ms"
        )


@pytest.mark.slow
def test_concurrent_first_visits_to_a_fresh_server_all_get_the_app(checkpoints_dir):
    """Users arriving together at a just-started server each get the whole app (sidebar picker included)."""
    proc, url = start_app({"VAE_CHECKPOINTS": str(checkpoints_dir)})
    try:
        clients = [AppClient(url) for _ in range(6)]
        start = threading.Barrier(len(clients))
        got: dict[int, tuple[bool, list[str]]] = {}

        def visit(i: int) -> None:
            start.wait()
            run = clients[i].open("map")
            got[i] = (PICK_DATASET in clients[i].widgets, run.errors())

        threads = [threading.Thread(target=visit, args=(i,)) for i in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        for c in clients:
            c.close()
    finally:
        stop_app(proc)
    assert len(got) == len(clients)
    assert all(not errors for _, errors in got.values()), got
    without = [i for i, (picker, _) in got.items() if not picker]
    assert not without, f"{len(without)} of {len(clients)} first visitors got /map without the sidebar's model picker"


def test_a_server_that_does_not_answer_in_time_is_stopped_and_named():
    with pytest.raises(RuntimeError, match="did not answer on http://127.0.0.1:"):  # not a ValueError from the log
        start_app(timeout=0.001)  # far too short for any start
