// Loaded first by every component page (pages.webmodel.LOADER): what the components share in the browser.
//
//   component.onRender(render)        render(args, theme) for each message from Streamlit, one after another
//   component.setValue(value), component.setHeight(px)
//   component.loadScript(src), component.loadModel(url, parts)   the runtime's scripts load on first use
//   component.plotArea(gd), component.pointAt(gd, e), component.onClickInPlace(pressable, onClick)   Plotly charts
//   component.paint(canvas, values, max = 1)   28 x 28 values (0..max; null: black) onto a canvas, pixelated
//   component.toLatent(projection, point, points), component.toMap(projection, code, points)
//   component.posteriorOnMap(projection, mu, logvar)   as vae.anomaly.posterior_on_map
//   component.loadPoints(projection)   UMAP's map points and codes, for toLatent / toMap
//   component.hook(name, value), component.count(name)   window.__* test hooks, set only when args.test_hooks
//
// A projection is vae.latent.MapProjection.spec(): {kind: "latent"}, {kind: "pca", mean, components} or
// {kind: "umap", k, points}. The runtime's scripts are pages.webmodel.RUNTIME_SCRIPTS, in order
// (tests/test_map_chart.py checks that the two lists agree).
"use strict";

const RUNTIME_SCRIPTS = ["tf-core.es2017.min.js", "tf-backend-wasm.es2017.min.js", "vae_model.js"];

const component = (() => {
  let hooksOn = false;
  let initialHooks = {};

  function post(type, data) {
    window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
  }

  function setValue(value) {
    post("streamlit:setComponentValue", { value, dataType: "json" });
  }

  function setHeight(height) {
    post("streamlit:setFrameHeight", { height });
  }

  // Test hooks: window[name], only where the page was asked for them (tests and benchmarks read them).
  function hook(name, value) {
    if (hooksOn) window[name] = value;
  }

  function count(name, by = 1) {
    if (hooksOn) window[name] = (window[name] || 0) + by;
  }

  // render(args, theme) for every render message, one after another; `hooks` are the test hooks' first values.
  function onRender(render, hooks = {}) {
    initialHooks = hooks;
    let rendering = Promise.resolve();
    window.addEventListener("message", (e) => {
      if (e.data?.type !== "streamlit:render") return;
      const { args, theme } = e.data;
      if (args.test_hooks && !hooksOn) {
        hooksOn = true;
        for (const [name, value] of Object.entries(initialHooks)) if (!(name in window)) window[name] = value;
      }
      rendering = rendering.then(() => render(args, theme)).catch((err) => console.error(err));
    });
    post("streamlit:componentReady", { apiVersion: 1 });
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`${src} did not load`));
      document.head.appendChild(script);
    });
  }

  // The runtime's scripts, one after another, then its WebAssembly backend; once per page.
  let runtime = null;
  function startRuntime() {
    if (!runtime) {
      runtime = (async () => {
        if (typeof WebAssembly !== "object") throw new Error("no WebAssembly");
        for (const src of RUNTIME_SCRIPTS) await loadScript(src);
        await window.startRuntime();
      })();
    }
    return runtime;
  }

  // The browser model at `url` (pages.webmodel.model_url; null: none) with `parts` loaded.
  async function loadModel(url, parts = ["decoder"]) {
    if (!url) throw new Error("this model has no browser model");
    await startRuntime();
    return window.loadModel(url, { parts });
  }

  // The plot area of the Plotly chart `gd` on screen (a DOMRect), or null before it is drawn.
  function plotArea(gd) {
    const drag = gd.querySelector(".nsewdrag");
    return drag ? drag.getBoundingClientRect() : null;
  }

  // The data point [x, y] of the Plotly chart `gd` under a pointer event, or null off its plot area.
  function pointAt(gd, e) {
    const rect = plotArea(gd);
    if (!rect || e.clientX < rect.left || e.clientX > rect.right || e.clientY < rect.top || e.clientY > rect.bottom) {
      return null;
    }
    const { xaxis, yaxis } = gd._fullLayout;
    return [xaxis.p2d(e.clientX - rect.left), yaxis.p2d(e.clientY - rect.top)];
  }

  // onClick(e) for a press and release in place, where `pressable(e)` accepted the press (Plotly's drag layer
  // swallows click events; these listeners see the pointer first). Returns a function: whether such a press is held.
  const CLICK_SLOP_PX = 4; // a press that moves further is a drag (pan, zoom, box), not a click
  function onClickInPlace(pressable, onClick) {
    let pressed = null;
    const press = (e) => {
      pressed = pressable(e) ? e : null;
    };
    const release = (e) => {
      const start = pressed;
      pressed = null;
      if (start && Math.hypot(e.clientX - start.clientX, e.clientY - start.clientY) <= CLICK_SLOP_PX) onClick(e);
    };
    document.addEventListener("pointerdown", press, true);
    document.addEventListener("pointerup", release, true);
    return () => pressed !== null;
  }

  const tile = document.createElement("canvas");
  tile.width = tile.height = 28;
  const tileContext = tile.getContext("2d");
  const pixels = tileContext.createImageData(28, 28);

  // Paints 28 x 28 values (a Float32Array or Uint8Array, or a slice; 0..max, row by row) as grey levels onto a
  // canvas of any size, pixelated; null paints black.
  function paint(canvas, values, max = 1) {
    for (let i = 0; i < 784; i++) {
      const v = values ? Math.round(Math.min(Math.max(values[i] / max, 0), 1) * 255) : 0;
      pixels.data[4 * i] = pixels.data[4 * i + 1] = pixels.data[4 * i + 2] = v;
      pixels.data[4 * i + 3] = 255;
    }
    tileContext.putImageData(pixels, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tile, 0, 0, canvas.width, canvas.height);
  }

  // The mean of `values` (rows) at the k rows of `keys` nearest `query` (Euclidean): a scan of the points.
  function nearestMean(keys, values, query, k) {
    const dk = query.length;
    const n = keys.length / dk;
    const dv = values.length / n;
    const best = []; // [distance, row], ascending, at most k
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let j = 0; j < dk; j++) d += (keys[i * dk + j] - query[j]) ** 2;
      if (best.length === k && d >= best[k - 1][0]) continue;
      let at = best.length === k ? k - 1 : best.length;
      while (at > 0 && best[at - 1][0] > d) {
        best[at] = best[at - 1];
        at--;
      }
      best[at] = [d, i];
    }
    const mean = new Array(dv).fill(0);
    for (const [, i] of best) for (let j = 0; j < dv; j++) mean[j] += values[i * dv + j] / best.length;
    return mean;
  }

  // UMAP's points {url, coords, codes} (float32: map positions, then codes), fetched once per file.
  const umap = { points: null, loading: null };
  function loadPoints(projection) {
    if (projection.kind !== "umap" || !projection.points || umap.loading === projection.points) return;
    const url = projection.points;
    umap.loading = url;
    fetch(url)
      .then((r) => {
        if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
        return r.arrayBuffer();
      })
      .then((buffer) => {
        umap.points = { url, all: new Float32Array(buffer) }; // split once the latent size is known: umapPoints
      })
      .catch((err) => console.warn("UMAP points not loaded; hovering decodes nothing", err));
  }

  function umapPoints(projection, z) {
    if (!umap.points || umap.points.url !== projection.points) return null;
    const n = umap.points.all.length / (2 + z);
    return { coords: umap.points.all.subarray(0, 2 * n), codes: umap.points.all.subarray(2 * n) };
  }

  // The code (z numbers) of map point [x, y]; null where there is none yet (UMAP before its points load) or none
  // here (UMAP without points). z: the latent size.
  function toLatent(projection, [x, y], z) {
    if (projection.kind === "latent") return [x, y];
    if (projection.kind === "pca") {
      const [c1, c2] = projection.components;
      return projection.mean.map((m, j) => m + x * c1[j] + y * c2[j]);
    }
    const points = umapPoints(projection, z);
    return points && nearestMean(points.coords, points.codes, [x, y], projection.k);
  }

  // The map point [x, y] of a code; null as for toLatent.
  function toMap(projection, code) {
    if (projection.kind === "latent") return [code[0], code[1]];
    if (projection.kind === "pca") {
      return projection.components.map((row) => row.reduce((sum, c, j) => sum + c * (code[j] - projection.mean[j]), 0));
    }
    const points = umapPoints(projection, code.length);
    return points && nearestMean(points.codes, points.coords, code, projection.k);
  }

  // The posterior N(mu, diag(exp(logvar))) on a linear map: {mean, cov} (cov null without logvar).
  function posteriorOnMap(projection, mu, logvar) {
    if (projection.kind === "latent") {
      const cov = logvar && [
        [Math.exp(logvar[0]), 0],
        [0, Math.exp(logvar[1])],
      ];
      return { mean: [mu[0], mu[1]], cov };
    }
    const P = projection.components;
    const mean = toMap(projection, mu);
    if (!logvar) return { mean, cov: null };
    const cov = [
      [0, 0],
      [0, 0],
    ];
    for (let r = 0; r < 2; r++) {
      for (let s = 0; s < 2; s++) {
        for (let j = 0; j < mu.length; j++) cov[r][s] += P[r][j] * Math.exp(logvar[j]) * P[s][j];
      }
    }
    return { mean, cov };
  }

  return {
    onRender,
    setValue,
    setHeight,
    post,
    hook,
    count,
    loadScript,
    loadModel,
    paint,
    CLICK_SLOP_PX,
    plotArea,
    pointAt,
    onClickInPlace,
    loadPoints,
    toLatent,
    toMap,
    posteriorOnMap,
  };
})();
