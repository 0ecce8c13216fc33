# The example project's image: the web server, the actors and migrations all run from it.
# See compose.yaml; build with `docker compose build` or `docker build -t walnats-django .`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The package and what the example project runs on (versions in pyproject.toml) before the rest
# of the code, so changes to the example project do not reinstall them. Editable: one copy of
# the code, in /app, where manage.py and uvicorn import it from. Not requirements.txt: the test
# tools and the nats-server binary stay out of the image (compose runs the nats image).
COPY pyproject.toml README.md ./
COPY walnats_django/ walnats_django/
RUN pip install -e '.[nkeys,example,metrics]'

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
