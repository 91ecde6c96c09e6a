"""The ``horovodrun`` command the training step builds, for one machine and for a cluster."""

import pytest

from tasks.training import horovod_command


def test_cluster_hosts_and_process_count_reach_horovodrun():
    cmd = horovod_command(8, "gpu1:4,gpu2:4", "/opt/venv/bin/python", ["--epochs", "3"])
    assert cmd == ["/opt/venv/bin/horovodrun", "--gloo", "-np", "8", "-H", "gpu1:4,gpu2:4",
                   "/opt/venv/bin/python", "-m", "linerec.train", "--epochs", "3"]


def test_default_runs_every_process_on_this_machine():
    cmd = horovod_command(2, None, "/v/bin/python", [])
    assert cmd[cmd.index("-H") + 1] == "localhost:2" and cmd[cmd.index("-np") + 1] == "2"


def test_zero_processes_is_refused():
    with pytest.raises(ValueError, match="num_processes must be >= 1"):
        horovod_command(0, None, "/v/bin/python", [])
