# Easel on a CUDA GPU host (needs the NVIDIA Container Toolkit: docker run --gpus all ...).
# PyPI's Linux torch wheels bundle the CUDA runtime, so a slim Python base is enough; the host supplies the driver.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/models ENGINE_CACHE_DIR=/models/easel
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot bot
COPY handlers handlers
COPY engine engine
COPY keyboards keyboards
COPY locales locales
RUN pip install ".[gpu]"

# Weights live in a volume (/models): download them once with network access, then run with HF_HUB_OFFLINE=1.
VOLUME ["/models"]
RUN useradd --create-home easel && mkdir -p /models && chown easel /models
USER easel
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
