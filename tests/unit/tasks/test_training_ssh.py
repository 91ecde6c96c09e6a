"""How ``horovodrun`` reaches remote training hosts: the ssh port, key and network interface settings."""

import pytest

from linerec.infra.config import get_settings
from tasks.training import horovod_command


def test_ssh_port_and_key_reach_horovodrun_before_the_command():
    cmd = horovod_command(
        2, "a:1,b:1", "/v/bin/python", ["--epochs", "1"], ssh_port=2222, ssh_identity="/srv/keys/train_ed25519"
    )
    assert cmd[:10] == [
        "/v/bin/horovodrun",
        "--gloo",
        "-np",
        "2",
        "-H",
        "a:1,b:1",
        "-p",
        "2222",
        "-i",
        "/srv/keys/train_ed25519",
    ]
    assert cmd[10:] == ["/v/bin/python", "-m", "linerec.training.train", "--epochs", "1"]


def test_without_ssh_settings_ssh_uses_its_own_configuration():
    cmd = horovod_command(2, "a:1,b:1", "/v/bin/python", [])
    assert "-p" not in cmd and "-i" not in cmd


@pytest.mark.parametrize("path", ["keys/id", "/k/id; touch /tmp/x", "/k/my key", "/k/$(id)"])
def test_a_key_path_the_shell_would_split_or_expand_is_refused(path):
    # Horovod writes -i's value unquoted into the shell command it runs.
    with pytest.raises(ValueError, match="LINEREC_TRAIN_SSH_IDENTITY"):
        horovod_command(2, "a:1,b:1", "/v/bin/python", [], ssh_identity=path)


@pytest.mark.parametrize("port", [0, 65536])
def test_a_port_out_of_range_is_refused(port):
    with pytest.raises(ValueError, match="LINEREC_TRAIN_SSH_PORT"):
        horovod_command(2, "a:1,b:1", "/v/bin/python", [], ssh_port=port)


def test_settings_read_the_ssh_port_and_key(monkeypatch):
    monkeypatch.setenv("LINEREC_TRAIN_SSH_PORT", "2222")
    monkeypatch.setenv("LINEREC_TRAIN_SSH_IDENTITY", "/srv/keys/train_ed25519")
    settings = get_settings()
    assert (settings.train_ssh_port, str(settings.train_ssh_identity)) == (2222, "/srv/keys/train_ed25519")
    monkeypatch.delenv("LINEREC_TRAIN_SSH_PORT")
    monkeypatch.delenv("LINEREC_TRAIN_SSH_IDENTITY")
    assert (get_settings().train_ssh_port, get_settings().train_ssh_identity) == (None, None)


def test_network_interfaces_reach_horovodrun():
    cmd = horovod_command(1, "a:1", "/v/bin/python", [], network_interfaces=("eth1", "ib0"))
    assert cmd[cmd.index("--network-interfaces") + 1] == "eth1,ib0"
    assert cmd.index("--network-interfaces") < cmd.index("/v/bin/python")


@pytest.mark.parametrize("nic", ["eth0;id", "", "a b", "averyveryverylongname"])
def test_a_network_interface_that_is_no_interface_name_is_refused(nic):
    with pytest.raises(ValueError, match="LINEREC_TRAIN_NETWORK_INTERFACES"):
        horovod_command(1, "a:1", "/v/bin/python", [], network_interfaces=(nic,))


def test_settings_read_the_network_interfaces(monkeypatch):
    monkeypatch.setenv("LINEREC_TRAIN_NETWORK_INTERFACES", "eth1, ib0")
    assert get_settings().train_network_interfaces == ("eth1", "ib0")
