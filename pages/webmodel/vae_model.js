// A checkpoint's encoder and decoder in the browser: runs the graphs that vae/web.py exports, with TensorFlow.js
// (tf-core.es2017.min.js and tf-backend-wasm.es2017.min.js, loaded before this script; their .wasm files lie
// beside it). bench/browser_runtime.md says why this runtime.
//
//   const m = await loadModel("URL of a checkpoint's web/ folder");   // or loadModel(url, {parts: ["decoder"]})
//   m.decode(codes, n)   codes: Float32Array (n * z)        -> Float32Array (n * 784) pixel probabilities
//   m.encode(pixels, n)  pixels: Float32Array (n * 784), 0..1 -> {mu, logvar}: Float32Array (n * z) each
//                                                                 (logvar null for an autoencoder)
//   m.kind ("vae" or "ae"), m.latentDim, m.dispose() (frees the weights)
// Images are rows of 28 * 28 pixels, as PyTorch's (n, 1, 28, 28). decode and encode are synchronous.
// startRuntime() starts the WebAssembly runtime alone (loadModel does it too), to overlap it with other work.
"use strict";

(() => {
  const scriptUrl = document.currentScript.src;
  const backends = {};

  // Starts a TensorFlow.js backend once: "wasm" (the default and the one we ship), or "cpu" / "webgl" where
  // their scripts are loaded too (the benchmark compares them). loadModel calls it; a page may call it earlier.
  function startRuntime(name = "wasm") {
    if (!backends[name]) {
      if (name === "wasm") {
        tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false); // threads need cross-origin isolation; not shipped
        tf.wasm.setWasmPaths(new URL(".", scriptUrl).href);
      }
      backends[name] = tf.setBackend(name).then((ok) => {
        if (!ok) throw new Error(`TensorFlow.js could not start its ${name} backend`);
      });
    }
    return backends[name];
  }

  const HALF = new Float32Array(65536); // every float16 bit pattern's value
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1,
      exp = (h >> 10) & 0x1f,
      frac = h & 0x3ff;
    HALF[h] =
      exp === 0
        ? sign * frac * 2 ** -24
        : exp === 31
          ? frac
            ? NaN
            : sign * Infinity
          : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }

  async function fetchOk(url, init) {
    const response = await fetch(url, init);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response;
  }

  // The tensors of a safetensors file (float16 or float32) as {name: {shape, values: Float32Array}}.
  async function readSafetensors(url) {
    const buffer = await (await fetchOk(url)).arrayBuffer();
    const headerLength = Number(new DataView(buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, headerLength)));
    const tensors = {};
    for (const [name, info] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const [begin, end] = info.data_offsets.map((o) => o + 8 + headerLength);
      let values;
      if (info.dtype === "F16") {
        const bits = new Uint16Array(buffer.slice(begin, end));
        values = new Float32Array(bits.length);
        for (let j = 0; j < bits.length; j++) values[j] = HALF[bits[j]];
      } else if (info.dtype === "F32") {
        values = new Float32Array(buffer.slice(begin, end));
      } else {
        throw new Error(`${url}: ${name} is ${info.dtype}; float16 or float32 expected`);
      }
      tensors[name] = { shape: info.shape, values };
    }
    return tensors;
  }

  // Activations run as (n, features) or, for images, (n, height, width, channels): TensorFlow.js's layout.
  // PyTorch's channels-first order matters only where a reshape crosses between the two, and at the ends.
  const toTorch = (x) => (x.rank === 4 ? tf.transpose(x, [0, 3, 1, 2]) : x);
  const fromTorch = (x) => (x.rank === 4 ? tf.transpose(x, [0, 2, 3, 1]) : x);
  const ACTIVATIONS = new Set(["relu", "elu", "sigmoid"]); // TensorFlow.js's names too

  // The taps of a transposed convolution (kernel k, stride s, padding p) along one axis that reach output phase r,
  // the outputs s i + r: tap kk adds the input pixel i + offset (PyTorch: output = s * input - p + kk).
  function phaseTaps(k, s, p, r) {
    const taps = [];
    for (let kk = (r + p) % s; kk < k; kk += s) taps.push({ kk, offset: (r + p - kk) / s });
    return taps;
  }

  // One convolution that computes the phases `group` ([[rh, rw], ...]) of a transposed convolution at once, side by
  // side in its output channels, each from its own taps (zeros elsewhere in the window).
  // w: PyTorch's weight {shape: (in, out, kh, kw), values}.
  function phaseConv(w, [sh, sw], [ph, pw], group) {
    const [cin, cout, kh, kw] = w.shape,
      width = group.length * cout;
    const tapsH = group.map(([rh]) => phaseTaps(kh, sh, ph, rh));
    const tapsW = group.map(([, rw]) => phaseTaps(kw, sw, pw, rw));
    const span = (taps) => {
      const offsets = taps.flat().map((t) => t.offset);
      return [Math.min(...offsets), Math.max(...offsets)];
    };
    const [h0, h1] = span(tapsH),
      [w0, w1] = span(tapsW),
      uh = h1 - h0 + 1,
      uw = w1 - w0 + 1;
    const filter = new Float32Array(uh * uw * cin * width); // (uh, uw, in, width): TensorFlow.js's layout
    group.forEach((_, j) => {
      for (const th of tapsH[j]) {
        for (const tw of tapsW[j]) {
          for (let ci = 0; ci < cin; ci++) {
            for (let co = 0; co < cout; co++) {
              const at = (((th.offset - h0) * uw + tw.offset - w0) * cin + ci) * width + j * cout + co;
              filter[at] = w.values[((ci * cout + co) * kh + th.kk) * kw + tw.kk];
            }
          }
        }
      }
    });
    return {
      filter: tf.tensor(filter, [uh, uw, cin, width]),
      pad: [
        [0, 0],
        [-h0, h1],
        [-w0, w1],
        [0, 0],
      ],
    };
  }

  // A transposed convolution whose kernel is stride + 2 * padding (vae/web.py checks it), an upsampling by the
  // stride, as ordinary convolutions: one per output phase (each output pixel gets only its own taps), or one for
  // all phases when a phase has few channels (XNNPACK is slow for those), then the phases interleaved.
  // TensorFlow.js's own conv2dTranspose is several times slower on WebAssembly (bench/browser_runtime.md).
  function convTranspose(layer, w, b, activation, keep) {
    const [sh, sw] = layer.stride,
      [c, h, wd] = layer.shape,
      phases = [];
    for (let rh = 0; rh < sh; rh++) for (let rw = 0; rw < sw; rw++) phases.push([rh, rw]);
    const groups = c >= 8 ? phases.map((phase) => [phase]) : [phases];
    const convs = groups.map((group) => {
      const { filter, pad } = phaseConv(w, layer.stride, layer.padding, group);
      return { filter: keep(filter), pad, bias: b && keep(tf.tile(b, [group.length])) };
    });
    return (x, n) => {
      const ys = convs.map(({ filter, pad, bias }) =>
        tf.fused.conv2d({ x, filter, strides: 1, pad, bias, activation }),
      );
      const y = ys.length === 1 ? ys[0] : tf.concat(ys, 3); // (n, h / sh, w / sw, sh * sw * c), phase by phase
      return tf.reshape(tf.transpose(tf.reshape(y, [(n * h) / sh, wd / sw, sh, sw * c]), [0, 2, 1, 3]), [n, h, wd, c]);
    };
  }

  // The graph's layers as functions of (activations, batch size). Run it inside tf.tidy: the weights it passes to
  // `keep` (TensorFlow.js tensors) outlive it, everything else it makes is freed.
  function buildSteps(net, tensors, url, keep) {
    const values = (name) => {
      if (!tensors[name]) throw new Error(`${url}: no tensor ${name}`);
      return tensors[name];
    };
    const tensor = (name) => tf.tensor(values(name).values, values(name).shape);
    const weight = (name, permutation) => keep(tf.transpose(tensor(name), permutation));
    const bias = (name) => (name === null ? null : keep(tensor(name)));
    const steps = [];
    const layers = net.layers;
    for (let i = 0; i < layers.length; i++) {
      const layer = layers[i],
        next = layers[i + 1];
      // an activation right after a linear or convolution layer runs fused into it
      const fused = next && ACTIVATIONS.has(next.op) && ["linear", "conv2d", "conv_transpose2d"].includes(layer.op);
      const activation = fused ? next.op : "linear";
      if (fused) i++;
      if (layer.op === "linear") {
        const w = weight(layer.weight, [1, 0]),
          b = bias(layer.bias); // (in, out)
        steps.push((x) => tf.fused.matMul({ a: x, b: w, bias: b, activation }));
      } else if (layer.op === "conv2d") {
        const w = weight(layer.weight, [2, 3, 1, 0]),
          b = bias(layer.bias); // (kh, kw, in, out)
        const [ph, pw] = layer.padding;
        const pad = [
          [0, 0],
          [ph, ph],
          [pw, pw],
          [0, 0],
        ];
        steps.push((x) => tf.fused.conv2d({ x, filter: w, strides: layer.stride, pad, bias: b, activation }));
      } else if (layer.op === "conv_transpose2d") {
        const b = layer.bias === null ? null : tensor(layer.bias);
        steps.push(convTranspose(layer, values(layer.weight), b, activation, keep));
      } else if (ACTIVATIONS.has(layer.op)) {
        steps.push((x) => tf[layer.op](x));
      } else if (layer.op === "reshape") {
        steps.push((x, n) => fromTorch(tf.reshape(toTorch(x), [n, ...layer.shape])));
      } else {
        throw new Error(`${url}: unknown layer ${layer.op}; this page's vae_model.js is older than the model`);
      }
    }
    return steps;
  }

  // Runs a graph on n rows of `input` (PyTorch's order); returns a Float32Array of n rows in PyTorch's order.
  function run(net, steps, input, n) {
    const size = net.input.reduce((a, b) => a * b, 1);
    if (input.length !== n * size) throw new Error(`expected ${n} x ${size} numbers, got ${input.length}`);
    const y = tf.tidy(() => {
      let x = fromTorch(tf.tensor(input, [n, ...net.input]));
      for (const step of steps) x = step(x, n);
      return tf.reshape(toTorch(x), [n, -1]);
    });
    const values = y.dataSync();
    y.dispose();
    return values;
  }

  // Loads the graph and weights of a checkpoint's web/ folder (URL, with or without a trailing slash).
  async function loadModel(url, { parts = ["encoder", "decoder"], backend = "wasm" } = {}) {
    const base = new URL(url.endsWith("/") ? url : `${url}/`, document.baseURI);
    const [graph] = await Promise.all([
      fetchOk(new URL("model.json", base), { cache: "no-cache" }).then((r) => r.json()),
      startRuntime(backend),
    ]);
    if (graph.format !== 1) throw new Error(`${base}model.json has format ${graph.format}; this page reads 1`);
    const steps = {},
      held = [];
    const keep = (t) => {
      held.push(tf.keep(t));
      return t;
    };
    const dispose = () => {
      for (const t of held) t.dispose();
      held.length = 0;
    };
    try {
      await Promise.all(
        parts.map(async (part) => {
          const net = graph[part];
          // the file's hash in the URL: a browser cache never serves weights of an earlier model
          const weightsUrl = new URL(`${net.weights}?v=${net.sha256.slice(0, 16)}`, base);
          const tensors = await readSafetensors(weightsUrl);
          tf.tidy(() => {
            steps[part] = buildSteps(net, tensors, weightsUrl, keep);
          });
          // one run now: XNNPACK packs the weights on first use, which should not delay the first real call
          run(net, steps[part], new Float32Array(net.input.reduce((a, b) => a * b, 1)), 1);
        }),
      );
    } catch (error) {
      dispose();
      throw error;
    }
    const need = (part) => {
      if (!steps[part]) throw new Error(`the ${part} was not loaded; pass parts: [..., "${part}"] to loadModel`);
      return steps[part];
    };
    const z = graph.latent_dim;
    return {
      kind: graph.kind,
      latentDim: z,
      dispose, // frees the weights (TensorFlow.js keeps them in WebAssembly memory, outside the garbage collector)
      decode(codes, n) {
        return run(graph.decoder, need("decoder"), codes, n);
      },
      encode(pixels, n) {
        const out = run(graph.encoder, need("encoder"), pixels, n);
        const width = graph.encoder.outputs.length * z;
        const mu = new Float32Array(n * z);
        const logvar = graph.encoder.outputs.length === 2 ? new Float32Array(n * z) : null;
        for (let i = 0; i < n; i++) {
          mu.set(out.subarray(i * width, i * width + z), i * z);
          if (logvar) logvar.set(out.subarray(i * width + z, (i + 1) * width), i * z);
        }
        return { mu, logvar };
      },
    };
  }

  window.loadModel = loadModel;
  window.startRuntime = startRuntime;
})();
