#!/usr/bin/env bash
# UIT-Go on a local kind cluster with Knative Serving, Kourier and Knative Eventing (for the JetStream
# sources), Prometheus and Grafana, an OpenTelemetry Collector with Jaeger (traces) and Loki with Alloy (logs), NATS
# with JetStream, the NACK controller, KEDA (scaling the sources), Redis, and PostgreSQL (a CloudNativePG cluster, read
# replica and PgBouncer pooler per region shard). docs/runbook.md walks through it.
#
#   infra/cluster.sh up        create + install + images + deploy, stopping at the first step that fails
#   infra/cluster.sh create    the kind cluster (infra/kind-config.yaml)
#   infra/cluster.sh install   Knative, Prometheus + Grafana, collector + Jaeger + Loki + Alloy, NATS, NACK, KEDA,
#                              CloudNativePG, the shard databases, Redis
#   infra/cluster.sh images    build one image per function and source, load them into kind
#   infra/cluster.sh deploy    Secret, schema, streams and consumers, functions and sources, scrape targets, dashboards
#   infra/cluster.sh status    what is running
#   infra/cluster.sh k6 <script.js> [KEY=value ...]
#                              run loadtests/k6/<script.js> in the cluster as a Job; print its summary
#   infra/cluster.sh down      delete the cluster
#
# Needs docker, kind, kubectl and helm on PATH, and the npm dependencies (npm ci).
#
# Every step runs with errexit: steps are called as plain commands, never from an `&&` list, `||` or an
# `if` (bash switches errexit off inside a function called there), and command output is captured into a
# variable before it is used, so a failing command cannot hide behind a pipe or a process substitution.
# The EXIT trap names the step that failed. tests/deploy/cluster-script.test.ts runs this file against
# stand-in commands to hold it to that.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

# Pinned releases. Where each was found is in docs/runbook.md ("Versions").
KNATIVE_SERVING_VERSION=1.23.0
KNATIVE_KOURIER_VERSION=1.23.0
KNATIVE_EVENTING_VERSION=1.23.0
NATS_CHART_VERSION=2.14.6
NACK_CHART_VERSION=0.36.0
CNPG_VERSION=1.29.1
KUBE_PROMETHEUS_STACK_VERSION=91.4.1
KEDA_CHART_VERSION=2.20.2
OTEL_COLLECTOR_CHART_VERSION=0.170.0
JAEGER_CHART_VERSION=4.11.1
LOKI_CHART_VERSION=18.11.0
ALLOY_CHART_VERSION=1.11.1

CLUSTER=uitgo
FUNCTIONS_NS=default
DATA_NS=uitgo-data
NATS_NS=nats
MONITORING_NS=monitoring
KEDA_NS=keda
WAIT=600s

STEP=""
log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
# The unit a failure is reported by: the last step started.
step() {
  STEP=$*
  log "$*"
}
report_failure() {
  local status=$?
  if [[ ${status} -ne 0 && -n ${STEP} ]]; then
    printf 'infra/cluster.sh: step "%s" failed (exit %d); nothing after it ran\n' "${STEP}" "${status}" >&2
  fi
}
trap report_failure EXIT

manifests() { node --import tsx infra/manifests/cli.ts "$@"; }

require() {
  local missing=() tool
  for tool in "$@"; do
    command -v "${tool}" >/dev/null || missing+=("${tool}")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "missing on PATH: ${missing[*]} (see docs/runbook.md, \"Before you start\")" >&2
    exit 1
  fi
}

# A command with a few retries: right after a CRD or a webhook is installed, the API server can refuse
# for a moment. Only for commands that are safe to repeat (apply, patch).
retry() {
  local attempt
  for attempt in 1 2 3 4 5; do
    if "$@"; then return 0; fi
    echo "$1 $2 failed (attempt ${attempt} of 5), retrying in 10 s" >&2
    sleep 10
  done
  return 1
}
apply() { retry kubectl apply "$@"; }

# Rendered manifests go through a file, not a pipe, so that apply can retry them.
apply_rendered() {
  local rendered
  rendered=$(mktemp)
  manifests "$@" >"${rendered}"
  apply -f "${rendered}"
  rm -f "${rendered}"
}

create() {
  step "create: kind cluster ${CLUSTER}"
  require docker kind kubectl
  local clusters
  clusters=$(kind get clusters)
  if grep -qx "${CLUSTER}" <<<"${clusters}"; then
    log "kind cluster ${CLUSTER} exists"
  else
    kind create cluster --config infra/kind-config.yaml --wait 120s
  fi
  kubectl config use-context "kind-${CLUSTER}" >/dev/null
}

# A merge patch of one of Knative Serving's ConfigMaps. Its webhook validates them (failurePolicy: Fail),
# so this runs only after wait_for_serving_webhook, and retries while the webhook's endpoints settle.
patch_serving_config() {
  retry kubectl patch "configmap/$1" -n knative-serving --type merge -p "$2"
}

wait_for_serving_webhook() {
  kubectl wait deployment/webhook -n knative-serving --for=condition=Available --timeout="${WAIT}"
}

install_knative() {
  local serving="https://github.com/knative/serving/releases/download/knative-v${KNATIVE_SERVING_VERSION}"
  local eventing="https://github.com/knative/eventing/releases/download/knative-v${KNATIVE_EVENTING_VERSION}"
  local kourier="https://github.com/knative-extensions/net-kourier/releases/download/knative-v${KNATIVE_KOURIER_VERSION}/kourier.yaml"

  step "install: Knative Serving ${KNATIVE_SERVING_VERSION} CRDs"
  apply -f "${serving}/serving-crds.yaml"
  kubectl wait --for=condition=Established --all crd --timeout="${WAIT}"

  step "install: Knative Serving ${KNATIVE_SERVING_VERSION} and Kourier ${KNATIVE_KOURIER_VERSION}"
  apply -f "${serving}/serving-core.yaml"
  apply -f "${kourier}"
  apply -f infra/knative/kourier-nodeport.yaml
  kubectl wait deployment --all -n knative-serving --for=condition=Available --timeout="${WAIT}"
  kubectl wait deployment --all -n kourier-system --for=condition=Available --timeout="${WAIT}"

  # kn-plugin-quickstart does the same: the webhook first, then the ConfigMaps.
  step "install: Knative Serving configuration (after its webhook is ready)"
  wait_for_serving_webhook
  patch_serving_config config-network '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
  # <function>.<namespace>.127.0.0.1.sslip.io resolves to 127.0.0.1, where kind's port 80 is.
  patch_serving_config config-domain '{"data":{"127.0.0.1.sslip.io":""}}'
  # Images are loaded into kind, not pushed: Knative must not try to resolve their tags through a registry.
  # (This is Knative's default list, stated because the image names in knative/ depend on it.)
  patch_serving_config config-deployment '{"data":{"registries-skipping-tag-resolving":"kind.local,ko.local,dev.local"}}'
  # Knative exports no metrics or traces until told how: the control plane (autoscaler, activator) and the
  # queue-proxies (request metrics, on each pod's http-usermetric port) both as Prometheus endpoints, and
  # the activator's and queue-proxies' spans as OTLP to the collector (infra/monitoring/telemetry.ts,
  # KNATIVE_TRACING), where they join the functions' traces. The components read this at start-up, hence
  # the restart, and a revision's queue-proxy when the revision is created, so this comes before any
  # function is deployed. Until the collector is installed (install_telemetry) their exporter retries.
  patch_serving_config config-observability '{"data":{"metrics-protocol":"prometheus","request-metrics-protocol":"prometheus","tracing-protocol":"http/protobuf","tracing-endpoint":"http://otel-collector.monitoring.svc.cluster.local:4318/v1/traces","tracing-sampling-rate":"1"}}'
  kubectl rollout restart deployment -n knative-serving
  kubectl rollout status deployment -n knative-serving --timeout="${WAIT}"
  wait_for_serving_webhook

  # ContainerSource, which runs the JetStream sources, is part of Eventing core; no broker or channel is needed.
  step "install: Knative Eventing ${KNATIVE_EVENTING_VERSION} CRDs"
  apply -f "${eventing}/eventing-crds.yaml"
  kubectl wait --for=condition=Established --all crd --timeout="${WAIT}"
  step "install: Knative Eventing ${KNATIVE_EVENTING_VERSION} core"
  apply -f "${eventing}/eventing-core.yaml"
  kubectl wait deployment --all -n knative-eventing --for=condition=Available --timeout="${WAIT}"
}

install_monitoring() {
  step "install: Prometheus and Grafana (kube-prometheus-stack chart ${KUBE_PROMETHEUS_STACK_VERSION})"
  helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
  # --wait: the chart brings prometheus-operator's CRDs (PodMonitor, ServiceMonitor) that the NATS chart
  # and monitoring_resources create objects of.
  helm upgrade --install monitoring prometheus-community/kube-prometheus-stack --version "${KUBE_PROMETHEUS_STACK_VERSION}" \
    -n "${MONITORING_NS}" --create-namespace -f infra/values/monitoring.yaml --wait --timeout "${WAIT}"
  monitoring_resources
}

# Traces: the functions, the sources and Knative's activator and queue-proxies send OTLP to the collector,
# which forwards them to Jaeger (in memory). Logs: Alloy tails every pod's log through the API server into
# Loki. Grafana (install_monitoring) already has both as datasources, a log line's trace_id linked to its
# trace (infra/values/monitoring.yaml). All in the monitoring namespace, where Grafana is.
install_telemetry() {
  step "install: Jaeger (chart ${JAEGER_CHART_VERSION})"
  helm repo add jaegertracing https://jaegertracing.github.io/helm-charts --force-update >/dev/null
  helm upgrade --install jaeger jaegertracing/jaeger --version "${JAEGER_CHART_VERSION}" \
    -n "${MONITORING_NS}" --create-namespace -f infra/values/jaeger.yaml --wait --timeout "${WAIT}"
  step "install: OpenTelemetry Collector (chart ${OTEL_COLLECTOR_CHART_VERSION})"
  helm repo add open-telemetry https://open-telemetry.github.io/opentelemetry-helm-charts --force-update >/dev/null
  helm upgrade --install otel-collector open-telemetry/opentelemetry-collector --version "${OTEL_COLLECTOR_CHART_VERSION}" \
    -n "${MONITORING_NS}" -f infra/values/otel-collector.yaml --wait --timeout "${WAIT}"
  step "install: Loki (chart ${LOKI_CHART_VERSION})"
  # The Loki project's chart for Loki OSS lives in grafana-community/helm-charts since March 2026.
  helm repo add grafana-community https://grafana-community.github.io/helm-charts --force-update >/dev/null
  helm upgrade --install loki grafana-community/loki --version "${LOKI_CHART_VERSION}" \
    -n "${MONITORING_NS}" -f infra/values/loki.yaml --wait --timeout "${WAIT}"
  step "install: Alloy (chart ${ALLOY_CHART_VERSION})"
  helm repo add grafana https://grafana.github.io/helm-charts --force-update >/dev/null
  helm upgrade --install alloy grafana/alloy --version "${ALLOY_CHART_VERSION}" \
    -n "${MONITORING_NS}" -f infra/values/alloy.yaml --wait --timeout "${WAIT}"
}

# The scrape targets and the dashboard ConfigMaps (infra/monitoring), rendered from the code.
monitoring_resources() {
  step "scrape targets and dashboards"
  apply_rendered monitoring
}

install_nats() {
  step "install: NATS with JetStream (chart ${NATS_CHART_VERSION})"
  helm repo add nats https://nats-io.github.io/k8s/helm/charts/ --force-update >/dev/null
  helm upgrade --install nats nats/nats --version "${NATS_CHART_VERSION}" \
    -n "${NATS_NS}" --create-namespace -f infra/values/nats.yaml --wait --timeout "${WAIT}"
  step "install: NACK (chart ${NACK_CHART_VERSION})"
  helm upgrade --install nack nats/nack --version "${NACK_CHART_VERSION}" \
    -n "${NATS_NS}" -f infra/values/nack.yaml --wait --timeout "${WAIT}"
}

# KEDA scales the JetStream sources on their consumers' lag (the ScaledObjects in knative/source-*.yaml).
install_keda() {
  step "install: KEDA (chart ${KEDA_CHART_VERSION})"
  helm repo add kedacore https://kedacore.github.io/charts --force-update >/dev/null
  # --wait: the chart brings the ScaledObject CRD and the admission webhook that validates ScaledObjects.
  helm upgrade --install keda kedacore/keda --version "${KEDA_CHART_VERSION}" \
    -n "${KEDA_NS}" --create-namespace --wait --timeout "${WAIT}"
}

install_data() {
  step "install: CloudNativePG ${CNPG_VERSION}"
  # Server-side apply, as CloudNativePG's install instructions say: its CRDs are too large for a client-side apply's annotation.
  apply --server-side -f "https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/release-${CNPG_VERSION%.*}/releases/cnpg-${CNPG_VERSION}.yaml"
  kubectl rollout status deployment/cnpg-controller-manager -n cnpg-system --timeout="${WAIT}"
  step "install: the shard databases and Redis"
  local namespace
  namespace=$(kubectl create namespace "${DATA_NS}" --dry-run=client -o yaml)
  printf '%s\n' "${namespace}" | apply -f -
  apply -f infra/data/postgres.yaml
  apply -f infra/data/redis.yaml
  kubectl wait cluster.postgresql.cnpg.io --all -n "${DATA_NS}" --for=condition=Ready --timeout="${WAIT}"
  kubectl rollout status deployment/redis -n "${DATA_NS}" --timeout="${WAIT}"
}

install() {
  step "install: tools"
  require kubectl helm
  install_knative
  # Before NATS: the NATS chart's PodMonitor needs the CRDs this chart installs.
  install_monitoring
  install_telemetry
  install_nats
  install_keda
  install_data
}

images() {
  step "images: the bundles"
  require docker kind
  npm run -s build
  # One image per bundle, tagged by content (infra/manifests/cli.ts images) and also :dev for knative/ as committed.
  local list image bundle loaded=()
  list=$(manifests images)
  while read -r image bundle; do
    step "images: ${image}"
    docker build -q -f infra/Dockerfile --build-arg "BUNDLE=${bundle}" -t "${image}" -t "${image%:*}:dev" . >/dev/null
    loaded+=("${image}" "${image%:*}:dev")
  done <<<"${list}"
  step "images: loading ${#loaded[@]} image tags into kind"
  kind load docker-image --name "${CLUSTER}" "${loaded[@]}"
}

# The Secret the functions read: a JWT secret (kept across deploys, so tokens stay valid) and each
# shard's URLs, built from the password CloudNativePG generated for the owner (<cluster>-app).
secret() {
  step "deploy: Secret ${FUNCTIONS_NS}/uitgo-secrets"
  local jwt regions region cluster password lines rendered
  # --ignore-not-found: a missing Secret (the first deploy) is an empty answer, any other error stops here.
  jwt=$(kubectl get secret uitgo-secrets -n "${FUNCTIONS_NS}" --ignore-not-found -o jsonpath='{.data.JWT_SECRET}')
  if [[ -n ${jwt} ]]; then
    jwt=$(base64 -d <<<"${jwt}")
  else
    jwt=$(node -e 'console.log(require("node:crypto").randomBytes(32).toString("hex"))')
  fi
  lines="JWT_SECRET=${jwt}"
  regions=$(manifests regions)
  while read -r region cluster; do
    password=$(kubectl get secret "${cluster}-app" -n "${DATA_NS}" -o jsonpath='{.data.password}')
    password=$(base64 -d <<<"${password}")
    lines+=$'\n'"password.${region}=${password}"
  done <<<"${regions}"
  rendered=$(manifests secret <<<"${lines}")
  printf '%s\n' "${rendered}" | kubectl apply -f -
}

# db/schema.sql on each shard's primary, as the owner (SET ROLE) so the tables belong to the role the
# functions log in as. It is idempotent, so every deploy applies it.
# statement_timeout: postgres.js asks for it at connect time (2 × DEPENDENCY_TIMEOUT_MS, see
# shared/clients/postgres.ts), which PgBouncer ignores (infra/data/postgres.yaml); the role default
# keeps the same limit behind the pooler.
schema() {
  local regions region cluster primary
  regions=$(manifests regions)
  while read -r region cluster; do
    step "deploy: schema on ${cluster}"
    primary=$(kubectl get cluster.postgresql.cnpg.io "${cluster}" -n "${DATA_NS}" -o jsonpath='{.status.currentPrimary}')
    kubectl exec -i -n "${DATA_NS}" "${primary}" -c postgres -- psql -q -v ON_ERROR_STOP=1 -d uitgo \
      -c "ALTER ROLE uitgo SET statement_timeout = '4s'" -c "SET ROLE uitgo" -f - <db/schema.sql
  done <<<"${regions}"
}

deploy() {
  step "deploy: tools"
  require kubectl
  secret
  schema
  step "deploy: streams and consumers (NACK)"
  apply -f nats/nack/
  step "deploy: functions"
  apply -f knative/config.yaml
  # knative/ as committed, but each image at its content tag, so every code change is a new revision and
  # an old revision keeps the image it was created with (rollback works). The tags come from the bundles
  # in dist/, so run `images` first after any change.
  apply_rendered deploy functions
  kubectl wait ksvc --all -n "${FUNCTIONS_NS}" --for=condition=Ready --timeout="${WAIT}"
  # Only now the sources: their sink (K_SINK) resolves at once, instead of their first pods exiting
  # without it until the functions exist.
  step "deploy: sources"
  apply_rendered deploy sources
  kubectl wait containersource --all -n "${FUNCTIONS_NS}" --for=condition=Ready --timeout="${WAIT}"
  # Ready once KEDA has read each consumer's lag from NATS' monitoring port.
  kubectl wait scaledobject --all -n "${FUNCTIONS_NS}" --for=condition=Ready --timeout="${WAIT}"
  # Again on every deploy: the dashboards follow the code's functions and metrics.
  monitoring_resources
  status
}

status() {
  step "status"
  kubectl get ksvc -n "${FUNCTIONS_NS}"
  kubectl get containersource -n "${FUNCTIONS_NS}"
  kubectl get scaledobject,hpa -n "${FUNCTIONS_NS}"
  kubectl get pingsource -n "${FUNCTIONS_NS}"
  kubectl get streams.jetstream.nats.io,consumers.jetstream.nats.io -n "${NATS_NS}"
  kubectl get cluster.postgresql.cnpg.io,pooler.postgresql.cnpg.io -n "${DATA_NS}"
  kubectl get deployments,statefulsets -n "${MONITORING_NS}" -l "app.kubernetes.io/instance in (otel-collector,jaeger,loki,alloy)"
  kubectl get podmonitors,servicemonitors,configmaps -n "${MONITORING_NS}" -l app.kubernetes.io/part-of=uitgo
}

# infra/k6.ts prints the JSON summary after this line of the pod's log.
K6_SUMMARY_MARKER="----- uitgo k6 summary json -----"

# A load test from inside the cluster (infra/k6.ts): the scripts as a ConfigMap, a Job on grafana/k6, its
# log followed to the end, the JSON summary saved under loadtests/results/, and k6's exit status kept
# (99 when a threshold failed).
k6_run() {
  local script=${1:-}
  if [[ -z ${script} ]]; then
    echo "usage: infra/cluster.sh k6 <script.js> [KEY=value ...] (a script of loadtests/k6/)" >&2
    exit 2
  fi
  shift
  step "k6: ${script} in the cluster"
  require kubectl
  local job="k6-${script%.js}" rendered output results code=""
  rendered=$(mktemp)
  node --import tsx infra/k6.ts "${script}" "$@" >"${rendered}"
  kubectl delete job "${job}" -n "${FUNCTIONS_NS}" --ignore-not-found --wait
  apply -f "${rendered}"
  rm -f "${rendered}"

  step "k6: running ${script} (kubectl logs -f job/${job} -n ${FUNCTIONS_NS})"
  output=$(mktemp)
  kubectl logs -f "job/${job}" -n "${FUNCTIONS_NS}" --pod-running-timeout=5m >"${output}"
  sed "/^${K6_SUMMARY_MARKER}\$/,\$d" "${output}"
  results="loadtests/results/${script%.js}-cluster-$(date -u +%Y%m%dT%H%M%SZ).json"
  sed "1,/^${K6_SUMMARY_MARKER}\$/d" "${output}" >"${results}"
  rm -f "${output}"
  if [[ -s ${results} ]]; then
    log "summary saved to ${results}"
  else
    rm -f "${results}"
    echo "the pod printed no JSON summary" >&2
  fi

  # The log ends when the container does; its exit code reaches the pod's status a moment later.
  step "k6: ${script}'s exit status"
  for _ in {1..30}; do
    code=$(kubectl get pods -n "${FUNCTIONS_NS}" -l "job-name=${job}" -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}')
    if [[ -n ${code} ]]; then break; fi
    sleep 1
  done
  if [[ -z ${code} ]]; then
    echo "job/${job} has not finished: kubectl get pods -l job-name=${job}" >&2
    exit 1
  fi
  if [[ ${code} -ne 0 ]]; then
    step "k6: ${script} exited ${code} (99: a threshold failed, see above)"
    exit "${code}"
  fi
}

down() {
  step "down: deleting kind cluster ${CLUSTER}"
  require kind
  kind delete cluster --name "${CLUSTER}"
}

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  up)
    create
    install
    images
    deploy
    ;;
  create | install | images | deploy | status | down) "$1" ;;
  k6)
    shift
    k6_run "$@"
    ;;
  *)
    usage
    exit 2
    ;;
esac
