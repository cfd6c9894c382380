"""Which runtime runs the models in the browser. `python -m bench.browser_runtime [--rounds 3] [--json FILE]`.

Headless Chromium loads a bare page with TensorFlow.js and one backend: WebAssembly (what pages/webmodel ships),
plain JavaScript (cpu) or WebGL, each round in a fresh browser context (empty cache), candidates interleaved.
For each: the runtime's bytes as transferred (served uncompressed, as Streamlit serves component files), the
time from navigation to a started runtime, and for the MLP (mnist-vae-z2) and conv (mnist-vae-z16) models: load
time, first decode, decode at batch 1 and 225, encode at batch 1 (medians, in the page's own clock), and the
largest difference from PyTorch. ONNX Runtime Web is measured by size only (its npm package's files).
The models are exported into a temporary folder; checkpoints/ is only read. Method and results:
bench/browser_runtime.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench.server import launch_chromium
from bench.webmodel import ROOT, from_base64, serve, stage_runtime, to_base64, write_page
from scripts.vendor_js import TFJS, npm_pack
from vae.checkpoint import CARD, WEIGHTS, load_model
from vae.data import load_split
from vae.web import export_web_model

MODELS = {"mnist-vae-z2": "MLP 768-384, z = 2", "mnist-vae-z16": "conv 32-64, z = 16"}
OTHER_BACKENDS = {  # backend: (npm package, its browser script), fetched at the pinned TensorFlow.js version
    "cpu": ("@tensorflow/tfjs-backend-cpu", "dist/tf-backend-cpu.es2017.min.js"),
    "webgl": ("@tensorflow/tfjs-backend-webgl", "dist/tf-backend-webgl.es2017.min.js"),
}
ORT = (
    "onnxruntime-web",
    "1.30.0",
    ("dist/ort.wasm.min.js", "dist/ort-wasm-simd-threaded.mjs", "dist/ort-wasm-simd-threaded.wasm"),
)
BATCH = 225  # the manifold overlay's 15 x 15 tiles

# In the page: start the runtime, then per model load it, decode and encode, timing in blocks of calls (the
# page's clock is coarse) until a budget is spent; medians of the blocks' per-call means.
MEASURE = """async ([backend, models, codes, images, budget]) => {
  const timeCalls = (fn) => {
    const t0 = performance.now(); fn(); const once = Math.max(performance.now() - t0, 0.01);
    const k = Math.max(1, Math.ceil(5 / once)), blocks = [];
    const end = performance.now() + budget;
    while (blocks.length < 5 || (performance.now() < end && blocks.length < 50)) {
      const s = performance.now();
      for (let i = 0; i < k; i++) fn();
      blocks.push((performance.now() - s) / k);
    }
    blocks.sort((a, b) => a - b);
    return blocks[blocks.length >> 1];
  };
  const start = performance.now();
  await startRuntime(backend);
  const nav = performance.getEntriesByType("navigation")[0];
  const result = {ready_ms: performance.now(), loaded_ms: nav.loadEventEnd, start_ms: performance.now() - start,
                  models: {}};
  for (const name of models) {
    const t0 = performance.now();
    const m = await loadModel(name, {backend});
    const load = performance.now() - t0;
    const many = fromBase64(codes[name]), pixels = fromBase64(images), one = many.slice(0, m.latentDim);
    const t1 = performance.now(); m.decode(one, 1); const first = performance.now() - t1;
    const image = pixels.slice(0, 784);
    result.models[name] = {
      load_ms: load, first_decode_ms: first,
      decode1_ms: timeCalls(() => m.decode(one, 1)),
      decode225_ms: timeCalls(() => m.decode(many, many.length / m.latentDim)),
      encode1_ms: timeCalls(() => m.encode(image, 1)),
      decoded: toBase64(m.decode(many, many.length / m.latentDim)),
      mu: toBase64(m.encode(pixels, pixels.length / 784).mu),
    };
  }
  result.resources = performance.getEntriesByType("resource").map(
    (e) => [new URL(e.name).pathname, e.encodedBodySize, e.transferSize]);
  return result;
}"""


# In the wasm page: the conv decoder's two transposed convolutions at batch BATCH (ReLU), as TensorFlow.js's
# conv2dTranspose and as vae_model.js runs them (an ordinary convolution per output phase, or one for all phases
# with zeros in the unused taps; the phases then interleaved). Random weights; medians of 10 calls each.
TRANSPOSED = """([n]) => {
  const time = (fn) => {
    tf.tidy(fn);
    const t = [];
    for (let i = 0; i < 10; i++) { const s = performance.now(); tf.tidy(fn); t.push(performance.now() - s); }
    return t.sort((a, b) => a - b)[5];
  };
  const interleave = (y, h, w, c) => tf.reshape(tf.transpose(tf.reshape(y, [n * h, w, 2, 2 * c]), [0, 2, 1, 3]),
                                                [n, 2 * h, 2 * w, c]);
  const pads = [[1, 0, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 0, 1]]
    .map(([top, bottom, left, right]) => [[0, 0], [top, bottom], [left, right], [0, 0]]);
  const result = {};
  for (const [h, cin, cout] of [[7, 64, 32], [14, 32, 1]]) {
    const x = tf.randomNormal([n, h, h, cin]), b = tf.randomNormal([cout]);
    const k4 = tf.randomNormal([4, 4, cout, cin]), k2 = tf.randomNormal([2, 2, cin, cout]);
    const k3 = tf.randomNormal([3, 3, cin, 4 * cout]), b4 = tf.tile(b, [4]);
    result[`${h}x${h}x${cin} -> ${2 * h}x${2 * h}x${cout}`] = {
      conv2dTranspose: time(() => tf.relu(tf.add(tf.conv2dTranspose(x, k4, [n, 2 * h, 2 * h, cout], 2, 1), b))),
      per_phase: time(() => interleave(tf.concat(pads.map((pad) =>
        tf.fused.conv2d({x, filter: k2, strides: 1, pad, bias: b, activation: "relu"})), 3), h, h, cout)),
      all_phases: time(() => interleave(
        tf.fused.conv2d({x, filter: k3, strides: 1, pad: 1, bias: b4, activation: "relu"}), h, h, cout)),
    };
  }
  return result;
}"""


def stage(site: Path) -> dict[str, tuple[str, ...]]:
    """Runtime files, one page per candidate and the exported models in `site`; returns each candidate's scripts."""
    stage_runtime(site)
    pages = {"wasm": ("tf-core.es2017.min.js", "tf-backend-wasm.es2017.min.js", "vae_model.js")}
    for backend, (package, file) in OTHER_BACKENDS.items():
        name = Path(file).name
        (site / name).write_bytes(npm_pack(package, TFJS, [file])[file])
        pages[backend] = ("tf-core.es2017.min.js", name, "vae_model.js")
    for backend, scripts in pages.items():
        write_page(site, f"{backend}.html", scripts)
    for name in MODELS:
        copy = site / "checkpoints" / name
        copy.mkdir(parents=True)
        for f in (WEIGHTS, CARD):
            shutil.copy(ROOT / "checkpoints" / name / f, copy / f)
        export_web_model(copy, site / name)
    return pages


def references(seed: int = 0) -> tuple[dict[str, str], dict, str]:
    """For each model: BATCH random codes, PyTorch's decode of them and its encode of the first 64 MNIST test images
    (the codes and images as base64 float32, as the page reads them)."""
    pixels = load_split("mnist", False).as_float(slice(0, 64))
    codes, expected = {}, {}
    for name in MODELS:
        model, _ = load_model(ROOT / "checkpoints" / name)
        z = torch.randn(BATCH, model.config.latent_dim, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            expected[name] = (model.decode(z).flatten(1).numpy(), model.encode(pixels)[0].numpy())
        codes[name] = to_base64(z)
    return codes, expected, to_base64(pixels)


def ort_sizes() -> dict[str, tuple[int, int]]:
    """ONNX Runtime Web's files for a WebAssembly-only page: (raw bytes, gzip bytes) each."""
    package, version, files = ORT
    found = npm_pack(package, version, list(files))
    return {f: (len(data), len(gzip.compress(data, 9))) for f, data in found.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh page loads per candidate, interleaved")
    parser.add_argument("--budget-ms", type=float, default=1500, help="time spent on each timed call, per round")
    parser.add_argument("--backends", nargs="+", default=["wasm", *OTHER_BACKENDS], help="TensorFlow.js backends")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    codes, expected, pixels = references()
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp)) as url, sync_playwright() as p:
        site = Path(tmp)
        pages = stage(site)
        browser = launch_chromium(p)
        for _ in range(args.rounds):
            for backend in args.backends:
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{url}/{backend}.html")
                try:
                    result = page.evaluate(MEASURE, [backend, list(MODELS), codes, pixels, args.budget_ms])
                    if backend == "wasm":
                        result["transposed"] = page.evaluate(TRANSPOSED, [BATCH])
                except Exception as err:  # e.g. no WebGL in this browser
                    result = {"error": str(err).splitlines()[0]}
                context.close()
                runs.setdefault(backend, []).append(result)
        browser.close()
        runtime_files = {s for scripts in pages.values() for s in scripts} | {p.name for p in site.glob("*.wasm")}
        sizes = {f: (site / f).stat().st_size for f in runtime_files}
    report = summarize(runs, expected, sizes)
    report["onnxruntime-web"] = ort_sizes()
    print_report(report)
    if args.json:
        for result in (r for rs in runs.values() for r in rs):
            for m in result.get("models", {}).values():
                del m["decoded"], m["mu"]  # the raw outputs: compared above, too long to keep
        args.json.write_text(json.dumps({"report": report, "runs": runs}, indent=1))


def summarize(runs: dict[str, list[dict]], expected: dict, sizes: dict[str, int]) -> dict:
    """Medians over rounds, the runtime's transferred bytes by file, the largest differences from PyTorch."""
    report = {}
    for backend, results in runs.items():
        ok = [r for r in results if "error" not in r]
        if not ok:
            report[backend] = {"error": results[0]["error"]}
            continue
        transferred = {}
        for path, encoded, _ in ok[0]["resources"]:
            name = path.rsplit("/", 1)[-1]
            if name in sizes:
                transferred[name] = encoded
        entry = {"runtime_bytes": transferred}
        entry |= {k: statistics.median(r[k] for r in ok) for k in ("loaded_ms", "start_ms", "ready_ms")}
        for name, (decoded, mu) in expected.items():
            m = [r["models"][name] for r in ok]
            keys = ("load_ms", "first_decode_ms", "decode1_ms", "decode225_ms", "encode1_ms")
            entry[name] = {k: statistics.median(x[k] for x in m) for k in keys}
            entry[name]["decode_max_diff"] = float(
                np.abs(from_base64(m[0]["decoded"]).reshape(decoded.shape) - decoded).max()
            )
            entry[name]["mu_max_diff"] = float(np.abs(from_base64(m[0]["mu"]).reshape(mu.shape) - mu).max())
        if backend == "wasm":
            entry["transposed"] = {
                shape: {way: statistics.median(r["transposed"][shape][way] for r in ok) for way in ways}
                for shape, ways in ok[0]["transposed"].items()
            }
        report[backend] = entry
    return report


def print_report(report: dict) -> None:
    print("runtime bytes (as transferred, uncompressed); navigation to load event, then the backend's start:")
    for backend, entry in report.items():
        if backend == "onnxruntime-web":
            total = sum(raw for raw, _ in entry.values())
            gz = sum(g for _, g in entry.values())
            print(f"  onnxruntime-web  {total / 1e6:.2f} MB ({gz / 1e6:.2f} MB gzipped), size only: {', '.join(entry)}")
        elif "error" in entry:
            print(f"  tfjs-{backend:10s} failed: {entry['error']}")
        else:
            total = sum(entry["runtime_bytes"].values())
            print(
                f"  tfjs-{backend:10s} {total / 1e6:.2f} MB: page loaded after {entry['loaded_ms']:.0f} ms, "
                f"backend started in {entry['start_ms']:.0f} ms"
            )
    print(
        f"\n{'backend':8s} {'model':14s} {'load':>7s} {'first':>7s} {'dec 1':>7s} {'dec 225':>8s} {'enc 1':>7s}"
        f" {'|dec-torch|':>11s} {'|mu-torch|':>10s}   (ms)"
    )
    for backend, entry in report.items():
        if backend == "onnxruntime-web" or "error" in entry:
            continue
        for name in MODELS:
            e = entry[name]
            print(
                f"{backend:8s} {name:14s} {e['load_ms']:7.1f} {e['first_decode_ms']:7.2f} {e['decode1_ms']:7.3f}"
                f" {e['decode225_ms']:8.2f} {e['encode1_ms']:7.3f} {e['decode_max_diff']:11.2e}"
                f" {e['mu_max_diff']:10.2e}"
            )
    if "transposed" in report.get("wasm", {}):
        print(f"\nwasm: the conv decoder's transposed convolutions at batch {BATCH}, ReLU (ms)")
        for shape, ways in report["wasm"]["transposed"].items():
            print(f"  {shape:24s} " + "  ".join(f"{way} {ms:.1f}" for way, ms in ways.items()))


if __name__ == "__main__":
    main()
