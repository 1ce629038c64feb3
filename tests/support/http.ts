// Assertions and bodies the function tests share.
import { once } from "node:events";
import type { Redis } from "ioredis";
import { expect } from "vitest";
import { connectRedis } from "../../shared/clients/redis";
import { loadConfig } from "../../shared/config";
import { bearer } from "./auth";

export interface ErrorBody {
  error: { code: string; message: string; details: { field?: string; issue: string }[] };
}

/** Checks the status and the SPEC error shape with this code; `label` names the case in a failure. */
export async function expectError(res: Response, status: number, code: string, label = ""): Promise<ErrorBody["error"]> {
  expect(res.status, label).toBe(status);
  const body = (await res.json()) as ErrorBody;
  expect(body, label).toEqual({ error: { code, message: expect.stringMatching(/\S/), details: expect.any(Array) } });
  return body.error;
}

/** A body without Content-Length, produced on demand in 1 KiB chunks; counts how many were pulled. */
export function chunkedBody(text: string) {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(offset, offset + 1024));
      offset += 1024;
      pulled++;
    },
  });
  return { stream, pulled: () => pulled };
}

/** The functions' own Redis client, once connected: without an offline queue, earlier commands fail. */
export async function connectedRedis(): Promise<Redis> {
  const config = loadConfig();
  const redis = connectRedis(config.redisUrl, config.dependencyTimeoutMs);
  await once(redis, "ready");
  return redis;
}

/** A driver reporting itself available at `point`, through the stack's entry point. */
export async function reportAvailable(gatewayUrl: string, driverId: string, point: { lat: number; lng: number }): Promise<void> {
  const response = await fetch(`${gatewayUrl}/v1/drivers/me/location`, {
    method: "POST",
    headers: { ...bearer("driver", driverId), "content-type": "application/json" },
    body: JSON.stringify({ ...point, status: "available" }),
  });
  expect(response.status).toBe(202);
}
