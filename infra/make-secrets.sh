#!/usr/bin/env sh
# Makes the secret files docker-compose.yml reads, with random values, in ./secrets/ (git and the
# image ignore it). Existing files are kept: delete one and run again to rotate it.
set -eu
cd "$(dirname "$0")/.."
mkdir -p secrets && chmod 700 secrets
make() { [ -s "secrets/$1" ] || printf '%s' "$2" > "secrets/$1"; }
random() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }
make postgres_password "$(random)"
make redis_password "$(random)"
make minio_user musicflow
make minio_password "$(random)"
make api_token "$(random)"
make grafana_password "$(random)"
# The AWS SDK's shared credentials file: the services reach MinIO with its root user.
make aws_credentials "$(printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$(cat secrets/minio_user)" "$(cat secrets/minio_password)")"
# The containers run as other users than yours (node, redis, postgres): they must be able to read the files.
chmod 644 secrets/*
echo "secrets in $(pwd)/secrets: $(ls secrets | tr '\n' ' ')"
