# The example project's image: the web server, the actors and migrations all run from it.
# See compose.yaml; build with `docker compose build` or `docker build -t walnats-django .`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# var/ holds the SQLite database (a volume in compose.yaml); never ship a local one.
# It belongs to the unprivileged user, and a new named volume mounted there inherits that.
RUN useradd --create-home --uid 10001 app \
    && rm -rf /app/var \
    && mkdir /app/var \
    && chown app:app /app/var
USER app

EXPOSE 8000
CMD ["uvicorn", "project.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "on"]
