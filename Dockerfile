# The VAE Latent Explorer as one container: CPU-only torch, a non-root user, read-only checkpoints.
# docs/deploy.md: build, run one container, run several replicas behind a sticky proxy (compose.yaml).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# CPU wheels of torch and torchvision first (no CUDA libraries), so installing the project finds them satisfied.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch torchvision

# The library, installed as a package (not editable); its sources do not stay in the image.
COPY pyproject.toml README.md /src/
COPY vae /src/vae
RUN pip install /src && rm -rf /src

# The app itself. Everything under /app, checkpoints included, belongs to root: the app's user can read it, not change it.
WORKDIR /app
COPY app.py ./
COPY .streamlit ./.streamlit
COPY pages ./pages
COPY checkpoints ./checkpoints
RUN chmod -R a-w /app/checkpoints \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/app app \
    && mkdir /runs /data \
    && chown app:app /runs

# Runs (trained by visitors) go to a volume; caches to a writable temporary folder; the datasets, optional, to /data.
ENV VAE_CHECKPOINTS=/app/checkpoints \
    VAE_RUNS=/runs \
    VAE_DATA_DIR=/data \
    XDG_CACHE_HOME=/tmp/cache \
    NUMBA_CACHE_DIR=/tmp/cache/numba \
    HOME=/home/app
VOLUME ["/runs"]

USER app
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"]
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
