// Scaling: how Knative sizes each function. The autoscaler's desired and actual pods and the concurrency
// it acts on; the requests waiting in the activator (no pod with room: scale from zero) and going through
// it, and those in the queue-proxies (pods at their hard limit); how long new pods take to become ready; and what the
// function containers use.
import { FUNCTIONS } from "../../../esbuild.config";
import { FUNCTIONS_NAMESPACE } from "../../manifests/names";
import { FUNCTION_CONTAINER, JOBS, TARGET_LABELS } from "../config";
import { ACTIVATOR, AUTOSCALER, CADVISOR, KUBE_STATE, QUEUE_PROXY } from "../external-metrics";
import type { BoardSpec } from "../grafana";
import { RATE_WINDOW, maxBy, quantile, re, series, sumBy, variable, type Matchers } from "../promql";

const FN = TARGET_LABELS.function;
/** Knative's label for the service on its own metrics (the autoscaler's and activator's). */
const KN_SERVICE = "kn_service_name";

/** The autoscaler's and activator's series for the functions' revisions. */
const revisions: Matchers = { k8s_namespace_name: FUNCTIONS_NAMESPACE, [KN_SERVICE]: variable("function") };

/**
 * A Knative pod is named <revision>-deployment-<hash>, its revision <service>-<number>. The kubelet's and
 * kube-state-metrics' series name only the pod, so the function is read back from that name.
 */
const revisionPod = (service: string) => `${service}-[0-9]+-deployment-.+`;
const revisionOf = (service: string) => `${service}-[0-9]+`;
/** Knative's label for the revision, the only name some activator series carry. */
const KN_REVISION = "kn_revision_name";

/** The service, read back from the revision's name, for series that name only the revision. */
function byRevisionService(expr: string): string {
  return `label_replace(${expr}, "${KN_SERVICE}", "$1", "${KN_REVISION}", "${revisionOf("(.+)")}")`;
}
const functionPods: Matchers = { namespace: FUNCTIONS_NAMESPACE, pod: re(revisionPod("($function)")) };
const functionContainers: Matchers = { ...functionPods, container: FUNCTION_CONTAINER };

function byFunction(expr: string): string {
  return `label_replace(${expr}, "${FN}", "$1", "pod", "${revisionPod("(.+)")}")`;
}

export function scalingBoard(): BoardSpec {
  return {
    uid: "uitgo-scaling",
    title: "UIT-Go / Scaling",
    description:
      "Knative's view of each function: pods wanted and running, concurrency, requests held while pods start, start-up time and resource use.",
    variables: [{ name: "function", label: "Function", values: FUNCTIONS }],
    sections: [
      {
        title: "Pods (Knative autoscaler)",
        panels: [
          {
            title: "Desired vs actual pods",
            description:
              "The autoscaler's wanted pod count against the pods that exist, per function. Desired above actual for long means pods are slow to start or cannot be scheduled (see Not ready).",
            unit: "short",
            width: 24,
            queries: [
              { expr: sumBy([KN_SERVICE], series(AUTOSCALER.podsDesired, revisions)), legend: `{{${KN_SERVICE}}} desired` },
              { expr: sumBy([KN_SERVICE], series(AUTOSCALER.podsActual, revisions)), legend: `{{${KN_SERVICE}}} actual` },
              { expr: sumBy([KN_SERVICE], series(AUTOSCALER.podsNotReady, revisions)), legend: `{{${KN_SERVICE}}} not ready` },
            ],
          },
          {
            title: "Observed concurrency per pod vs target",
            description:
              "In-flight requests per pod as the autoscaler averages them over the stable (20 s) and panic windows, against the service's target. Above target, it adds pods.",
            unit: "short",
            queries: [
              { expr: maxBy([KN_SERVICE], series(AUTOSCALER.concurrencyStable, revisions)), legend: `{{${KN_SERVICE}}} stable` },
              { expr: maxBy([KN_SERVICE], series(AUTOSCALER.concurrencyPanic, revisions)), legend: `{{${KN_SERVICE}}} panic window` },
              { expr: maxBy([KN_SERVICE], series(AUTOSCALER.concurrencyTarget, revisions)), legend: `{{${KN_SERVICE}}} target` },
            ],
          },
          {
            title: "Panic mode",
            description:
              "1 while the autoscaler is in panic mode: concurrency over the short panic window reached twice the target, so it scales on that window and does not scale down.",
            unit: "short",
            queries: [{ expr: maxBy([KN_SERVICE], series(AUTOSCALER.panicMode, revisions)), legend: `{{${KN_SERVICE}}}` }],
          },
        ],
      },
      {
        title: "Requests waiting",
        panels: [
          {
            title: "Requests waiting at the activator for a pod",
            description:
              "Requests the activator holds because no pod of the function has room: a scale from zero, or a burst beyond containerConcurrency on every pod. Non-zero here is a wait for capacity (a cold start, or max-scale reached).",
            unit: "short",
            queries: [
              {
                expr: byRevisionService(
                  sumBy(
                    [KN_REVISION],
                    series(ACTIVATOR.requestQueued, {
                      k8s_namespace_name: FUNCTIONS_NAMESPACE,
                      [KN_REVISION]: re(revisionOf("($function)")),
                    }),
                  ),
                ),
                legend: `{{${KN_SERVICE}}}`,
              },
            ],
          },
          {
            title: "Requests through the activator",
            description:
              "Requests in flight through the activator. With Knative's default target-burst-capacity (211) the activator stays in front of a function until its pods' spare capacity (pods × target) exceeds 211: for six of the eight functions that is never (max-scale × target < 211), so this is all of their traffic, warm or cold. Only search-drivers and update-location leave it, at 5 pods or more.",
            unit: "short",
            queries: [{ expr: sumBy([KN_SERVICE], series(ACTIVATOR.requestConcurrency, revisions)), legend: `{{${KN_SERVICE}}}` }],
          },
          {
            title: "Latency through the activator p99",
            description:
              "Requests that went through the activator, from arrival to answer. For the functions it is always in front of, this is their whole latency as the activator sees it, cold starts included; compare with the Overview's latency (the function's own time).",
            unit: "s",
            queries: [
              {
                expr: quantile(0.99, ACTIVATOR.requestDurationBucket, [KN_SERVICE], { job: JOBS.activator, ...revisions }),
                legend: `{{${KN_SERVICE}}}`,
              },
            ],
          },
          {
            title: "Queue-proxy queue depth",
            description: "Requests inside each function's queue-proxies, queued behind containerConcurrency or being served.",
            unit: "short",
            queries: [
              {
                expr: sumBy([FN], series(QUEUE_PROXY.queueDepth, { job: JOBS.queueProxy, [FN]: variable("function") })),
                legend: `{{${FN}}}`,
              },
            ],
          },
          {
            title: "Latency through the queue-proxy p99",
            description:
              "Requests as the queue-proxy times them, queueing included. Compare with the Overview's latency (the function's own time): the gap is time queued at the hard concurrency limit.",
            unit: "s",
            queries: [
              {
                expr: quantile(0.99, QUEUE_PROXY.invocationDurationBucket, [FN], { job: JOBS.queueProxy, [FN]: variable("function") }),
                legend: `{{${FN}}}`,
              },
            ],
          },
        ],
      },
      {
        title: "Cold starts",
        panels: [
          {
            title: "Pods started (last 5 min)",
            description: "Function pods created in the last five minutes, whether still running or not: every one is a cold start.",
            unit: "short",
            queries: [
              {
                expr: `count by (${FN}) (${byFunction(`max_over_time(${series(KUBE_STATE.podCreated, functionPods)}[5m]) > time() - 300`)})`,
                legend: `{{${FN}}}`,
              },
            ],
          },
          {
            title: "Pod created → ready",
            description:
              "Seconds from a pod's creation to its readiness (scheduling, image, process start, first readiness probe), for the slowest current pod of each function.",
            unit: "s",
            queries: [
              {
                expr: maxBy(
                  [FN],
                  byFunction(`${series(KUBE_STATE.podReadyTime, functionPods)} - ${series(KUBE_STATE.podCreated, functionPods)}`),
                ),
                legend: `{{${FN}}}`,
              },
            ],
          },
        ],
      },
      {
        title: "Resources",
        panels: [
          {
            title: "Memory per pod (largest) vs limit",
            description:
              "Working set of the function container in its largest pod, against the container's memory limit: the kernel kills the container at the limit.",
            unit: "bytes",
            queries: [
              { expr: maxBy([FN], byFunction(series(CADVISOR.memoryWorkingSet, functionContainers))), legend: `{{${FN}}}` },
              { expr: `max(${series(KUBE_STATE.containerLimits, { ...functionContainers, resource: "memory" })})`, legend: "limit" },
            ],
          },
          {
            title: "CPU per function",
            description: "CPU cores used by all pods of each function's container. A pod is limited to one core.",
            unit: "short",
            queries: [
              {
                expr: sumBy([FN], byFunction(`rate(${series(CADVISOR.cpuSeconds, functionContainers)}[${RATE_WINDOW}])`)),
                legend: `{{${FN}}}`,
              },
            ],
          },
          {
            title: "Container restarts (last hour)",
            description: "Restarts of the function container: a failed liveness probe or the memory limit (OOMKilled).",
            unit: "short",
            queries: [
              {
                expr: sumBy([FN], byFunction(`increase(${series(KUBE_STATE.containerRestarts, functionContainers)}[1h])`)),
                legend: `{{${FN}}}`,
              },
            ],
          },
        ],
      },
    ],
  };
}
