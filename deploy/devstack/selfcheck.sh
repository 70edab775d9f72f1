#!/usr/bin/env bash
# Smoke test of connect_devstack: fresh venv, `up`, talk to each component, `down`,
# check nothing is left running. Usage: bash deploy/devstack/selfcheck.sh [rounds]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
rounds="${1:-2}"
venv="${DEVSTACK_SELFCHECK_VENV:-/tmp/connect-devstack-selfcheck-venv}"
state="$(mktemp -d /tmp/connect-devstack-selfcheck.XXXXXX)"
py="$venv/bin/python"
trap '"$py" -m connect_devstack down --state "$state" >/dev/null 2>&1 || true' EXIT

[ -x "$py" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q -e "$repo/deploy/devstack"
# Variables from an outer devstack would be passed through instead of started.
unset KAFKA_BOOTSTRAP_SERVERS DATABASE_URL SFTP_TEST_URL DEVSTACK_STATE_DIR
kafka_cli() {
  java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$repo/deploy/kafka/log4j2.xml" \
    -Dkafka.logs.dir="$state" -cp "$repo/deploy/kafka/lib/*" "$@"
}

for round in $(seq 1 "$rounds"); do
  began=$(date +%s.%N)
  "$py" -m connect_devstack up --state "$state" >/dev/null
  echo "round $round: up took $(echo "$(date +%s.%N) - $began" | bc)s"
  # shellcheck disable=SC1091
  . "$state/env"

  dbs=$(psql "$DATABASE_URL/postgres" -Atc \
    "select string_agg(datname, ',' order by datname) from pg_database where datname in ('scheduler','catalog','audience','vault')")
  [ "$dbs" = "audience,catalog,scheduler,vault" ] || { echo "databases: $dbs"; exit 1; }

  port=$(sed -E 's#^sftp://[^@]+@[^:]+:([0-9]+)/.*#\1#' <<<"$SFTP_TEST_URL")
  data="$state/sshd/data"
  echo hi >"$data/probe.txt"
  listing=$(printf 'ls %s\n' "$data" | sftp -q -b - -i "$state/sshd/id_ed25519" -P "$port" \
    -o UserKnownHostsFile="$SFTP_TEST_KNOWN_HOSTS" -o StrictHostKeyChecking=yes "$(id -un)@127.0.0.1")
  grep -q probe.txt <<<"$listing" || { echo "sftp listing: $listing"; exit 1; }

  kafka_cli org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" \
    --create --topic selfcheck --partitions 2 >/dev/null
  topics=$(kafka_cli org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --list)
  [ "$topics" = "selfcheck" ] || { echo "topics: $topics"; exit 1; }

  "$py" -m connect_devstack status --state "$state"
  began=$(date +%s.%N)
  "$py" -m connect_devstack down --state "$state"
  echo "round $round: down took $(echo "$(date +%s.%N) - $began" | bc)s"
  # Zombies (<defunct>) are not processes left running: they wait for PID 1 to reap them.
  if ps -eo stat=,args= | grep -F "$state" | grep -v '^Z' | grep -v grep; then
    echo "processes left behind"; exit 1
  fi
  unset KAFKA_BOOTSTRAP_SERVERS DATABASE_URL SFTP_TEST_URL DEVSTACK_STATE_DIR
done
rm -rf "$state"
echo "selfcheck OK"
