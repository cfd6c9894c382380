"""The shipped models in a real browser: pages/webmodel/vae_model.js on TensorFlow.js's WebAssembly backend, in
headless Chromium, decodes and encodes what PyTorch does (the files `vae.web.export_web_model` makes)."""

import numpy as np
import pytest
import torch

from bench.webmodel import from_base64, serve, stage_runtime, to_base64
from vae.checkpoint import load_model
from vae.data import load_split
from vae.web import export_web_model
from vae.zoo import SHIPPED

pytestmark = [pytest.mark.slow, pytest.mark.browser]

DECODE = """async ([name, codes, n]) => {
  window.models = window.models || {};
  const m = window.models[name] = await loadModel(name);
  return toBase64(m.decode(fromBase64(codes), n));
}"""
ENCODE = """([name, pixels, n]) => {
  const {mu, logvar} = window.models[name].encode(fromBase64(pixels), n);
  return [toBase64(mu), logvar && toBase64(logvar)];
}"""


@pytest.fixture(scope="module")
def model_page(browser, checkpoints_dir, tmp_path_factory):
    """One page that has loaded the runtime, served with every shipped model's browser files; yields
    (page, list of uncaught page errors)."""
    site = tmp_path_factory.mktemp("site")
    stage_runtime(site)
    for name in SHIPPED:
        export_web_model(checkpoints_dir / name, site / name)
    with serve(site) as url:
        context = browser.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/index.html")
        yield page, errors
        context.close()


@pytest.mark.parametrize("name", SHIPPED)
def test_the_browser_decodes_and_encodes_what_pytorch_does(model_page, checkpoints_dir, data_dir, name):
    page, errors = model_page
    model, card = load_model(checkpoints_dir / name)
    z = model.config.latent_dim
    codes = torch.randn(256, z, generator=torch.Generator().manual_seed(0))
    images = load_split(card["dataset"], False, data_dir).as_float(slice(0, 64))
    with torch.no_grad():
        expected = model.decode(codes).flatten(1).numpy()
        mu, logvar = model.encode(images)

    decoded = from_base64(page.evaluate(DECODE, [name, to_base64(codes), 256])).reshape(256, 784)
    assert np.abs(decoded - expected).max() <= 1 / 255
    got_mu, got_logvar = page.evaluate(ENCODE, [name, to_base64(images), 64])
    assert np.abs(from_base64(got_mu).reshape(64, z) - mu.numpy()).max() <= 1e-3
    if logvar is None:
        assert got_logvar is None
    else:
        assert np.abs(from_base64(got_logvar).reshape(64, z) - logvar.numpy()).max() <= 1e-3
    assert not errors, f"uncaught errors in the page: {errors}"


def test_decoding_keeps_no_memory_and_dispose_frees_the_weights(model_page):
    page, errors = model_page
    counts = page.evaluate("""async () => {
      await startRuntime();
      const before = tf.memory().numTensors;
      const m = await loadModel("mnist-vae-z16");
      const loaded = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) { m.decode(new Float32Array(16 * 3), 3); m.encode(new Float32Array(784), 1); }
      const used = tf.memory().numTensors;
      m.dispose();
      return [before, loaded, used, tf.memory().numTensors];
    }""")
    before, loaded, used, after = counts
    assert loaded > before and used == loaded and after == before
    assert not errors, f"uncaught errors in the page: {errors}"


def test_a_model_that_cannot_be_fetched_fails_with_its_address(model_page):
    page, _ = model_page
    message = page.evaluate("() => loadModel('no-such-model').then(() => 'loaded', (e) => e.message)")
    assert message.endswith("/no-such-model/model.json: HTTP 404")


HOOKS = """async (flag) => {
  const rendered = new Promise((resolve) => {
    component.onRender((args) => { component.count("__probe"); resolve(args.n); }, {__probe: 0, __first: "set"});
  });
  window.postMessage({type: "streamlit:render", args: flag === null ? {n: 1} : {n: 1, test_hooks: flag}}, "*");
  return [await rendered, window.__probe ?? null, window.__first ?? null];
}"""


@pytest.mark.parametrize(("flag", "hooks"), [(None, [None, None]), (False, [None, None]), (True, [1, "set"])])
def test_the_shared_component_script_sets_test_hooks_only_when_the_args_ask_for_them(model_page, flag, hooks):
    page, _ = model_page
    fresh = page.context.new_page()
    try:
        fresh.goto(page.url)
        fresh.add_script_tag(url="component.js")
        rendered, *got = fresh.evaluate(HOOKS, flag)
        assert rendered == 1 and got == hooks
    finally:
        fresh.close()
