#!/bin/bash
# Kafka Connect in distributed mode, configured from the environment. Written by cdclab from the
# documented interface of the quay.io/debezium/connect image (debezium.io, "Container images"):
#   BOOTSTRAP_SERVERS (required), GROUP_ID (1), CONFIG_STORAGE_TOPIC, OFFSET_STORAGE_TOPIC,
#   STATUS_STORAGE_TOPIC (required), KEY_CONVERTER / VALUE_CONVERTER (JSON), REST_HOST_NAME,
#   REST_PORT (8083), ADVERTISED_HOST_NAME, ADVERTISED_PORT, OFFSET_FLUSH_INTERVAL_MS,
#   OFFSET_FLUSH_TIMEOUT_MS, SHUTDOWN_TIMEOUT (s), HEAP_OPTS, KAFKA_OPTS, LOG_LEVEL, and
#   CONNECT_<NAME> for any worker property <name> ('_' becomes '.', lower case).
# Values are never printed: a CONNECT_ variable may carry a SASL secret.
set -euo pipefail

if [ "${1:-start}" != start ]; then
  exec "$@"  # e.g. `docker run IMAGE bash`
fi

need() {
  if [ -z "${!1:-}" ]; then
    echo "docker-entrypoint: the environment variable $1 is required ($2)" >&2
    exit 64
  fi
}
need BOOTSTRAP_SERVERS "host:port of the Kafka brokers"
need CONFIG_STORAGE_TOPIC "the worker group's config topic"
need OFFSET_STORAGE_TOPIC "the worker group's offset topic"
need STATUS_STORAGE_TOPIC "the worker group's status topic"

PROPS=${KAFKA_HOME}/config/connect-distributed.properties
REST_PORT=${REST_PORT:-8083}
REST_HOST_NAME=${REST_HOST_NAME:-0.0.0.0}
{
  echo "# Written at start by /docker-entrypoint.sh from the container's environment."
  echo "bootstrap.servers=${BOOTSTRAP_SERVERS}"
  echo "group.id=${GROUP_ID:-1}"
  echo "config.storage.topic=${CONFIG_STORAGE_TOPIC}"
  echo "offset.storage.topic=${OFFSET_STORAGE_TOPIC}"
  echo "status.storage.topic=${STATUS_STORAGE_TOPIC}"
  echo "key.converter=${KEY_CONVERTER:-org.apache.kafka.connect.json.JsonConverter}"
  echo "value.converter=${VALUE_CONVERTER:-org.apache.kafka.connect.json.JsonConverter}"
  echo "listeners=http://${REST_HOST_NAME}:${REST_PORT}"
  echo "rest.advertised.host.name=${ADVERTISED_HOST_NAME:-$(hostname -i 2>/dev/null | cut -d' ' -f1)}"
  echo "rest.advertised.port=${ADVERTISED_PORT:-${REST_PORT}}"
  echo "offset.flush.interval.ms=${OFFSET_FLUSH_INTERVAL_MS:-60000}"
  echo "offset.flush.timeout.ms=${OFFSET_FLUSH_TIMEOUT_MS:-5000}"
  echo "task.shutdown.graceful.timeout.ms=$(( ${SHUTDOWN_TIMEOUT:-10} * 1000 ))"
  echo "plugin.path=${KAFKA_HOME}/connect"
} > "$PROPS"

# CONNECT_KEY_CONVERTER_SCHEMAS_ENABLE=false -> key.converter.schemas.enable=false; a later
# line wins in a properties file, so these override the lines above.
while IFS= read -r name; do
  property=$(echo "${name#CONNECT_}" | tr '[:upper:]_' '[:lower:].')
  printf '%s=%s\n' "$property" "${!name}" >> "$PROPS"
done < <(compgen -e | grep '^CONNECT_' || true)

sed -i "s/^log4j.rootLogger=.*/log4j.rootLogger=${LOG_LEVEL:-INFO}, stdout/" \
  "${KAFKA_HOME}/config/log4j.properties"

# The JVM becomes PID 1: `docker stop` reaches it, `jcmd 1` finds it, its stdout is the log.
# shellcheck disable=SC2086  # the options are lists of words
exec java ${HEAP_OPTS:--Xms256M -Xmx2G} ${KAFKA_OPTS:-} \
  -Dlog4j.configuration="file:${KAFKA_HOME}/config/log4j.properties" \
  -cp "${KAFKA_HOME}/libs/*" org.apache.kafka.connect.cli.ConnectDistributed "$PROPS"
