// The receivers' middleware on its own: the event or the batch on the context, whatever the content mode.
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { DependencyUnavailable } from "../clients/dependency";
import { toBatch, toBinary } from "../cloudevents/http-binding";
import { EXTENSIONS } from "../cloudevents/spec";
import { InvalidInput } from "../errors";
import { backOffWhileUnavailable, cloudEvent, cloudEvents } from "./cloudevent";
import { errorResponse } from "./errors";

const attributes = (id: string, deliveries = "1") => ({ id, source: "test", type: "things.done", [EXTENSIONS.deliveries]: deliveries });
const count = (data: Record<string, unknown>) => {
  if (typeof data.n !== "number") throw new InvalidInput("invalid_event", "no n");
  return data.n;
};

function app() {
  const app = new Hono()
    .post("/one", cloudEvent("things.done", 64), (c) => c.json({ id: c.var.cloudEvent.id, data: c.var.cloudEvent.data }))
    .post("/many", cloudEvents("things.done", count, { event: 64, batch: 1024 }), (c) =>
      c.json(c.var.cloudEvents.map((event) => event.data)),
    )
    .post("/down", backOffWhileUnavailable(), cloudEvents("things.done", count, { event: 64, batch: 1024 }), () => {
      throw new DependencyUnavailable("postgres", undefined);
    });
  app.onError((err, c) => errorResponse(c, err));
  return app;
}

const post = (path: string, message: { headers: Record<string, string>; body: Uint8Array }) =>
  app().request(path, { method: "POST", ...message });

describe("cloudEvent", () => {
  it("puts a binary-mode event on the context with its body as data, and refuses a batch, which its route does not take", async () => {
    expect(await (await post("/one", toBinary(attributes("e-1"), "application/json", '{"n":1}'))).json()).toEqual({
      id: "e-1",
      data: '{"n":1}',
    });
    const batch = await post("/one", toBatch([{ specversion: "1.0", ...attributes("e-1"), data: { n: 1 } }]));
    expect(batch.status).toBe(400);
    expect(await post("/one", toBinary(attributes("e-1"), "application/json", " ".repeat(65)))).toHaveProperty("status", 413);
  });
});

describe("cloudEvents", () => {
  it("decodes one binary-mode event or a whole batch alike", async () => {
    expect(await (await post("/many", toBinary(attributes("e-1"), "application/json", '{"n":1}'))).json()).toEqual([1]);
    const events = [1, 2, 3].map((n) => ({ specversion: "1.0" as const, ...attributes(`e-${n}`), data: { n } }));
    expect(await (await post("/many", toBatch(events))).json()).toEqual([1, 2, 3]);
  });

  it("backs off by the most delivered event while a store is down", async () => {
    const one = await post("/down", toBinary(attributes("e-1", "3"), "application/json", '{"n":1}'));
    expect(one.status).toBe(503);
    expect(one.headers.get("retry-after")).toBe("4");
    const events = ["2", "5"].map((deliveries, n) => ({ specversion: "1.0" as const, ...attributes(`e-${n}`, deliveries), data: { n } }));
    expect((await post("/down", toBatch(events))).headers.get("retry-after")).toBe("16");
  });
});
