// What a proxy or an attacker sends at the edge, against the real stack: a recordedAt the history cannot take, invalid
// UTF-8, a token not valid yet, a sub with control characters, and the 4xx Node and the entry point produce themselves
// (431, HTTP/1.0 without Host, a malformed path). Each gets a 4xx in the documented error shape and changes nothing;
// a client that goes away mid-body is not logged as an error.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { Stack } from "../local/stack";
import { loadConfig } from "../shared/config";
import { MAX_LOCATION_AGE_MS } from "../shared/events/location-events";
import { bearer } from "./support/auth";
import { expectError } from "./support/http";
import { HCMC, tripRequest } from "../harness/places";
import { waitFor } from "../harness/processes";
import { rawRequest } from "./support/raw-http";
import { shardSql } from "../harness/state";
import { stackPerFile } from "./support/stack-per-file";

const { jwtSecret } = loadConfig();
const run = stackPerFile(27080);
const { tables } = run;
let stack: Stack;
beforeEach(() => {
  stack = run.stack;
});

async function tripCount(): Promise<number> {
  const [row] = await shardSql("vn")<{ n: number }[]>`select count(*)::int as n from trips`;
  return row!.n;
}

function report(body: string, driverId = "driver-1") {
  return fetch(`${stack.gatewayUrl}/v1/drivers/me/location`, {
    method: "POST",
    headers: { ...bearer("driver", driverId), "content-type": "application/json" },
    body,
  });
}

/** A token as the functions sign them, with extra claims or claims replaced. */
function tokenWith(claims: Record<string, unknown>): string {
  const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
  const payload = Buffer.from(
    JSON.stringify({ sub: "rider-claims", role: "rider", exp: Math.floor(Date.now() / 1000) + 600, ...claims }),
  ).toString("base64url");
  const signature = createHmac("sha256", jwtSecret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

describe("recordedAt", () => {
  it("is refused outside the window the history keeps (year 0000, a day and more ago), and nothing is recorded", async () => {
    const tooOld = new Date(Date.now() - MAX_LOCATION_AGE_MS - 60_000).toISOString();
    for (const recordedAt of ["0000-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59", tooOld]) {
      const error = await expectError(await report(JSON.stringify({ ...HCMC, recordedAt })), 400, "invalid_request", recordedAt);
      expect(error.details, recordedAt).toEqual([{ field: "recordedAt", issue: expect.stringMatching(/within the last 24 hours/) }]);
    }
    // Inside the window: an hour ago, and a device clock ahead (taken as now).
    for (const recordedAt of [new Date(Date.now() - 3_600_000).toISOString(), new Date(Date.now() + 3_600_000).toISOString()]) {
      expect((await report(JSON.stringify({ ...HCMC, recordedAt }), `driver-${recordedAt}`)).status, recordedAt).toBe(202);
    }
    await waitFor(async () => (await tables.count()) === 2, 10_000, "the two accepted updates in the history");
  });
});

describe("invalid UTF-8", () => {
  it("is refused like NUL, in a booking and a location update, and nothing is stored", async () => {
    const valid = JSON.stringify(tripRequest(HCMC, { originText: "ORIGIN" }));
    const [before, after] = valid.split("ORIGIN") as [string, string];
    for (const bad of [Buffer.from([0xc3, 0x28]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xff])]) {
      const body = Buffer.concat([Buffer.from(before), Buffer.from("a"), bad, Buffer.from(after)]);
      const response = await fetch(`${stack.gatewayUrl}/v1/trips`, {
        method: "POST",
        headers: { ...bearer("rider", "rider-utf8"), "content-type": "application/json" },
        body,
      });
      await expectError(response, 400, "invalid_encoding", bad.toString("hex"));
    }
    const nul = await fetch(`${stack.gatewayUrl}/v1/trips`, {
      method: "POST",
      headers: { ...bearer("rider", "rider-utf8"), "content-type": "application/json" },
      body: JSON.stringify(tripRequest(HCMC, { originText: "a\u0000b" })),
    });
    await expectError(nul, 400, "invalid_request");
    const location = Buffer.concat([
      Buffer.from(`{"lat":${HCMC.lat},"lng":${HCMC.lng},"status":"avail`),
      Buffer.from([0xc3]),
      Buffer.from('"}'),
    ]);
    await expectError(await report(location as unknown as string), 400, "invalid_encoding");
    expect(await tripCount()).toBe(0);
    // Valid UTF-8 beyond ASCII is taken.
    const accented = await fetch(`${stack.gatewayUrl}/v1/trips`, {
      method: "POST",
      headers: { ...bearer("rider", "rider-utf8"), "content-type": "application/json" },
      body: JSON.stringify(tripRequest(HCMC, { originText: "Chợ Bến Thành 🛵" })),
    });
    expect(accented.status).toBe(201);
    expect(((await accented.json()) as { originText: string }).originText).toBe("Chợ Bến Thành 🛵");
  });
});

describe("tokens", () => {
  const get = (token: string) => fetch(`${stack.gatewayUrl}/v1/trips/vn_x`, { headers: { authorization: `Bearer ${token}` } });

  it("honour nbf when present: not valid yet is 401, valid since is taken, and a nbf that is not a number is 401", async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectError(await get(tokenWith({ nbf: now + 300 })), 401, "unauthorized");
    await expectError(await get(tokenWith({ nbf: String(now - 10) })), 401, "unauthorized");
    await expectError(await get(tokenWith({ nbf: now - 10 })), 404, "trip_not_found");
    await expectError(await get(tokenWith({})), 404, "trip_not_found");
  });

  it("take a sub of printable characters only", async () => {
    for (const sub of ["a\u0007b", "a\nb", "\u200bghost", "a\u202eb", "\ud800", ""]) {
      await expectError(await get(tokenWith({ sub })), 401, "unauthorized", JSON.stringify(sub));
    }
    for (const sub of ["Nguyễn Văn A", "rider_01:x@y", "🛵"]) {
      await expectError(await get(tokenWith({ sub })), 404, "trip_not_found", sub);
    }
  });
});

describe("4xx answered by Node and the entry point themselves", () => {
  const targets = () => [
    { label: "the entry point", port: stack.ports.gateway! },
    { label: "get-trip", port: stack.ports["get-trip"]! },
  ];
  const documented = (body: string, label: string) => {
    expect(JSON.parse(body), label).toEqual({ error: { code: expect.any(String), message: expect.stringMatching(/\S/), details: [] } });
  };

  it("a header block too large is 431, a malformed request or path 400, each with the error body", async () => {
    for (const { label, port } of targets()) {
      const cases: [string, string | Buffer, number][] = [
        ["431", `GET /v1/trips/x HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431],
        ["backslash", "GET /v1/trips/a\\b HTTP/1.1\r\nHost: a\r\n\r\n", 400],
        [
          "raw non-ASCII path",
          Buffer.concat([Buffer.from("GET /v1/trips/caf"), Buffer.from("é"), Buffer.from(" HTTP/1.1\r\nHost: a\r\n\r\n")]),
          400,
        ],
        ["not HTTP", "HELLO\r\n\r\n", 400],
        ["HTTP/1.1 without Host", "GET /v1/trips/x HTTP/1.1\r\n\r\n", 400],
      ];
      for (const [name, head, status] of cases) {
        const exchange = await rawRequest(port, head);
        expect(exchange.status, `${label}: ${name}`).toBe(status);
        expect(exchange.headers["content-type"], `${label}: ${name}`).toMatch(/^application\/json/);
        documented(exchange.body, `${label}: ${name}`);
      }
    }
  });

  it("HTTP/1.0 without Host goes through the entry point to its function, which answers in the error shape", async () => {
    for (const { label, port } of targets()) {
      const exchange = await rawRequest(port, "GET /v1/trips/vn_x HTTP/1.0\r\n\r\n");
      expect(exchange.status, label).toBe(401);
      documented(exchange.body, label);
      const exchangeWithToken = await rawRequest(
        port,
        `GET /v1/trips/vn_x HTTP/1.0\r\nAuthorization: ${bearer("rider", "r").authorization}\r\n\r\n`,
      );
      expect(exchangeWithToken.status, label).toBe(404);
      documented(exchangeWithToken.body, label);
    }
  });
});

describe("a client that goes away mid-body", () => {
  it("is no error in the function's log, and the function answers the next request", async () => {
    for (const port of [stack.ports.gateway!, stack.ports["create-trip"]!]) {
      const head = `POST /v1/trips HTTP/1.1\r\nHost: a\r\nAuthorization: ${bearer("rider", "rider-gone").authorization}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"originText":`;
      await rawRequest(port, head, { timeoutMs: 300 });
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const log = readFileSync(join(run.stack.logDir, "create-trip.log"), "utf8");
    expect(log).not.toMatch(/"level":"error"/);
    const next = await fetch(`${stack.gatewayUrl}/v1/trips`, {
      method: "POST",
      headers: { ...bearer("rider", "rider-next"), "content-type": "application/json" },
      body: JSON.stringify(tripRequest(HCMC)),
    });
    expect(next.status).toBe(201);
  });
});
