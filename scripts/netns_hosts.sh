#!/usr/bin/env bash
# Two training "hosts" on this machine, made of Linux network namespaces, for multi-host Horovod runs.
#
#   scripts/netns_hosts.sh up      create (or complete) them; prints the settings to export
#   scripts/netns_hosts.sh env     print those settings again
#   scripts/netns_hosts.sh status  what exists now
#   scripts/netns_hosts.sh down    remove everything `up` made
#
# Each host (default `a` and `b`) is a network namespace `<prefix>-<host>` with loopback up, its own
# address on a bridge in the root namespace, and an sshd of its own listening on that address. The
# bridge and the hosts' interface share one name, so Horovod finds it as the interface common to all
# hosts; the bridge's address (.1) is where the ranks reach horovodrun's rendezvous server.
# Every host sees the machine's one filesystem, which stands in for a shared filesystem.
#
# Everything `up` writes lives in NETNS_HOSTS_DIR (made by the script, mode 700): an ssh key made
# for the purpose, each sshd's host key and configuration, a known_hosts file holding those host
# keys, an ssh client configuration naming the hosts, `bin/ssh` (ssh with that configuration and
# strict host key checking: put it first on PATH), and `commands/<host>/`, where each sshd's
# ForceCommand keeps a copy of every command a client sent before running it. Outside that folder,
# `up` writes only /etc/netns/<namespace>/hosts (the hosts' names, seen inside the namespaces only)
# and makes sshd's privilege separation folder /run/sshd if missing; `down` removes them again.
# Needs root (namespaces, sshd) and `ip` (iproute2), sshd (openssh-server) and ssh (openssh-client).
#
# Settings (environment):
#   NETNS_HOSTS        host names, default "a b" (at most 250)
#   NETNS_PREFIX       prefix of the namespaces and interfaces, default "lrh" (1-8 of [a-z0-9])
#   NETNS_SUBNET       first three octets of the hosts' /24, default 10.213.77
#   NETNS_SSH_PORT     port of the hosts' sshd, default 2222
#   NETNS_HOSTS_DIR    the script's folder, default ${LINEREC_STATE_DIR:-<repo>/.state}/netns-hosts/<prefix>
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOSTS=(${NETNS_HOSTS:-a b})
PREFIX=${NETNS_PREFIX:-lrh}
SUBNET=${NETNS_SUBNET:-10.213.77}
PORT=${NETNS_SSH_PORT:-2222}
DIR=${NETNS_HOSTS_DIR:-${LINEREC_STATE_DIR:-$REPO/.state}/netns-hosts/$PREFIX}
IFACE="${PREFIX}net"      # the bridge in the root namespace and each host's interface: one name
MARKER=".netns-hosts"     # marks DIR as this script's (down removes only such a folder)
SSHD=${SSHD:-/usr/sbin/sshd}

say() { echo "[netns_hosts] $*"; }
die() { echo "[netns_hosts] ERROR: $*" >&2; exit 1; }

[[ $PREFIX =~ ^[a-z0-9]{1,8}$ ]] || die "NETNS_PREFIX must be 1-8 of [a-z0-9], got '$PREFIX'"
[[ $SUBNET =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "NETNS_SUBNET must be three octets (e.g. 10.213.77), got '$SUBNET'"
[[ $PORT =~ ^[0-9]{1,5}$ ]] || die "NETNS_SSH_PORT must be a port number, got '$PORT'"
((${#HOSTS[@]} >= 1 && ${#HOSTS[@]} <= 250)) || die "NETNS_HOSTS must name 1 to 250 hosts"
for h in "${HOSTS[@]}"; do
    [[ $h =~ ^[a-z0-9]{1,6}$ ]] || die "host name '$h': 1-6 of [a-z0-9] (it names an interface)"
done
[[ $DIR = /* ]] || DIR="$PWD/$DIR"

netns() { echo "$PREFIX-$1"; }
veth() { echo "$PREFIX-$1"; }          # the host's veth end in the root namespace
address() {
    local i
    for i in "${!HOSTS[@]}"; do
        if [[ ${HOSTS[$i]} = "$1" ]]; then echo "$SUBNET.$((i + 2))"; return 0; fi
    done
    return 1
}
sshd_pid() {  # the host's sshd listener, if it runs
    local pidfile="$DIR/$1/sshd.pid" pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ -r /proc/$pid/cmdline && $(tr '\0' ' ' </proc/"$pid"/cmdline) == *"$DIR/$1/sshd_config"* ]] && echo "$pid"
}
has_netns() { ip netns list 2>/dev/null | awk -v n="$1" '$1 == n {found = 1} END {exit !found}'; }

need_tools() {
    [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, sshd); run it as root"
    command -v ip >/dev/null || die "'ip' not found (apt-get install iproute2)"
    ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here"
    [[ -x $SSHD ]] || die "$SSHD not found (apt-get install openssh-server; scripts/setup.sh installs it)"
    command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || die "ssh not found (apt-get install openssh-client)"
    command -v unshare >/dev/null || die "'unshare' not found (apt-get install util-linux)"
}

make_dir() {
    if [[ -d $DIR && ! -e $DIR/$MARKER ]]; then
        die "$DIR exists and was not made by this script; set NETNS_HOSTS_DIR to another folder"
    fi
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    touch "$DIR/$MARKER"
    mkdir -p "$DIR/bin" "$DIR/commands"
    [[ -s $DIR/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N "" -C "linerec-netns-hosts-$PREFIX" -f "$DIR/id_ed25519"
    cp "$DIR/id_ed25519.pub" "$DIR/authorized_keys"
    chmod 600 "$DIR/authorized_keys"
    : >"$DIR/known_hosts.new"
    {
        echo "# ssh client configuration of the network-namespace hosts (scripts/netns_hosts.sh)"
        for h in "${HOSTS[@]}"; do
            printf 'Host %s\n    HostName %s\n    HostKeyAlias %s\n' "$h" "$(address "$h")" "$PREFIX-$h"
        done
        printf 'Host %s\n' "${HOSTS[*]}"
        printf '    UserKnownHostsFile "%s/known_hosts"\n    GlobalKnownHostsFile none\n' "$DIR"
        printf '    StrictHostKeyChecking yes\n    IdentitiesOnly yes\n    PasswordAuthentication no\n'
        printf '    BatchMode yes\n    CheckHostIP no\n    LogLevel ERROR\n'
        echo "# any other host: the usual configuration (-F skips it)"
        printf 'Match all\n    Include ~/.ssh/config\n    Include /etc/ssh/ssh_config\n'
    } >"$DIR/ssh_config"
    # ssh with this configuration. Strict host key checking is given first on the command line,
    # so a later "-o StrictHostKeyChecking=no" (horovodrun passes one) does not override it.
    cat >"$DIR/bin/ssh" <<EOF
#!/bin/sh
exec $(command -v ssh) -F '$DIR/ssh_config' -o StrictHostKeyChecking=yes "\$@"
EOF
    chmod 755 "$DIR/bin/ssh"
    # sshd's ForceCommand: a copy of the command the client sent, then the command, as sshd would run it.
    cat >"$DIR/record-command" <<'EOF'
#!/bin/sh
dir="$1/commands/$2"
mkdir -p "$dir"
printf '%s' "${SSH_ORIGINAL_COMMAND-}" >"$dir/$(date +%s%N)-$$.cmd"
if [ -n "${SSH_ORIGINAL_COMMAND-}" ]; then
    exec "${SHELL:-/bin/sh}" -c "$SSH_ORIGINAL_COMMAND"
fi
exec "${SHELL:-/bin/sh}" -l
EOF
    chmod 755 "$DIR/record-command"
}

make_host() {
    local h=$1 ns addr hdir other
    ns=$(netns "$h"); addr=$(address "$h"); hdir="$DIR/$h"
    mkdir -p "$hdir" "$DIR/commands/$h"
    [[ -s $hdir/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N "" -C "$PREFIX-$h" -f "$hdir/ssh_host_ed25519_key"
    echo "$PREFIX-$h $(cut -d' ' -f1,2 "$hdir/ssh_host_ed25519_key.pub")" >>"$DIR/known_hosts.new"
    cat >"$hdir/sshd_config" <<EOF
# sshd of network-namespace host $h (scripts/netns_hosts.sh)
ListenAddress $addr
Port $PORT
HostKey $hdir/ssh_host_ed25519_key
PidFile $hdir/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
AllowUsers $(id -un)
PermitRootLogin prohibit-password
# The key files are this script's, in its mode-700 folder; that folder may lie under a world-writable
# one (/tmp), which StrictModes would refuse.
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitUserEnvironment no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PrintMotd no
LogLevel VERBOSE
ForceCommand $DIR/record-command '$DIR' $h
EOF
    has_netns "$ns" || ip netns add "$ns"
    ip -n "$ns" link set lo up
    if ! ip link show "$(veth "$h")" >/dev/null 2>&1; then
        ip link add "$(veth "$h")" type veth peer name "$IFACE" netns "$ns"
    fi
    ip link set "$(veth "$h")" master "$IFACE" up
    ip -n "$ns" addr replace "$addr/24" dev "$IFACE"
    ip -n "$ns" link set "$IFACE" up
    # The host's name resolves to its own address inside every host (`ip netns exec` mounts
    # /etc/netns/<namespace>/hosts over /etc/hosts), and sshd runs with that name as its hostname
    # (a UTS namespace of its own): Gloo binds some of its connections to the address of the
    # host's own name, which must not be loopback.
    mkdir -p "/etc/netns/$ns"
    {
        echo "# hosts of network namespace $ns (scripts/netns_hosts.sh; removed by down)"
        echo "127.0.0.1 localhost"
        for other in "${HOSTS[@]}"; do echo "$(address "$other") $other"; done
    } >"/etc/netns/$ns/hosts"
    if ! sshd_pid "$h" >/dev/null; then
        if [[ ! -d /run/sshd ]]; then  # sshd's privilege separation folder
            mkdir -m 755 /run/sshd && touch "$DIR/made-run-sshd"
        fi
        ip netns exec "$ns" unshare --uts env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            sh -c 'hostname "$1" && exec "$2" -f "$3" -E "$4"' sh "$h" "$SSHD" "$hdir/sshd_config" "$hdir/sshd.log"
    fi
}

wait_ssh() {  # until every host answers over ssh with its known host key
    local h tries
    for h in "${HOSTS[@]}"; do
        for tries in $(seq 50); do
            "$DIR/bin/ssh" -p "$PORT" -i "$DIR/id_ed25519" -o ConnectTimeout=2 "$h" true 2>/dev/null && continue 2
            sleep 0.2
        done
        die "host $h does not answer over ssh (see $DIR/$h/sshd.log)"
    done
}

print_env() {
    local IFS=,
    cat <<EOF
export PATH="$DIR/bin:\$PATH"
export LINEREC_TRAIN_HOSTS="${HOSTS[*]}"
export LINEREC_TRAIN_SSH_PORT=$PORT
export LINEREC_TRAIN_SSH_IDENTITY="$DIR/id_ed25519"
export LINEREC_TRAIN_NETWORK_INTERFACES=$IFACE
EOF
}

up() {
    need_tools
    make_dir
    if ! ip link show "$IFACE" >/dev/null 2>&1; then
        ip link add "$IFACE" type bridge
    fi
    ip addr replace "$SUBNET.1/24" dev "$IFACE"
    ip link set "$IFACE" up
    local h
    for h in "${HOSTS[@]}"; do make_host "$h"; done
    mv "$DIR/known_hosts.new" "$DIR/known_hosts"
    wait_ssh
    say "hosts up: $(for h in "${HOSTS[@]}"; do printf '%s=%s ' "$h" "$(address "$h")"; done)(sshd on port $PORT, folder $DIR)"
    say "to train on them, export:"
    print_env
}

down() {
    need_tools
    local h ns pid
    for h in "${HOSTS[@]}"; do
        ns=$(netns "$h")
        if has_netns "$ns"; then
            # every process in the namespace: its sshd and whatever sessions left behind
            for pid in $(ip netns pids "$ns"); do kill "$pid" 2>/dev/null || true; done
            for _ in $(seq 25); do [[ -z $(ip netns pids "$ns") ]] && break; sleep 0.2; done
            for pid in $(ip netns pids "$ns"); do kill -KILL "$pid" 2>/dev/null || true; done
            ip netns del "$ns"
        fi
        rm -f "/etc/netns/$ns/hosts"
        rmdir "/etc/netns/$ns" 2>/dev/null || true
        ip link del "$(veth "$h")" 2>/dev/null || true
    done
    ip link del "$IFACE" 2>/dev/null || true
    rmdir /etc/netns 2>/dev/null || true  # when no other namespace has files there
    if [[ -e $DIR/made-run-sshd ]]; then  # unless another sshd runs (the killed ones may take a moment)
        for _ in $(seq 25); do pgrep -x sshd >/dev/null || break; sleep 0.2; done
        pgrep -x sshd >/dev/null || rmdir /run/sshd 2>/dev/null || true
    fi
    if [[ -e $DIR/$MARKER ]]; then
        rm -rf "$DIR"
        [[ -n ${NETNS_HOSTS_DIR:-} ]] || rmdir "$(dirname "$DIR")" 2>/dev/null || true
    elif [[ -d $DIR ]]; then
        say "left $DIR alone: not made by this script"
    fi
    say "hosts down: ${HOSTS[*]} (prefix $PREFIX)"
}

status() {
    local h ns rc=0
    ip link show "$IFACE" >/dev/null 2>&1 && say "bridge $IFACE: up ($SUBNET.1)" || { say "bridge $IFACE: absent"; rc=1; }
    for h in "${HOSTS[@]}"; do
        ns=$(netns "$h")
        if has_netns "$ns"; then
            say "host $h: namespace $ns, address $(address "$h"), sshd $(sshd_pid "$h" || echo 'not running')"
        else
            say "host $h: absent"; rc=1
        fi
    done
    return $rc
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    env) [[ -e $DIR/$MARKER ]] || die "no hosts made in $DIR (run: $0 up)"; print_env ;;
    status) status ;;
    *) echo "usage: $0 up|down|env|status" >&2; exit 2 ;;
esac
