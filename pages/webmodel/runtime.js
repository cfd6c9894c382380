// Loaded by every component page with a <script> tag: loading a script into the page, and the browser runtime
// (TensorFlow.js and vae_model.js), which a page loads only after it has drawn. The scripts are
// pages.webmodel.RUNTIME_SCRIPTS, in order (tests/test_map_chart.py checks that the two lists agree).
"use strict";

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`${src} did not load`));
    document.head.appendChild(script);
  });
}

const RUNTIME_SCRIPTS = ["tf-core.es2017.min.js", "tf-backend-wasm.es2017.min.js", "vae_model.js"];
let runtimeScripts = null;

// The runtime's scripts, one after another, once per page; `loadModel` and `startRuntime` are defined after it.
function loadRuntimeScripts() {
  return (runtimeScripts ||= RUNTIME_SCRIPTS.reduce((p, src) => p.then(() => loadScript(src)), Promise.resolve()));
}
