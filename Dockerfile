# Watchpost worker. Build: docker build -t watchpost .
# Run:  docker run -v $PWD/config:/app/config:ro -v watchpost-data:/data \
#         -e TELEGRAM_BOT_TOKEN=... watchpost
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PTB_TIMEDELTA=true \
    WATCHPOST_CONFIG=/app/config/watchlist.yaml \
    WATCHPOST_DATABASE_URL=sqlite:////data/watchpost.sqlite

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
RUN pip install ".[postgres]" \
    && useradd --system --uid 10001 --home-dir /data --create-home watchpost

COPY config ./config
USER watchpost
VOLUME ["/data"]
# `check` first: a bad watchlist stops the container with FILE:LINE errors in its log.
CMD ["sh", "-c", "watchpost check >/dev/null && exec watchpost run"]
