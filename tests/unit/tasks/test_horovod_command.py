"""The ``horovodrun`` command the training step builds, for one machine and for a cluster, and
what a trigger may ask of it: allowed hosts only, a bounded process count, no credentials in the
training processes' environment."""

import dataclasses

import pytest

from linerec.infra.config import get_settings
from tasks.training import check_hosts, check_hosts_connection, check_num_processes, horovod_command, training_env


def test_cluster_hosts_and_process_count_reach_horovodrun():
    cmd = horovod_command(8, "gpu1:4,gpu2:4", "/opt/venv/bin/python", ["--epochs", "3"])
    assert cmd == [
        "/opt/venv/bin/horovodrun",
        "--gloo",
        "-np",
        "8",
        "-H",
        "gpu1:4,gpu2:4",
        "/opt/venv/bin/python",
        "-m",
        "linerec.training.train",
        "--epochs",
        "3",
    ]


def test_default_runs_every_process_on_this_machine():
    cmd = horovod_command(2, None, "/v/bin/python", [])
    assert cmd[cmd.index("-H") + 1] == "localhost:2" and cmd[cmd.index("-np") + 1] == "2"


def test_zero_processes_is_refused():
    with pytest.raises(ValueError, match="num_processes must be >= 1"):
        horovod_command(0, None, "/v/bin/python", [])


ALLOWED = dataclasses.replace(
    get_settings(),
    train_hosts=("gpu1", "gpu2.cluster.local"),
    train_max_processes=8,
    train_hosts_connections=("linerec_gpu_hosts",),
    train_env=("MY_SITE_VAR",),
)


def test_allowed_hosts_are_normalised_and_must_hold_the_processes():
    assert check_hosts("gpu1:4,gpu2.cluster.local:4", 8, ALLOWED) == "gpu1:4,gpu2.cluster.local:4"
    assert check_hosts(" gpu1 , localhost:2", 3, ALLOWED) == "gpu1:1,localhost:2"
    assert check_hosts(None, 2, ALLOWED) == check_hosts("", 2, ALLOWED) == "localhost:2"
    with pytest.raises(ValueError, match="1 slots for 2 processes"):
        check_hosts("gpu1", 2, ALLOWED)


@pytest.mark.parametrize(
    "hosts, why",
    [
        ("evil.example.com:4", "not an allowed training host"),
        ("gpu3:4", "not an allowed training host"),
        ("-oProxyCommand=touch /tmp/x", "not a host name"),
        ("--gloo", "not a host name"),
        ("gpu1:4,-H", "not a host name"),
        ("root@gpu1:4", "not a host name"),
        ("gpu1 gpu2:4", "not a host name"),
        ("gpu1:-4", "no valid slot count"),
        ("gpu1:0", "no valid slot count"),
        ("gpu1:99", "no valid slot count"),
        ("gpu1:4;rm -rf /", "no valid slot count"),
        ("gpu1:4,,gpu2.cluster.local:4", "not a host name"),
    ],
)
def test_hosts_outside_the_allow_list_or_not_host_names_are_refused(hosts, why):
    with pytest.raises(ValueError, match=why):
        check_hosts(hosts, 1, ALLOWED)


def test_a_leading_dash_never_reaches_horovodrun():
    with pytest.raises(ValueError, match="starts with '-'"):
        horovod_command(2, "-np", "/v/bin/python", [])


@pytest.mark.parametrize("n", [0, -1, 9, 10**6, True, 2.0, "2", None])
def test_process_count_is_bounded_by_the_setting(n):
    with pytest.raises(ValueError, match="from 1 to 8"):
        check_num_processes(n, ALLOWED)


def test_process_count_within_the_bound_is_kept():
    assert [check_num_processes(n, ALLOWED) for n in (1, 8)] == [1, 8]


def test_only_configured_connections_give_the_host_list():
    assert check_hosts_connection("linerec_gpu_hosts", ALLOWED) == "linerec_gpu_hosts"
    for conn_id in ("linerec_postgres", "linerec_s3", "aws_default", ""):
        with pytest.raises(ValueError, match="not an allowed host-list connection"):
            check_hosts_connection(conn_id, ALLOWED)


def test_training_environment_is_an_allow_list_without_credentials():
    settings = dataclasses.replace(
        ALLOWED,
        database_url="postgresql+psycopg2://linerec:pg-pw-8f3e2a@db:5432/linerec",
        aws_secret_access_key="s3-secret-77c1d0",
        label_studio_api_key="ls-token-a1b2c3",
    )
    environ = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/w",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "2",
        "HOROVOD_GLOO_TIMEOUT_SECONDS": "60",
        "NCCL_SOCKET_IFNAME": "eth0",
        "TF_CPP_MIN_LOG_LEVEL": "1",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "LINEREC_STATE_DIR": "/state",
        "MY_SITE_VAR": "x",
        "SSH_AUTH_SOCK": "/tmp/ssh-x/agent.1",
        # credentials and what has nothing to do with training
        "DATABASE_URL": settings.database_url,
        "AWS_SECRET_ACCESS_KEY": "s3-secret-77c1d0",
        "AWS_ACCESS_KEY_ID": "linerec",
        "LABEL_STUDIO_API_KEY": "ls-token-a1b2c3",
        "AIRFLOW__CORE__FERNET_KEY": "fernet",
        "AIRFLOW_CONN_LINEREC_POSTGRES": "postgres://u:pw@h/db",
        "LINEREC_TEST_DATABASE_URL": "postgresql://u:other@h/db",
        "LINEREC_API_TOKEN": "t",
        "LINEREC_MIRROR": "https://linerec:pg-pw-8f3e2a@mirror",  # holds the database password
        "HOROVOD_SECRET_KEY": "k",
        "S3_ENDPOINT_URL": "http://s3:8333",
        "OTHER": "1",
    }
    env = training_env(settings, environ)
    assert env == {
        "PATH": f"{get_settings().python.rsplit('/', 1)[0]}:/usr/bin:/bin",
        "HOME": "/home/w",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "2",
        "HOROVOD_GLOO_TIMEOUT_SECONDS": "60",
        "NCCL_SOCKET_IFNAME": "eth0",
        "TF_CPP_MIN_LOG_LEVEL": "1",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "LINEREC_STATE_DIR": "/state",
        "MY_SITE_VAR": "x",
        "SSH_AUTH_SOCK": "/tmp/ssh-x/agent.1",
        "PYTHONUNBUFFERED": "1",
    }
