# linerec: one image for every Airflow component (api-server, scheduler, dag-processor, triggerer,
# Celery workers) and for CPU training: the pinned venv, Horovod built with Gloo (CPU), linerec.
# Build context: the repository root (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH

# Build tools and headers for the Horovod build (see FACTS: TF 2.21 needs highwayhash/farmhash),
# fonts for the synthetic corpus, ssh for multi-host horovodrun, curl for health checks.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake g++ make libhighwayhash-dev libfarmhash-dev \
      fonts-dejavu-core fonts-dejavu-extra fonts-liberation openssh-client curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/linerec
COPY requirements.txt requirements.lock ./
RUN python -m venv /opt/venv \
 && pip install --upgrade pip setuptools wheel \
 && pip install -r requirements.txt -c requirements.lock apache-airflow-providers-celery==3.26.0

COPY scripts/build_horovod.sh scripts/build_horovod.sh
RUN LINEREC_WHEEL_CACHE=/tmp/wheels scripts/build_horovod.sh /opt/venv/bin/python && rm -rf /tmp/wheels

COPY pyproject.toml ./
COPY linerec linerec
COPY tasks tasks
COPY sql sql
COPY dags dags
RUN pip install --no-deps -e .

RUN useradd --create-home --uid 50000 --gid 0 airflow && mkdir -p /opt/airflow && chown -R 50000:0 /opt/airflow
ENV AIRFLOW_HOME=/opt/airflow AIRFLOW__CORE__DAGS_FOLDER=/opt/linerec/dags LINEREC_STATE_DIR=/opt/airflow/state
USER 50000
