"""The sidebar's model picker: every shipped model and run, in step with the address's ?model=NAME.

app.py runs `model_picker()` before every page; it scans the model folders once for the run (`models()` then
returns that scan), so a page's run resolves its model from one scan.
"""

from __future__ import annotations

import time

import streamlit as st

from pages.ui.navigation import entered_app
from pages.ui.text import verbatim
from vae import catalog
from vae.catalog import Entry
from vae.checkpoint import runs_root, shipped_root
from vae.data import DATASET_TITLES

KIND_TITLES = {"vae": "VAE", "ae": "Autoencoder"}
DEFAULT_MODEL = "mnist-vae-z2"
MODEL_PARAM = "model"  # the address's ?model=NAME: a model folder's name (shipped or a run)

PICK_DATASET = "picker_dataset"  # the sidebar's dataset filter
PICK_MODEL = "picker_model"  # the sidebar's model: a folder name
_MODEL_IN_ADDRESS = "_model_in_address"  # the model name this session last read from or wrote to the address
_SCANNED = "_catalog_this_run"  # the picker's scan of the model folders in this session's current run


def scan() -> list[Entry]:
    """Every model folder, shipped and runs, shipped first (`vae.catalog`): it rereads only the folders that
    changed, so a new run appears on the next rerun."""
    return catalog.catalog(shipped_root(), runs_root())


def models() -> list[Entry]:
    """The model folders as the picker scanned them in this run (a fresh scan where the picker has not run)."""
    scanned = st.session_state.get(_SCANNED)
    return scanned if scanned is not None else scan()


def shipped_models() -> list[Entry]:
    """The shipped models that can be opened, in the catalog's order, the β sweep's left out."""
    return [e for e in catalog.openable(models()) if e.shipped and not e.sweep]


def no_model_message() -> str:
    return (
        f"No model can be opened: {shipped_root()} and {runs_root()} hold no complete model folder; restore "
        "checkpoints/ from git or train one with `python -m vae.train`."
    )


def dataset_title(dataset: str) -> str:
    return DATASET_TITLES.get(dataset, dataset)


def _label_parts(entry: Entry) -> dict[str, str]:
    parts = {"kind": "VAE" if entry.kind == "vae" else "AE", "z": f"z={entry.latent_dim}"}
    if entry.kind == "vae" and entry.beta is not None:
        parts["beta"] = f"β={entry.beta:g}"
    parts["net"] = f"{'MLP' if entry.arch == 'mlp' else 'Conv'} {'-'.join(map(str, entry.width))}".strip()
    if entry.epochs is not None:
        parts["epochs"] = f"{entry.epochs} ep"
    if entry.loss is not None:
        parts["loss"] = f"{entry.loss_name} {entry.loss:.1f}"
    if not entry.shipped:
        parts["run"] = "run " + time.strftime("%d %b %H:%M", time.localtime(entry.written))
    elif entry.sweep:
        parts["run"] = "β sweep"
    return parts


def model_label(entry: Entry) -> str:
    """'MNIST · VAE · z=2 · β=1 · MLP 768-384 · 60 ep · −ELBO 136.8'; a run ends with when it was written."""
    return " · ".join([dataset_title(entry.dataset), *_label_parts(entry).values()])


def option_label(entry: Entry) -> str:
    """The model as a select lists it beside others of its dataset, what tells them apart first (a narrow select
    cuts the end): 'VAE · z=2 · β=1 · −ELBO 136.8 · MLP 768-384 · 60 ep'."""
    parts = _label_parts(entry)
    order = ("kind", "z", "beta", "loss", "net", "epochs", "run")
    return " · ".join(parts[key] for key in order if key in parts)


def _default(ready: list[Entry]) -> Entry | None:
    return catalog.find(ready, DEFAULT_MODEL) or (ready[0] if ready else None)


def picked_model() -> Entry | None:
    """The sidebar's model (its catalog entry, nothing loaded); None when no model can be opened."""
    ready = catalog.openable(models())
    return catalog.find(ready, st.session_state.get(PICK_MODEL) or "") or _default(ready)


def _follow_dataset() -> None:
    """The dataset filter changed: choose that dataset's model most like the one chosen before."""
    entries = models()
    before = catalog.find(entries, st.session_state.get(PICK_MODEL) or "")
    match = catalog.counterpart(entries, before, st.session_state[PICK_DATASET])
    if match is not None:
        st.session_state[PICK_MODEL] = match.name


def model_picker() -> None:
    """Sidebar: a dataset filter, one select of the models that can be opened (shipped first, then runs, newest
    first, then the β sweep's), and the folders that cannot be, each with its problem; run by app.py before every page.

    The folders are scanned once a run, so a new run appears without a restart. The address's ?model=NAME drives
    the select: a name this session has not seen there yet (an opened link) selects that model; an unknown or
    broken one gives one warning and the default. The choice is then written back to the address (no reload), so
    every page's address names its model.
    """
    state = st.session_state
    entered_app()
    entries = state[_SCANNED] = scan()
    ready = catalog.openable(entries)
    default = _default(ready)
    asked = st.query_params.get(MODEL_PARAM)
    if asked is not None and asked != state.get(_MODEL_IN_ADDRESS):
        linked = catalog.find(entries, asked)
        instead = f"showing {default.name}" if default else "no model can be opened"
        if linked is None:
            st.warning(f"Unknown model {verbatim(asked)} in the address; {instead}.", icon=":material/link_off:")
        elif linked.problem:
            st.warning(
                f"Model {verbatim(asked)} in the address cannot be opened ({linked.problem.rstrip('.')}); {instead}.",
                icon=":material/link_off:",
            )
        state[PICK_MODEL] = asked if linked is not None and linked.problem is None else None
        state[_MODEL_IN_ADDRESS] = asked
    entry = catalog.find(ready, state.get(PICK_MODEL) or "") or default
    with st.sidebar:
        if entry is None:
            st.error(no_model_message(), icon=":material/error:")
        else:
            state[PICK_MODEL], state[PICK_DATASET] = entry.name, entry.dataset
            datasets = list(dict.fromkeys(e.dataset for e in ready))
            st.selectbox("Dataset", datasets, key=PICK_DATASET, format_func=dataset_title, on_change=_follow_dataset)
            labels = {e.name: option_label(e) for e in ready if e.dataset == entry.dataset}
            st.selectbox("Model", list(labels), key=PICK_MODEL, format_func=labels.get)
            st.caption(f"{model_label(entry)}  \n{'Shipped' if entry.shipped else 'Run'}: `{entry.folder}`")
        broken = [e for e in entries if e.problem]
        if broken:
            with st.expander(f"Can't open {len(broken)} folder{'s' * (len(broken) > 1)}", icon=":material/folder_off:"):
                st.markdown("\n".join(f"- **{e.name}**: {e.problem}" for e in broken))
    if entry is not None:
        if st.query_params.get(MODEL_PARAM) != entry.name:
            st.query_params[MODEL_PARAM] = entry.name
        state[_MODEL_IN_ADDRESS] = entry.name
