"""Train: choose the settings and press Start; the run trains in a process of its own while the page shows, live,
its progress, the loss split into reconstruction and KL, the latent map of 2,000 test images and decoded prior
samples. Stop keeps the last complete epoch, Resume continues it, and a finished run opens on the map in one click.
Everything the panel shows is read from the run's folder, so a reload or a second tab finds the run again.

On a shared server (`VAE_MODE=shared`, `vae.serving`) the page follows the server's policy: no path is typed (the
server's own datasets are chosen by name), training may be off, the size cap and the visitor's run quota are
checked before anything starts, and only the session that started a run sees its Stop and Resume; the others watch
it. A runs folder that cannot be written is one sentence, and no Start.

The form is generated from the settings' declarations (`vae.settings.form_fields`): each number input has the
setting's bounds, each widget its help; a setting added to TrainConfig or ModelConfig appears here by itself."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from pages.ui.navigation import inside_app
from pages.ui.picker import KIND_TITLES
from pages.ui.policy import current_policy
from vae import figures, jobs, rendering, settings
from vae.checkpoint import CheckpointError, runs_root
from vae.data import DATASET_TITLES, DATASETS, DatasetFormatError, DatasetMissingError, resolve_dataset
from vae.live import DONE, EVALUATING, FAILED, TRAINING, LiveView, read_live, read_live_map
from vae.serving import ServerPolicy, own_datasets
from vae.settings import ConfigError, FieldSpec

OWN_DATA = "own"
SERVER_DATA = "server:"  # the choice of one of the shared server's own datasets: SERVER_DATA + its name
REFUSED = (jobs.RunBusyError, jobs.NotAllowedError, jobs.NotYourRunError, jobs.RunsFolderError)
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


def session_owner() -> str | None:
    """This browser session's id: the owner of the runs it starts (`vae.jobs` records only its hash)."""
    ctx = get_script_run_ctx()
    return None if ctx is None else ctx.session_id


def _server_dataset(spec: FieldSpec, policy: ServerPolicy) -> str:
    """Shared mode: MNIST, Fashion-MNIST or one of the server's own datasets, chosen by name (no path typed); the
    chosen dataset's absolute path on the server for the latter."""
    own = own_datasets(policy.own_data)
    choice = st.selectbox(
        spec.label,
        [*DATASETS, *(SERVER_DATA + name for name in own)],
        format_func=lambda d: DATASET_TITLES.get(d, d.removeprefix(SERVER_DATA)),
        key="train_dataset",
        help="MNIST, Fashion-MNIST or one of this server's own datasets.",
    )
    if choice in DATASETS:
        return choice
    return str(own[choice.removeprefix(SERVER_DATA)].resolve())


def _dataset(spec: FieldSpec, problems: list[str], policy: ServerPolicy) -> str:
    """A built-in dataset, or the absolute path of the user's own (the run records where its data is)."""
    if not policy.paths_from_browser:
        return _server_dataset(spec, policy)
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


def _fields(fields: list[FieldSpec], values: dict, problems: list[str], policy: ServerPolicy) -> None:
    """Render `fields` in order (numbers two to a row), each only where the settings it depends on ask for it."""
    row: list = []
    for spec in fields:
        if any(values.get(path, value) != value for path, value in spec.conditions):
            continue  # e.g. the hidden widths of a conv network: the defaults stand
        if spec.setting.widget == "dataset":
            values[spec.path] = _dataset(spec, problems, policy)
            continue
        if spec.kind in ("int", "float"):
            row = row or list(st.columns(2))
            box = row.pop(0)
        else:
            row, box = [], st
        values[spec.path] = _widget(spec, box, problems)


def settings_form(policy: ServerPolicy) -> tuple[dict, list[str]]:
    """The settings widgets: ({setting's path: value}, sentences on what cannot be read)."""
    values: dict = {}
    problems: list[str] = []
    _fields([f for f in FIELDS if not f.setting.advanced], values, problems, policy)
    with st.expander("More settings"):
        _fields([f for f in FIELDS if f.setting.advanced], values, problems, policy)
    return values, problems


def limits_caption(policy: ServerPolicy, owner: str | None) -> str | None:
    """The server's limits as they apply to this visitor, in one line; None when it has none."""
    parts = []
    if policy.max_parameters is not None:
        parts.append(f"networks up to {policy.max_parameters:,} weights")
    if policy.max_epochs is not None:
        parts.append(f"at most {policy.max_epochs} epochs")
    if policy.runs_per_session is not None:
        parts.append(f"{jobs.runs_started_by(owner)} of your {policy.runs_per_session} runs started")
    return "This server trains " + "; ".join(parts) + "." if parts else None


def start_clicked(values: dict, problems: list[str], policy: ServerPolicy, owner: str | None) -> None:
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
        jobs.start(config, iwae_k=jobs.DEFAULT_IWAE_K, owner=owner, policy=policy)
    except REFUSED as err:
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


def resume_button(folder: Path, key: str, policy: ServerPolicy, owner: str | None) -> None:
    if st.button("Resume", key=key, icon=":material/play_arrow:"):
        try:
            jobs.resume(folder, iwae_k=jobs.DEFAULT_IWAE_K, owner=owner, policy=policy)
        except REFUSED as err:
            st.warning(str(err), icon=":material/hourglass_top:")
        except (CheckpointError, TypeError, ValueError) as err:
            st.error(f"{folder} cannot be resumed: {err}", icon=":material/error:")
        else:
            st.rerun(scope="fragment")


def may_control(folder_owner: str | None, policy: ServerPolicy, owner: str | None) -> bool:
    """Whether this session may stop or resume a run whose owner hash is `folder_owner`: any run in personal mode,
    only its own in shared mode."""
    return not policy.owned_runs or (owner is not None and folder_owner == jobs.owner_tag(owner))


@st.fragment(run_every=REFRESH_S)
def live_panel(policy: ServerPolicy, owner: str | None) -> None:
    job = jobs.current_job()
    resumable = [folder for folder in jobs.resumable_runs() if may_control(jobs.run_owner(folder), policy, owner)]
    if job is None:
        st.info("No run yet: choose the settings and press **Start**.", icon=":material/model_training:")
    else:
        live = read_live(job.folder)
        if job.alive:
            title, stop = st.columns([5, 1], vertical_alignment="center")
            title.markdown(f"#### Training {job.name}")
            if not may_control(job.owner, policy, owner):
                st.caption("Another visitor started this run: you can watch it, and only they can stop it.")
            elif stop.button("Stop", key="train_stop", icon=":material/stop:"):
                try:
                    jobs.stop(owner=owner, policy=policy)
                except jobs.NotYourRunError as err:
                    st.warning(str(err), icon=":material/block:")
                else:
                    st.toast("Stopping: the last complete epoch is kept.")
            if live is None:
                st.progress(0.0, text="Starting: loading PyTorch and the data…")
            else:
                st.progress(live.fraction, text=progress_line(live))
        else:
            st.markdown(f"#### {job.name}")
            outcome(job, live)
            if job.folder in resumable:
                resume_button(job.folder, "train_resume", policy, owner)
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
                resume_button(folder, f"train_resume_{folder.name}", policy, owner)


inside_app()
st.title("Train a model", anchor=False)
policy, owner = current_policy(), session_owner()
where = "Runs are kept on this server" if policy.shared else f"Runs go to `{runs_root()}` (`$VAE_RUNS`)"
st.caption(
    f"{where}, one at a time, each in a process of its own: the other pages stay usable meanwhile, and this page can "
    "be closed and opened again. The defaults train an MNIST VAE with a 2-D latent space in about half a minute."
)
form, panel = st.columns([1, 2.4], gap="large")
with form:
    if not policy.training:
        st.info("Training is off on this server; every trained model can still be explored.", icon=":material/block:")
    else:
        values, problems = settings_form(policy)
        if (limits := limits_caption(policy, owner)) is not None:
            st.caption(limits)
        unwritable = jobs.runs_folder_problem()
        if unwritable is not None:
            st.warning(unwritable, icon=":material/folder_off:")
        if st.button(
            "Start",
            type="primary",
            icon=":material/play_arrow:",
            key="train_start",
            width="stretch",
            disabled=unwritable is not None,
        ):
            start_clicked(values, problems, policy, owner)
with panel:
    live_panel(policy, owner)
