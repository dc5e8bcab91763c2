# Easel on a CUDA GPU host (needs the NVIDIA Container Toolkit: docker run --gpus all ..., or compose.yaml).
# PyPI's Linux torch wheels bundle the CUDA runtime, so a slim Python base is enough; the host supplies the driver.
# The versions come from constraints-gpu.txt: torch 2.10.0, the newest PyPI build against CUDA 12 (see there).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/models ENGINE_CACHE_DIR=/models/easel HTTP_PORT=8080 PICTURE_DIR=/data/pictures
WORKDIR /app

# Dependencies first, in their own layer: a change to the code reinstalls only the code, not gigabytes of torch.
# The list is read from pyproject.toml ([project] dependencies + the gpu extra), so it is written in one place.
COPY pyproject.toml constraints-gpu.txt ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['gpu']))" > /tmp/requirements.txt \
    && pip install -c constraints-gpu.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY bot bot
COPY handlers handlers
COPY engine engine
COPY keyboards keyboards
COPY locales locales
RUN pip install --no-deps -c constraints-gpu.txt .

# Weights live in a volume (/models): download them once with network access, then run with HF_HUB_OFFLINE=1.
# PICTURE_DIR: the pictures behind the buttons (with Redis), outside /app, which that user cannot write; mount a
# volume there (compose.yaml does).
RUN useradd --create-home easel && mkdir -p /models /data/pictures && chown easel /models /data/pictures
VOLUME ["/models"]
USER easel
EXPOSE ${HTTP_PORT}
# /healthz answers from the start, while the models load (liveness); it is on WEBHOOK_PORT in webhook mode, else
# on HTTP_PORT (bot/app.py). python, since the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; e = os.environ; port = e.get('WEBHOOK_PORT', '8080') if e.get('WEBHOOK_URL') else e.get('HTTP_PORT', '8080'); urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
# On SIGTERM the bot drains for up to SHUTDOWN_DRAIN_S + 80 s (140 s by default): give the container longer to stop
# (docker run --stop-timeout 150, stop_grace_period: 150s in compose.yaml).
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
