# linerec GPU trainer: TensorFlow 2.21 with CUDA, Horovod 0.28.1 built against NCCL (allreduce on
# the GPUs) with Gloo as the controller, sshd for multi-host horovodrun, and an Airflow Celery
# worker on the `gpu` queue so the training DAG's `train` task lands here.
# Build context: the repository root (see docker-compose.yml).
FROM nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH

# NCCL (headers + library) from the CUDA repository the base image already configures.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3.11 python3.11-venv python3.11-dev cmake g++ make libhighwayhash-dev libfarmhash-dev \
      libnccl2 libnccl-dev openssh-server openssh-client curl fonts-dejavu-core fonts-liberation \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /run/sshd

WORKDIR /opt/linerec
COPY requirements.txt requirements.lock ./
# The CPU wheel of requirements.txt is swapped for TensorFlow with its CUDA libraries.
RUN python3.11 -m venv /opt/venv \
 && pip install --upgrade pip setuptools wheel \
 && grep -v '^tensorflow-cpu==' requirements.txt > /tmp/requirements-gpu.txt \
 && pip install -r /tmp/requirements-gpu.txt -c requirements.lock \
      "tensorflow[and-cuda]==2.21.0" apache-airflow-providers-celery==3.26.0

COPY deploy/build_horovod_gpu.sh /opt/linerec/deploy/build_horovod_gpu.sh
RUN deploy/build_horovod_gpu.sh /opt/venv/bin/python

COPY pyproject.toml ./
COPY linerec linerec
COPY tasks tasks
COPY sql sql
COPY dags dags
RUN pip install --no-deps -e .

ENV AIRFLOW_HOME=/opt/airflow AIRFLOW__CORE__DAGS_FOLDER=/opt/linerec/dags LINEREC_STATE_DIR=/opt/airflow/state \
    NCCL_DEBUG=WARN
