# riskapp image: one image for web, workers and beat. CPU torch by default; GPU workers use the
# NVIDIA runtime with the same image (torch finds CUDA through the driver the runtime mounts).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RISKAPP_VAR_DIR=/var/lib/riskapp

# WeasyPrint needs Pango; libgomp for torch/sklearn.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core libgomp1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY riskapp ./riskapp
COPY workers ./workers
COPY templates ./templates
COPY manage.py ./
RUN pip install --upgrade pip && pip install .

RUN useradd --system --home /var/lib/riskapp riskapp && mkdir -p /var/lib/riskapp && chown riskapp /var/lib/riskapp
USER riskapp

RUN RISKAPP_SECRET_KEY=build-only python manage.py collectstatic --noinput

EXPOSE 8000
CMD ["gunicorn", "riskapp.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120", "--access-logfile", "-"]
