#!/bin/sh
# Entry point of docker-compose's `s3` service: writes SeaweedFS's S3 identities from the
# environment, one per role, then starts the server (`weed "$@" -s3.config=<that file>`).
#
#   pipeline     S3_ACCESS_KEY / S3_SECRET_KEY: the bucket, all of it (Airflow workers, trainer)
#   inbox        S3_INBOX_ACCESS_KEY / S3_INBOX_SECRET_KEY: write (and list) under inbox/ only;
#                it cannot read, overwrite or delete anything, not even in inbox/
#   labelstudio  S3_LABELSTUDIO_ACCESS_KEY / S3_LABELSTUDIO_SECRET_KEY: read and list the bucket
#
# Nothing has a default: a missing or empty variable, two roles sharing an access key, or a
# secret key shorter than 16 characters stops the service with a message naming the variable.
# The bucket is LINEREC_S3_BUCKET (default linerec). Keys may hold letters, digits and ._~+/=-
# (what access key generators produce), so the JSON needs no escaping.
set -eu

die() { echo "seaweedfs-s3.sh: $*" >&2; exit 64; }

bucket=${LINEREC_S3_BUCKET:-linerec}
config=${S3_CONFIG_FILE:-/tmp/linerec-s3.json}
case $bucket in '' | *[!a-z0-9.-]*) die "LINEREC_S3_BUCKET '$bucket' is not a bucket name" ;; esac

for name in S3_ACCESS_KEY S3_SECRET_KEY S3_INBOX_ACCESS_KEY S3_INBOX_SECRET_KEY \
            S3_LABELSTUDIO_ACCESS_KEY S3_LABELSTUDIO_SECRET_KEY; do
    eval "value=\${$name:-}"
    [ -n "$value" ] || die "$name is not set (see README, Deployment)"
    case $value in *[!A-Za-z0-9._~+/=-]*) die "$name holds a character other than letters, digits and ._~+/=-" ;; esac
    case $name in *SECRET_KEY) [ ${#value} -ge 16 ] || die "$name is shorter than 16 characters" ;; esac
done
[ "$S3_ACCESS_KEY" != "$S3_INBOX_ACCESS_KEY" ] && [ "$S3_ACCESS_KEY" != "$S3_LABELSTUDIO_ACCESS_KEY" ] &&
    [ "$S3_INBOX_ACCESS_KEY" != "$S3_LABELSTUDIO_ACCESS_KEY" ] ||
    die "S3_ACCESS_KEY, S3_INBOX_ACCESS_KEY and S3_LABELSTUDIO_ACCESS_KEY must differ (one identity per role)"

identity() {  # name access-key secret-key actions...
    name=$1 access=$2 secret=$3
    shift 3
    actions=""
    for action in "$@"; do actions="$actions${actions:+, }\"$action\""; done
    printf '    {"name": "%s", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], "actions": [%s]}' \
        "$name" "$access" "$secret" "$actions"
}

umask 077
{
    printf '{\n  "identities": [\n'
    identity pipeline "$S3_ACCESS_KEY" "$S3_SECRET_KEY" \
        "Admin:$bucket" "Read:$bucket" "Write:$bucket" "List:$bucket" "Tagging:$bucket"
    printf ',\n'
    identity inbox "$S3_INBOX_ACCESS_KEY" "$S3_INBOX_SECRET_KEY" "Write:$bucket/inbox/*" "List:$bucket/inbox/*"
    printf ',\n'
    identity labelstudio "$S3_LABELSTUDIO_ACCESS_KEY" "$S3_LABELSTUDIO_SECRET_KEY" "Read:$bucket" "List:$bucket"
    printf '\n  ]\n}\n'
} > "$config.tmp"
mv "$config.tmp" "$config"
exec weed "$@" "-s3.config=$config"
