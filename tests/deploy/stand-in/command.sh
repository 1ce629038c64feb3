#!/usr/bin/env bash
# A stand-in for kind, kubectl, helm, docker, npm, node and sleep, for tests/deploy/cluster-script.test.ts:
# it appends its command line to $STAND_IN_CALLS, answers the few queries infra/cluster.sh reads with
# canned values, and exits 1 when its command line is exactly $STAND_IN_FAIL (every time, so retries
# fail too).
set -euo pipefail
name=${0##*/}
line="${name} $*"
# mktemp's random names would make the same call differ between runs.
if [[ -n ${TMPDIR:-} ]]; then line=${line//${TMPDIR}\/tmp.??????????/<tmp>}; fi
printf '%s\n' "${line}" >>"${STAND_IN_CALLS:?}"

# What the real command would read from stdin, read, so the writer of a pipe never gets SIGPIPE.
case " $* " in
  *" -f - "* | *" exec -i "* | *" manifests/cli.ts secret "*) cat >/dev/null ;;
  *) ;;
esac

if [[ ${line} == "${STAND_IN_FAIL:-}" ]]; then
  echo "stand-in ${name}: failing as told" >&2
  exit 1
fi

case "${line}" in
  "kind get clusters") ;;
  "node --import tsx infra/manifests/cli.ts regions") printf 'vn uitgo-vn\nth uitgo-th\n' ;;
  "node --import tsx infra/manifests/cli.ts images")
    printf '%s\n' "dev.local/uitgo/get-trip:0123456789ab dist/functions/get-trip/index.mjs" \
      "dev.local/uitgo/source-jetstream:ba9876543210 dist/sources/jetstream/index.mjs"
    ;;
  "node --import tsx infra/manifests/cli.ts secret") printf 'kind: Secret\n' ;;
  "node --import tsx infra/manifests/cli.ts "*) printf 'kind: List\nitems: []\n' ;;
  "node -e "*) printf 'generated-jwt-secret\n' ;;
  "kubectl get secret uitgo-secrets "*) ;;
  "kubectl get secret "*"-app "*) printf 'cGFzc3dvcmQ=' ;;
  "kubectl get cluster.postgresql.cnpg.io "*) printf 'primary-1' ;;
  "kubectl create namespace "*) printf 'kind: Namespace\n' ;;
  "kubectl logs -f job/k6-"*)
    printf '%s\n' "booking-spike: 1 thresholds" "ok     http_req_failed: rate<0.01" "----- uitgo k6 summary json -----" '{"script":"booking-spike"}'
    ;;
  "kubectl get pods "*"job-name=k6-"*) printf '%s' "${STAND_IN_K6_EXIT:-0}" ;;
  *) ;;
esac
