// A function's app mounted on the real root app (probes, metrics, error handling), called without a socket.
import { createRootApp, type FunctionApp } from "../../shared/http/server";
import type { DependencyHandle } from "../../shared/clients/dependency";

export interface TestFunction {
  request(path: string, init?: RequestInit): Promise<Response>;
  json(method: string, path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
}

export function inProcess(app: FunctionApp, dependencies: DependencyHandle[] = []): TestFunction {
  const root = createRootApp(app, dependencies, 1000);
  const request = async (path: string, init?: RequestInit) => root.request(`http://function.test${path}`, init);
  return {
    request,
    json: (method, path, body, headers = {}) =>
      request(path, {
        method,
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
  };
}
