// The body as a served function reads it: from the Node request that @hono/node-server passes along
// (in-process requests in the functions' tests take the web-stream path instead).
import { Agent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorResponse } from "./errors";
import { MAX_BODY_BYTES, readJsonObject } from "./json-body";

let server: ServerType;
let port: number;

beforeAll(async () => {
  const app = new Hono().post("/", async (c) => c.json({ read: await readJsonObject(c) }));
  app.onError((err, c) => errorResponse(c, err));
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

interface Answer {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
}

/** Sends the body in pieces without Content-Length (chunked), on one kept-alive socket when `agent` is given. */
function post(pieces: string[], agent?: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, method: "POST", path: "/", agent, headers: { "content-type": "application/json" } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on("error", reject);
    for (const piece of pieces) req.write(piece);
    req.end();
  });
}

describe("readJsonObject on a served function", () => {
  it("reads a body sent in chunks", async () => {
    const answer = await post(['{"lat":', "10.77,", '"lng":106.7}']);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ read: { lat: 10.77, lng: 106.7 } });
  });

  it("refuses a chunked body over the limit with 413, and the connection still serves the next request", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const filler = "x".repeat(4096);
    const tooBig = ['{"pad":"', ...Array.from({ length: MAX_BODY_BYTES / 4096 + 2 }, () => filler), '"}'];

    const refused = await post(tooBig, agent);
    expect(refused.status).toBe(413);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: "payload_too_large" } });

    const next = await post(['{"ok":true}'], agent);
    expect(next.status).toBe(200);
    expect(JSON.parse(next.body)).toEqual({ read: { ok: true } });
    agent.destroy();
  });

  it("refuses malformed JSON with 400", async () => {
    const answer = await post(["{not json"]);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "malformed_json" } });
  });
});
