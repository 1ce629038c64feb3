// What the functions' and the sources' containers have in common.
import { DEFAULTS } from "../../shared/config";

/** The port the code listens on when PORT is unset (the source), and the one Knative passes as PORT to a function. */
export const HTTP_PORT = DEFAULTS.port;

export const SECURITY_CONTEXT = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ["ALL"] },
};

/** A new object each time: the yaml library writes an object met twice in one document as an anchor and an alias. */
export function livenessProbe() {
  return { httpGet: { path: "/health/liveness", port: HTTP_PORT }, periodSeconds: 10, failureThreshold: 3 };
}
