// The entry point in front of watch-trip: a WebSocket is proxied as an upgrade (the function's refusals relayed as they
// are), an event stream is passed on as each event comes, and no internal function is reachable by either way.
import { connect } from "node:net";
import { once } from "node:events";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startGateway, type Gateway } from "../local/gateway";
import { resetState } from "../harness/state";
import { bearer, token } from "./support/auth";
import { isRefusal, openSse, openWs, type Refusal } from "./support/watch-clients";
import { act, assign, book, startWatchTrip, type Running } from "./support/watch-function";

const RIDER = "rider-gateway-watch";
const DRIVER = "driver-gateway-watch";

let fn: Running;
let gateway: Gateway;
let url: string;

beforeAll(async () => {
  fn = await startWatchTrip();
  // assign-driver "runs" too, so that reaching it would be the entry point's fault, not a missing process.
  gateway = await startGateway({ port: 0, targets: { "watch-trip": fn.fn.port, "assign-driver": fn.fn.port } });
  url = `http://127.0.0.1:${gateway.port}`;
});
afterAll(async () => {
  await gateway?.close();
  await fn?.close();
});
beforeEach(resetState);

describe("the entry point in front of watch-trip", () => {
  it("proxies the WebSocket both ways and the trip's changes come through it", async () => {
    const trip = await book(fn, RIDER);

    const watcher = await openWs(`${url}/v1/trips/${trip.id}/ws?token=${token("rider", RIDER)}`);
    if (isRefusal(watcher)) throw new Error(`refused ${watcher.status}`);

    expect((await watcher.inbox.update()).type).toBe("snapshot");
    await assign(fn, trip, DRIVER);
    await act(fn, trip, "cancel", { role: "rider", id: RIDER });
    expect((await watcher.inbox.update()).status).toBe("assigned");
    expect((await watcher.inbox.update()).status).toBe("cancelled");
    expect((await watcher.closed).code).toBe(1000);
  });

  it("relays the function's refusal of an upgrade (401, 404) with its body", async () => {
    const trip = await book(fn, "rider-other");

    const unauthorized = (await openWs(`${url}/v1/trips/${trip.id}/ws`)) as Refusal;
    const notFound = (await openWs(`${url}/v1/trips/${trip.id}/ws`, bearer("rider", RIDER))) as Refusal;

    expect(unauthorized.status).toBe(401);
    expect(JSON.parse(unauthorized.body).error.code).toBe("unauthorized");
    expect(notFound.status).toBe(404);
    expect(JSON.parse(notFound.body).error.code).toBe("trip_not_found");
    expect(notFound.headers.connection).toBe("close");
  });

  it("streams server-sent events as they come, without buffering", async () => {
    const trip = await book(fn, RIDER);

    const watcher = await openSse(`${url}/v1/trips/${trip.id}/events`, bearer("rider", RIDER));
    if (isRefusal(watcher)) throw new Error(`refused ${watcher.status}`);

    // The snapshot arrives while the stream is still open: nothing waits for the response to end.
    expect((await watcher.inbox.update(2_000)).type).toBe("snapshot");
    await assign(fn, trip, DRIVER);
    expect((await watcher.inbox.update(2_000)).status).toBe("assigned");
    watcher.close();
  });

  it("reaches no internal function by upgrade, whatever the host name or path", async () => {
    for (const [host, path] of [
      ["assign-driver.default.127.0.0.1.sslip.io", "/"],
      ["assign-driver.default.127.0.0.1.sslip.io", "/v1/trips/x/ws"],
      [`127.0.0.1:${gateway.port}`, "/"],
    ]) {
      const socket = connect(gateway.port, "127.0.0.1");
      await once(socket, "connect");
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      );
      let answer = "";
      socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
      await once(socket, "close");
      expect(answer, `${host} ${path}`).toMatch(/^HTTP\/1\.1 404 /);
      expect(answer).toContain('"code":"not_found"');
    }
  });
});
