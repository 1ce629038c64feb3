#!/usr/bin/env bash
# UIT-Go on a local kind cluster with Knative Serving, Kourier and Knative Eventing (for the JetStream
# sources), Prometheus and Grafana, NATS with JetStream, the NACK controller, Redis, and PostgreSQL (a
# CloudNativePG cluster, read replica and PgBouncer pooler per region shard). docs/runbook.md walks through it.
#
#   infra/cluster.sh up        create + install + images + deploy
#   infra/cluster.sh create    the kind cluster (infra/kind-config.yaml)
#   infra/cluster.sh install   Knative, Prometheus + Grafana, NATS, NACK, CloudNativePG, the shard databases, Redis
#   infra/cluster.sh images    build one image per function and source, load them into kind
#   infra/cluster.sh deploy    Secret, schema, streams and consumers, functions and sources, scrape targets, dashboards
#   infra/cluster.sh status    what is running
#   infra/cluster.sh down      delete the cluster
#
# Needs docker, kind, kubectl and helm on PATH, and the npm dependencies (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned releases. Where each was found is in docs/runbook.md ("Versions").
KNATIVE_SERVING_VERSION=1.23.0
KNATIVE_KOURIER_VERSION=1.23.0
KNATIVE_EVENTING_VERSION=1.23.0
NATS_CHART_VERSION=2.14.6
NACK_CHART_VERSION=0.36.0
CNPG_VERSION=1.29.1
KUBE_PROMETHEUS_STACK_VERSION=91.4.1

CLUSTER=uitgo
FUNCTIONS_NS=default
DATA_NS=uitgo-data
NATS_NS=nats
MONITORING_NS=monitoring
WAIT=600s

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
manifests() { node --import tsx infra/manifests.ts "$@"; }

require() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing on PATH: ${missing[*]} (see docs/runbook.md, \"Before you start\")" >&2
    exit 1
  fi
}

# kubectl apply with a few retries: right after a CRD or a webhook is installed, the API server can refuse for a moment.
apply() {
  local attempt
  for attempt in 1 2 3 4 5; do
    if kubectl apply "$@"; then return 0; fi
    echo "kubectl apply failed (attempt $attempt), retrying in 10 s" >&2
    sleep 10
  done
  return 1
}

create() {
  require docker kind kubectl
  if kind get clusters | grep -qx "$CLUSTER"; then
    log "kind cluster $CLUSTER exists"
  else
    log "creating kind cluster $CLUSTER"
    kind create cluster --config infra/kind-config.yaml --wait 120s
  fi
  kubectl config use-context "kind-$CLUSTER" >/dev/null
}

install_knative() {
  local serving="https://github.com/knative/serving/releases/download/knative-v$KNATIVE_SERVING_VERSION"
  local eventing="https://github.com/knative/eventing/releases/download/knative-v$KNATIVE_EVENTING_VERSION"
  log "Knative Serving $KNATIVE_SERVING_VERSION and Kourier $KNATIVE_KOURIER_VERSION"
  apply -f "$serving/serving-crds.yaml"
  kubectl wait --for=condition=Established --all crd --timeout="$WAIT"
  apply -f "$serving/serving-core.yaml"
  apply -f "https://github.com/knative-extensions/net-kourier/releases/download/knative-v$KNATIVE_KOURIER_VERSION/kourier.yaml"
  kubectl patch configmap/config-network -n knative-serving --type merge \
    -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
  apply -f infra/knative/kourier-nodeport.yaml
  # <function>.<namespace>.127.0.0.1.sslip.io resolves to 127.0.0.1, where kind's port 80 is.
  kubectl patch configmap/config-domain -n knative-serving --type merge -p '{"data":{"127.0.0.1.sslip.io":""}}'
  # Images are loaded into kind, not pushed: Knative must not try to resolve their tags through a registry.
  # (This is Knative's default list, stated because the image names in knative/ depend on it.)
  kubectl patch configmap/config-deployment -n knative-serving --type merge \
    -p '{"data":{"registries-skipping-tag-resolving":"kind.local,ko.local,dev.local"}}'

  # ContainerSource, which runs the JetStream sources, is part of Eventing core; no broker or channel is needed.
  log "Knative Eventing $KNATIVE_EVENTING_VERSION (core)"
  apply -f "$eventing/eventing-crds.yaml"
  kubectl wait --for=condition=Established --all crd --timeout="$WAIT"
  apply -f "$eventing/eventing-core.yaml"

  for ns in knative-serving kourier-system knative-eventing; do
    kubectl wait deployment --all -n "$ns" --for=condition=Available --timeout="$WAIT"
  done
}

install_monitoring() {
  log "Prometheus and Grafana (kube-prometheus-stack chart $KUBE_PROMETHEUS_STACK_VERSION)"
  helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
  helm upgrade --install monitoring prometheus-community/kube-prometheus-stack --version "$KUBE_PROMETHEUS_STACK_VERSION" \
    -n "$MONITORING_NS" --create-namespace -f infra/values/monitoring.yaml --wait --timeout "$WAIT"
  # Knative exports no metrics until told how: the control plane (autoscaler, activator) and the
  # queue-proxies (request metrics, on each pod's http-usermetric port) both as Prometheus endpoints. The
  # components read this at start-up, and a revision's queue-proxy when the revision is created.
  kubectl patch configmap/config-observability -n knative-serving --type merge \
    -p '{"data":{"metrics-protocol":"prometheus","request-metrics-protocol":"prometheus"}}'
  kubectl rollout restart deployment -n knative-serving
  kubectl rollout status deployment -n knative-serving --timeout="$WAIT"
  monitoring_resources
}

# The scrape targets and the dashboard ConfigMaps (infra/monitoring), rendered from the code. A file, not
# a pipe, so that apply can retry.
monitoring_resources() {
  local rendered
  rendered=$(mktemp)
  manifests monitoring >"$rendered"
  apply -f "$rendered"
  rm -f "$rendered"
}

install_nats() {
  log "NATS with JetStream (chart $NATS_CHART_VERSION) and NACK (chart $NACK_CHART_VERSION)"
  helm repo add nats https://nats-io.github.io/k8s/helm/charts/ --force-update >/dev/null
  helm upgrade --install nats nats/nats --version "$NATS_CHART_VERSION" \
    -n "$NATS_NS" --create-namespace -f infra/values/nats.yaml --wait --timeout "$WAIT"
  helm upgrade --install nack nats/nack --version "$NACK_CHART_VERSION" \
    -n "$NATS_NS" -f infra/values/nack.yaml --wait --timeout "$WAIT"
}

install_data() {
  log "CloudNativePG $CNPG_VERSION, the shard databases, Redis"
  # Server-side apply, as CloudNativePG's install instructions say: its CRDs are too large for a client-side apply's annotation.
  apply --server-side -f "https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/release-${CNPG_VERSION%.*}/releases/cnpg-$CNPG_VERSION.yaml"
  kubectl rollout status deployment/cnpg-controller-manager -n cnpg-system --timeout="$WAIT"
  kubectl create namespace "$DATA_NS" --dry-run=client -o yaml | kubectl apply -f -
  apply -f infra/data/postgres.yaml
  apply -f infra/data/redis.yaml
  kubectl wait cluster.postgresql.cnpg.io --all -n "$DATA_NS" --for=condition=Ready --timeout="$WAIT"
  kubectl rollout status deployment/redis -n "$DATA_NS" --timeout="$WAIT"
}

install() {
  require kubectl helm
  install_knative
  # Before NATS: the NATS chart's PodMonitor needs the CRDs this chart installs.
  install_monitoring
  install_nats
  install_data
}

images() {
  require docker kind
  log "building the bundles"
  npm run -s build
  # One image per bundle, tagged by content (infra/manifests.ts images) and also :dev for knative/ as committed.
  local image bundle loaded=()
  while read -r image bundle; do
    log "image $image"
    docker build -q -f infra/Dockerfile --build-arg "BUNDLE=$bundle" -t "$image" -t "${image%:*}:dev" . >/dev/null
    loaded+=("$image" "${image%:*}:dev")
  done < <(manifests images)
  log "loading ${#loaded[@]} image tags into kind"
  kind load docker-image --name "$CLUSTER" "${loaded[@]}"
}

# The Secret the functions read: a JWT secret (kept across deploys, so tokens stay valid) and each
# shard's URLs, built from the password CloudNativePG generated for the owner (<cluster>-app).
secret() {
  local jwt region cluster
  jwt=$(kubectl get secret uitgo-secrets -n "$FUNCTIONS_NS" -o jsonpath='{.data.JWT_SECRET}' 2>/dev/null | base64 -d || true)
  [ -n "$jwt" ] || jwt=$(node -e 'console.log(require("node:crypto").randomBytes(32).toString("hex"))')
  {
    echo "JWT_SECRET=$jwt"
    while read -r region cluster; do
      echo "password.$region=$(kubectl get secret "$cluster-app" -n "$DATA_NS" -o jsonpath='{.data.password}' | base64 -d)"
    done < <(manifests regions)
  } | manifests secret | kubectl apply -f -
}

# db/schema.sql on each shard's primary, as the owner (SET ROLE) so the tables belong to the role the
# functions log in as. It is idempotent, so every deploy applies it.
# statement_timeout: postgres.js asks for it at connect time (2 × DEPENDENCY_TIMEOUT_MS, see
# shared/clients/postgres.ts), which PgBouncer ignores (infra/data/postgres.yaml); the role default
# keeps the same limit behind the pooler.
schema() {
  local region cluster primary
  while read -r region cluster; do
    primary=$(kubectl get cluster.postgresql.cnpg.io "$cluster" -n "$DATA_NS" -o jsonpath='{.status.currentPrimary}')
    log "schema on $cluster ($primary)"
    kubectl exec -i -n "$DATA_NS" "$primary" -c postgres -- psql -q -v ON_ERROR_STOP=1 -d uitgo \
      -c "ALTER ROLE uitgo SET statement_timeout = '4s'" -c "SET ROLE uitgo" -f - <db/schema.sql
  done < <(manifests regions)
}

deploy() {
  require kubectl
  log "Secret, schema, streams and consumers"
  secret
  schema
  apply -f nats/nack/
  log "functions and sources"
  apply -f knative/config.yaml
  # knative/ as committed, but each image at its content tag, so every code change is a new revision and
  # an old revision keeps the image it was created with (rollback works). The tags come from the bundles
  # in dist/, so run `images` first after any change. A file, not a pipe, so that apply can retry.
  local rendered
  rendered=$(mktemp)
  manifests deploy >"$rendered"
  apply -f "$rendered"
  rm -f "$rendered"
  kubectl wait ksvc --all -n "$FUNCTIONS_NS" --for=condition=Ready --timeout="$WAIT"
  kubectl wait containersource --all -n "$FUNCTIONS_NS" --for=condition=Ready --timeout="$WAIT"
  # Again on every deploy: the dashboards follow the code's functions and metrics.
  monitoring_resources
  status
}

status() {
  kubectl get ksvc -n "$FUNCTIONS_NS"
  kubectl get containersource -n "$FUNCTIONS_NS"
  kubectl get pingsource -n "$FUNCTIONS_NS"
  kubectl get streams.jetstream.nats.io,consumers.jetstream.nats.io -n "$NATS_NS"
  kubectl get cluster.postgresql.cnpg.io,pooler.postgresql.cnpg.io -n "$DATA_NS"
  kubectl get podmonitors,servicemonitors,configmaps -n "$MONITORING_NS" -l app.kubernetes.io/part-of=uitgo
}

down() {
  require kind
  log "deleting kind cluster $CLUSTER"
  kind delete cluster --name "$CLUSTER"
}

case "${1:-}" in
  up) create && install && images && deploy ;;
  create | install | images | deploy | status | down) "$1" ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
