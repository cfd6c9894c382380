"""The deployment: the Dockerfile, .dockerignore, compose.yaml and the proxy's deploy/nginx.conf.

The files are read and checked; the container's command is started here as it runs in the image (an unprivileged
user, read-only checkpoints, runs and caches in writable folders); the proxy's configuration runs in front of two
local servers when nginx is installed; the image is built when a Docker daemon answers.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest
import yaml

from bench.browser import map_frame
from bench.server import free_port, launch_app, stop_app, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534
TIMEOUT = 90_000  # ms; the first visit loads torch, the models and the atlases


# ---------------------------------------------------------------------------------------------------------------
# Reading the files
# ---------------------------------------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined, comments left out."""
    lines, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        if raw.strip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        lines.append(current)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in lines]


def instructions(name: str) -> list[str]:
    return [args for instruction, args in dockerfile() if instruction == name]


def container_command() -> list[str]:
    """The image's CMD (exec form)."""
    (cmd,) = instructions("CMD")
    return json.loads(cmd)


def health_command() -> list[str]:
    """The command of the image's HEALTHCHECK (exec form)."""
    (check,) = instructions("HEALTHCHECK")
    return json.loads(check.split(" CMD ", 1)[1])


def image_env() -> dict[str, str]:
    """The variables the image's ENV instructions set."""
    env = {}
    for args in instructions("ENV"):
        for pair in shlex.split(args):
            key, value = pair.split("=", 1)
            env[key] = value
    return env


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def proxy_config(servers: list[str], listen: str) -> str:
    """deploy/nginx.conf with its upstream servers and listening address replaced (as the tests run it)."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    assert text.count("server app:8501;") == 1 and text.count("listen 80;") == 1
    lines = "\n".join(f"        server {s};" for s in servers)
    return text.replace("        server app:8501;", lines).replace("listen 80;", f"listen {listen};")


# ---------------------------------------------------------------------------------------------------------------
# The files say what they should
# ---------------------------------------------------------------------------------------------------------------


def test_the_image_is_python_3_11_slim_with_cpu_torch_and_the_project_installed_not_editable():
    (base,) = instructions("FROM")
    assert base == "python:3.11-slim"
    commands = [part.strip() for run in instructions("RUN") for part in run.split("&&")]
    installs = [c.removeprefix("pip install ") for c in commands if c.startswith("pip install ")]
    assert installs == ["--index-url https://download.pytorch.org/whl/cpu torch torchvision", "/src"]
    (copy,) = [args for args in instructions("COPY") if args.endswith("/src/")]
    assert copy.split()[:-1] == ["pyproject.toml", "README.md"]  # the project, installed as a package


def test_the_image_runs_streamlit_as_a_non_root_user_with_a_health_check_on_its_health_endpoint():
    (user,) = instructions("USER")
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    assert container_command() == [
        "streamlit",
        "run",
        "app.py",
        "--server.address=0.0.0.0",
        "--server.port=8501",
        "--server.headless=true",
    ]
    assert "http://127.0.0.1:8501/_stcore/health" in " ".join(health_command())
    env = image_env()
    assert env["VAE_RUNS"] == "/runs" and env["XDG_CACHE_HOME"].startswith("/tmp/")
    assert "/runs" in instructions("VOLUME")[0]


def test_the_checkpoints_in_the_image_belong_to_root_and_are_not_writable():
    copies = [args for args in instructions("COPY") if "checkpoints" in args]
    assert copies and not any("--chown" in c or "--chmod" in c for c in copies)  # COPY gives them to root
    assert "chmod -R a-w /app/checkpoints" in " ".join(instructions("RUN"))
    (workdir,) = instructions("WORKDIR")
    assert image_env()["VAE_CHECKPOINTS"] == f"{workdir}/checkpoints"


def test_the_build_context_leaves_out_git_data_runs_and_virtual_environments():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", "data", "runs", ".venv"} <= ignored
    assert not ignored & {"vae", "pages", "app.py", "checkpoints", ".streamlit", "pyproject.toml", "README.md"}


def test_compose_runs_several_replicas_in_shared_mode_on_one_runs_volume_behind_the_proxy():
    spec = compose()
    app, proxy = spec["services"]["app"], spec["services"]["proxy"]
    assert app["deploy"]["replicas"] >= 2
    assert app["environment"]["VAE_MODE"] == "shared"
    assert "runs:/runs" in app["volumes"] and "runs" in spec["volumes"]
    assert "8501" in app["expose"] and "ports" not in app  # reached through the proxy only
    assert proxy["image"].startswith("nginx:")
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert proxy["depends_on"]["app"]["condition"] == "service_healthy"


def test_the_proxy_hashes_a_cookie_to_pick_the_replica_and_passes_websocket_upgrades():
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    assert re.search(r"upstream streamlit \{\s+hash \$replica_key consistent;", text)
    assert re.search(r"map \$cookie_vae_replica \$replica_key \{\s+\"\" \$request_id;", text)
    assert "add_header Set-Cookie $replica_cookie always;" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert "proxy_set_header Connection $connection_upgrade;" in text
    assert "server app:8501;" in text  # the compose service and the port the image listens on
    assert "--server.port=8501" in container_command() and "app" in compose()["services"]


# ---------------------------------------------------------------------------------------------------------------
# The container's command, run here as it runs in the image
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def container_like(data_dir):
    """A folder standing in for the image's file system: a read-only copy of the checkpoints, and runs, cache and
    home folders that only the unprivileged user (nobody) may write; yields (folder, the image's env mapped there)."""
    base = Path(tempfile.mkdtemp(prefix="vae-deploy-"))
    base.chmod(0o755)
    try:
        checkpoints = base / "checkpoints"
        shutil.copytree(ROOT / "checkpoints", checkpoints, ignore=shutil.ignore_patterns("train_state.safetensors"))
        subprocess.run(["chmod", "-R", "a-w", str(checkpoints)], check=True)
        places = {"/app/checkpoints": checkpoints, "/data": data_dir}
        for name, inside in (("runs", "/runs"), ("cache", "/tmp/cache"), ("home", "/home/app")):
            (base / name).mkdir()
            os.chown(base / name, NOBODY, NOBODY)
            places[inside] = base / name
        env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
        for key, value in image_env().items():
            inside = next((p for p in sorted(places, key=len, reverse=True) if value.startswith(p)), None)
            assert inside or not value.startswith("/"), f"the test does not know where {key}={value} points"
            env[key] = str(places[inside]) + value[len(inside) :] if inside else value
        env.update({k: str(v) for k, v in compose()["services"]["app"]["environment"].items() if k != "VAE_RUNS"})
        yield base, env
    finally:
        shutil.rmtree(base)  # as root: read-only folders go too


def as_nobody(command: list[str]) -> list[str]:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]


def here(command: list[str], port: int) -> list[str]:
    """The image's command for this machine: this Python's streamlit, on a loopback port instead of 0.0.0.0:8501."""
    assert command[0] == "streamlit"
    swapped = {"--server.address=0.0.0.0": "--server.address=127.0.0.1", "--server.port=8501": f"--server.port={port}"}
    return [sys.executable, "-m", "streamlit", *(swapped.get(part, part) for part in command[1:])]


def files_and_times(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in sorted(folder.rglob("*"))}


@pytest.mark.slow
@pytest.mark.browser
def test_the_containers_command_serves_the_app_as_an_unprivileged_user_with_read_only_checkpoints(container_like, page):
    from playwright.sync_api import expect

    base, env = container_like
    before = files_and_times(base / "checkpoints")
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by stop_app)
    proc = subprocess.Popen(
        as_nobody(here(container_command(), port)), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    proc.log = log
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url)
        uid = re.search(r"^Uid:\s+(\d+)", Path(f"/proc/{proc.pid}/status").read_text(), re.M).group(1)
        assert int(uid) == NOBODY
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as answer:
            assert answer.read() == b"ok"
        check = [part.replace("8501", str(port)) for part in health_command()]
        assert check[0] == "python"
        assert subprocess.run(as_nobody([sys.executable, *check[1:]]), env=env, timeout=30).returncode == 0
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.status == 200 and b'<div id="root">' in answer.read()

        page.goto(f"{url}/map?model=mnist-vae-z2")
        expect(page.get_by_role("heading", name="Latent map")).to_be_visible(timeout=TIMEOUT)
        expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
            "data-test-script-state", "notRunning", timeout=TIMEOUT
        )
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        expect(map_frame(page).locator(".js-plotly-plot")).to_be_visible(timeout=TIMEOUT)
    finally:
        log.seek(0)
        output = log.read()
        stop_app(proc)
    assert files_and_times(base / "checkpoints") == before  # nothing written into the checkpoints
    assert any((base / "cache" / "vae-explorer").iterdir())  # the components were staged in the cache folder
    assert "Traceback" not in output and "PermissionError" not in output, output[-3000:]


def docker_answers() -> str | None:
    """None when a Docker daemon answers, else why not (one sentence)."""
    if not shutil.which("docker"):
        return "No docker client on the PATH."
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "The docker client found no daemon within 30 s."
    if info.returncode:
        reason = (info.stderr.strip().splitlines() or ["no reason given"])[-1]
        return f"No Docker daemon answers here ({reason})."
    return None


@pytest.mark.slow
def test_the_image_builds_and_its_container_becomes_healthy_as_a_non_root_user():
    if reason := docker_answers():
        pytest.skip(reason)
    tag = "vae-explorer:test"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=3600)
    container = subprocess.run(
        ["docker", "run", "-d", "-p", "127.0.0.1::8501", tag], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        wait = "until [ \"$(docker inspect -f '{{.State.Health.Status}}' $0)\" != starting ]; do sleep 2; done"
        subprocess.run(["sh", "-c", wait, container], check=True, timeout=300)
        health = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Health.Status}}", container], capture_output=True, text=True
        )
        assert health.stdout.strip() == "healthy", subprocess.run(["docker", "logs", container], capture_output=True)
        uid = subprocess.run(["docker", "exec", container, "id", "-u"], capture_output=True, text=True).stdout
        assert uid.strip() not in ("", "0")
        touch = subprocess.run(["docker", "exec", container, "touch", "/app/checkpoints/x"], capture_output=True)
        assert touch.returncode != 0  # read-only for the app's user
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)


# ---------------------------------------------------------------------------------------------------------------
# The proxy, in front of two local servers
# ---------------------------------------------------------------------------------------------------------------


def nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).is_file()), None)


@pytest.fixture
def proxy_and_replicas(checkpoints_dir, tmp_path):
    """deploy/nginx.conf running in front of two app servers; yields (proxy URL, the two servers' addresses)."""
    binary = nginx()
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx), so the proxy's configuration cannot run here.")
    env = {"VAE_CHECKPOINTS": str(checkpoints_dir), "VAE_RUNS": str(tmp_path / "runs")}
    servers = [launch_app(env) for _ in range(2)]
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = free_port()
    addresses = [url.removeprefix("http://") for _, url in servers]
    (prefix / "nginx.conf").write_text(proxy_config(addresses, f"127.0.0.1:{port}"))
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by stop_app)
    command = [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    command += ["-g", f"daemon off; pid {prefix}/nginx.pid; error_log stderr;"]
    proxy = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    proxy.log = log
    try:
        for proc, url in servers:
            wait_healthy(proc, url)
        wait_healthy(proxy, f"http://127.0.0.1:{port}", timeout=30)
        yield f"http://127.0.0.1:{port}", addresses
    finally:
        stop_app(proxy)
        for proc, _ in servers:
            stop_app(proc)


class Browser:
    """A client with its own cookies, like one browser: `get` returns (status, replica that answered)."""

    def __init__(self) -> None:
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, url: str) -> tuple[int, str]:
        with self.opener.open(url, timeout=10) as answer:
            answer.read()
            return answer.status, answer.headers["X-Replica"]

    def cookie(self) -> str:
        return next(c.value for c in self.cookies if c.name == "vae_replica")


def websocket_handshake(proxy: str, cookie: str) -> str:
    """The status line of the answer to a websocket upgrade of /_stcore/stream sent through the proxy."""
    host, port = proxy.removeprefix("http://").split(":")
    request = (
        f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Cookie: vae_replica={cookie}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        return sock.recv(4096).decode("latin-1").split("\r\n", 1)[0]


@pytest.mark.slow
def test_through_the_proxy_each_browser_stays_on_one_replica_and_its_websocket_opens(proxy_and_replicas):
    proxy, replicas = proxy_and_replicas
    first_hits = {}
    for _ in range(24):  # new browsers: each gets a random key, so both replicas get some
        browser = Browser()
        status, replica = browser.get(f"{proxy}/_stcore/health")
        assert status == 200 and replica in replicas
        first_hits.setdefault(replica, browser)
    assert set(first_hits) == set(replicas), first_hits

    for replica, browser in first_hits.items():  # one browser on each replica keeps it, page after page
        answered = {browser.get(f"{proxy}{path}")[1] for path in ["/", "/_stcore/health", "/map", "/"] * 2}
        assert answered == {replica}
        assert websocket_handshake(proxy, browser.cookie()) == "HTTP/1.1 101 Switching Protocols"


@pytest.mark.slow
@pytest.mark.browser
def test_a_real_browser_session_through_the_proxy_renders_the_map(proxy_and_replicas, page):
    from playwright.sync_api import expect

    proxy, replicas = proxy_and_replicas
    answer = page.goto(f"{proxy}/map?model=mnist-vae-z2")
    expect(page.get_by_role("heading", name="Latent map")).to_be_visible(timeout=TIMEOUT)  # its websocket works
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=TIMEOUT
    )
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    replica = answer.headers["x-replica"]
    assert replica in replicas
    assert page.reload().headers["x-replica"] == replica
