"""Train: choose the settings and press Start; the run trains in a process of its own while the page shows, live,
its progress, the loss split into reconstruction and KL, the latent map of 2,000 test images and decoded prior
samples. Stop keeps the last complete epoch, Resume continues it, and a finished run opens on the map in one click.
Everything the panel shows is read from the run's folder, so a reload or a second tab finds the run again.

The form is generated from the settings' declarations (`vae.settings.form_fields`): each number input has the
setting's bounds, each widget its help; a setting added to TrainConfig or ModelConfig appears here by itself."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.ui.navigation import inside_app
from pages.ui.picker import KIND_TITLES
from vae import figures, jobs, rendering, settings
from vae.checkpoint import CheckpointError, runs_root
from vae.data import DATASET_TITLES, DATASETS, DatasetFormatError, DatasetMissingError, resolve_dataset
from vae.live import DONE, EVALUATING, FAILED, TRAINING, LiveView, read_live, read_live_map
from vae.settings import ConfigError, FieldSpec

OWN_DATA = "own"
REFRESH_S = 2.0  # how often the live panel rereads the run's files
D = jobs.DEFAULTS
FIELDS = settings.form_fields(D)  # the form: every setting of TrainConfig and ModelConfig, as declared there
TITLES = {"model.kind": KIND_TITLES}  # the app's names of the model kinds; other choices' titles come with them
# Static charts: no hover or zoom layers to build, so a browser redraws them for a fraction of the work; the finished
# model opens on /map for all of that.
CHART_CONFIG = {"staticPlot": True}


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s // 60:.0f} min {s % 60:02.0f} s"


def _whole_numbers(text: str, spec: FieldSpec) -> tuple[int, ...] | str:
    """Comma-separated whole numbers as a tuple, or the sentence saying they cannot be read."""
    try:
        values = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        values = ()
    example = ", ".join(map(str, spec.default))
    return values or f"{spec.label} must be whole numbers separated by commas, e.g. {example}."


def _dataset(spec: FieldSpec, problems: list[str]) -> str:
    """A built-in dataset, or the absolute path of the user's own (the run records where its data is)."""
    choice = st.selectbox(
        spec.label,
        [*DATASETS, OWN_DATA],
        format_func=lambda d: DATASET_TITLES.get(d, "Your own data (a path)"),
        key="train_dataset",
    )
    if choice != OWN_DATA:
        return choice
    path = st.text_input(
        "Path of your dataset",
        key="train_path",
        placeholder="/data/shapes.npz or an MNIST-style IDX folder",
        help="An .npz file holding x_train and x_test (uint8, N×28×28, light on dark) and optionally y_train, "
        "y_test and class_names, or a folder in the MNIST IDX layout.",
    ).strip()
    if not path:
        problems.append("Give the path of your dataset: an .npz file or an IDX folder.")
        return spec.default
    return str(Path(path).expanduser().resolve())


def _widget(spec: FieldSpec, box, problems: list[str]):
    """The value of one setting's widget: a choice, a number input within the setting's bounds, or a text."""
    s, key = spec.setting, "train_" + spec.path.replace(".", "_")
    help = f"{s.help[:1].upper()}{s.help[1:]}: {spec.bounds()}."
    if s.choices:
        titles = TITLES.get(spec.path, dict(s.titles))
        value = box.segmented_control(
            spec.label,
            list(s.choices),
            default=spec.default,
            format_func=lambda v: titles.get(v, str(v)),
            key=key,
            help=help,
        )
        return spec.default if value is None else value
    if spec.kind in ("int", "float"):
        cast = int if spec.kind == "int" else float
        return box.number_input(
            spec.label,
            value=cast(spec.default),
            min_value=None if s.minimum is None else cast(s.minimum),
            max_value=None if s.maximum is None else cast(s.maximum),
            step=cast(s.step or 1) if spec.kind == "int" else float(s.step or 0.01),
            format=s.format,
            key=key,
            help=help,
        )
    if spec.kind == "bool":
        return box.checkbox(spec.label, value=spec.default, key=key, help=help)
    if spec.kind == "ints":
        value = _whole_numbers(box.text_input(spec.label, ", ".join(map(str, spec.default)), key=key, help=help), spec)
        if isinstance(value, str):
            problems.append(value)
            return spec.default
        return value
    return box.text_input(spec.label, spec.default, key=key, help=help)


def _fields(fields: list[FieldSpec], values: dict, problems: list[str]) -> None:
    """Render `fields` in order (numbers two to a row), each only where the settings it depends on ask for it."""
    row: list = []
    for spec in fields:
        if any(values.get(path, value) != value for path, value in spec.conditions):
            continue  # e.g. the hidden widths of a conv network: the defaults stand
        if spec.setting.widget == "dataset":
            values[spec.path] = _dataset(spec, problems)
            continue
        if spec.kind in ("int", "float"):
            row = row or list(st.columns(2))
            box = row.pop(0)
        else:
            row, box = [], st
        values[spec.path] = _widget(spec, box, problems)


def settings_form() -> tuple[dict, list[str]]:
    """The settings widgets: ({setting's path: value}, sentences on what cannot be read)."""
    values: dict = {}
    problems: list[str] = []
    _fields([f for f in FIELDS if not f.setting.advanced], values, problems)
    with st.expander("More settings"):
        _fields([f for f in FIELDS if f.setting.advanced], values, problems)
    return values, problems


def start_clicked(values: dict, problems: list[str]) -> None:
    """Check the settings (one sentence for each bad one) and start the run, unless one is training."""
    try:
        config = settings.replace_settings(D, values)
    except ConfigError as err:
        problems = problems + [settings.in_words(problem, FIELDS) for problem in err.problems]
    if not problems and config.dataset not in DATASETS:
        try:
            resolve_dataset(config.dataset)
        except (DatasetMissingError, DatasetFormatError) as err:
            problems.append(str(err))
    for problem in problems:
        st.error(problem, icon=":material/error:")
    if problems:
        return
    try:
        jobs.start(config, iwae_k=jobs.DEFAULT_IWAE_K)
    except jobs.RunBusyError as err:
        st.warning(str(err), icon=":material/hourglass_top:")


# --- The live panel -----------------------------------------------------------------------------------------------


def progress_line(live: LiveView) -> str:
    if live.state == EVALUATING:
        return "Training done; measuring the test split…"
    if live.state == TRAINING:
        eta = f" · about {_seconds(live.eta_s)} left" if live.eta_s is not None else ""
        return (
            f"Epoch {min(live.epoch + 1, live.epochs)} of {live.epochs} · step {live.step:,} of {live.steps:,} · "
            f"{_seconds(live.elapsed_s)} so far{eta}"
        )
    return f"Test {metric_text(live)}; building the atlas…"


def metric_text(live: LiveView) -> str:
    """The test loss: '−ELBO 147.62 nats (reconstruction 141.20, KL 6.42)', or an autoencoder's BCE."""
    m = live.metrics or {}
    if live.kind == "vae" and m.get("neg_elbo") is not None:
        return f"−ELBO {m['neg_elbo']:.2f} nats (reconstruction {m['recon']:.2f}, KL {m['kl']:.2f})"
    return f"BCE {m.get('bce', float('nan')):.2f} nats"


def charts(live: LiveView, folder: Path) -> None:
    """The loss curve, the latent map and the prior samples, as last written. While the run trains, the curve stops
    at the map's step, so both change together every few seconds (a browser without a GPU spends most of the page's
    time redrawing charts)."""
    shown = read_live_map(folder)
    last = shown.step if shown is not None and live.running else live.steps
    keep = live.curve_step <= last
    curve, latent = st.columns([5, 4])
    with curve:
        st.markdown("**Loss per image**")
        if keep.any():
            fig = figures.loss_curve_figure(
                live.curve_epoch[keep], live.recon[keep], live.kl[keep], live.beta, live.kind == "vae"
            )
            st.plotly_chart(fig, key="train_curve", config=CHART_CONFIG)
        else:
            st.caption("The curve starts after the first steps.")
    with latent:
        if shown is None:
            st.markdown("**Latent map**")
            st.caption("The map appears once the data is loaded.")
            return
        axes = ("z₁", "z₂") if shown.axes == "z" else ("PC 1", "PC 2")
        st.markdown(f"**Latent map** · {len(shown.coords):,} test images at step {shown.step:,}")
        fig = figures.live_map_figure(shown.coords, shown.labels, live.class_names, axes)
        st.plotly_chart(fig, key="train_map", config=CHART_CONFIG)
    prior = rendering.png_bytes(rendering.mosaic(shown.prior), scale=2)
    caption = "Decoded from z ~ N(0, I)" + (" (an autoencoder has no prior: expect blurs)" if live.kind == "ae" else "")
    st.image(prior, caption=caption, width=300)


def outcome(job: jobs.Job, live: LiveView | None) -> None:
    """How the last run ended: done (with the link to the map), failed (its sentence), or stopped (Resume)."""
    if live is None:
        reason = jobs.last_log_line(job.folder) or "it printed nothing"
        st.error(f"The run {job.name} ended before training began: {reason}", icon=":material/error:")
    elif live.state == DONE:
        st.success(f"Trained: test {metric_text(live)}.", icon=":material/check_circle:")
        st.page_link(
            "pages/map.py", label="Open on the map", icon=":material/scatter_plot:", query_params={"model": job.name}
        )
    elif live.state == FAILED:
        st.error(f"Training {job.name} stopped: {live.message}", icon=":material/error:")
    else:
        kept = (
            f"epoch {live.epoch} of {live.epochs} is kept" if live.epoch else "no epoch had ended, so nothing was kept"
        )
        st.info(f"Training {job.name} stopped; {kept}.", icon=":material/pause_circle:")


def resume_button(folder: Path, key: str) -> None:
    if st.button("Resume", key=key, icon=":material/play_arrow:"):
        try:
            jobs.resume(folder, iwae_k=jobs.DEFAULT_IWAE_K)
        except jobs.RunBusyError as err:
            st.warning(str(err), icon=":material/hourglass_top:")
        except (CheckpointError, TypeError, ValueError) as err:
            st.error(f"{folder} cannot be resumed: {err}", icon=":material/error:")
        else:
            st.rerun(scope="fragment")


@st.fragment(run_every=REFRESH_S)
def live_panel() -> None:
    job = jobs.current_job()
    resumable = jobs.resumable_runs()
    if job is None:
        st.info("No run yet: choose the settings and press **Start**.", icon=":material/model_training:")
    else:
        live = read_live(job.folder)
        if job.alive:
            title, stop = st.columns([5, 1], vertical_alignment="center")
            title.markdown(f"#### Training {job.name}")
            if stop.button("Stop", key="train_stop", icon=":material/stop:"):
                jobs.stop()
                st.toast("Stopping: the last complete epoch is kept.")
            if live is None:
                st.progress(0.0, text="Starting: loading PyTorch and the data…")
            else:
                st.progress(live.fraction, text=progress_line(live))
        else:
            st.markdown(f"#### {job.name}")
            outcome(job, live)
            if job.folder in resumable:
                resume_button(job.folder, "train_resume")
        if live is not None:
            charts(live, job.folder)
    others = [folder for folder in resumable if job is None or folder != job.folder]
    if others:
        st.markdown("**Stopped runs** (each keeps its last complete epoch)")
        for folder in others:
            live = read_live(folder)
            name, button = st.columns([5, 1], vertical_alignment="center")
            done = f" · {live.epoch} of {live.epochs} epochs" if live is not None else ""
            name.markdown(f"`{folder.name}`{done}")
            with button:
                resume_button(folder, f"train_resume_{folder.name}")


inside_app()
st.title("Train a model", anchor=False)
st.caption(
    f"Runs go to `{runs_root()}` (`$VAE_RUNS`), one at a time, each in a process of its own: the other pages stay "
    "usable meanwhile, and this page can be closed and opened again. The defaults train an MNIST VAE with a 2-D "
    "latent space in about half a minute."
)
form, panel = st.columns([1, 2.4], gap="large")
with form:
    values, problems = settings_form()
    if st.button("Start", type="primary", icon=":material/play_arrow:", key="train_start", width="stretch"):
        start_clicked(values, problems)
with panel:
    live_panel()
