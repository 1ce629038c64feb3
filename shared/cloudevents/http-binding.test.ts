// The wire format as the HTTP protocol binding 1.0 spells it, written out literally: the names in spec.ts are checked
// here against the spec, so every other test can use them.
import { describe, expect, it } from "vitest";
import { InvalidInput } from "../errors";
import { binaryAttributes, decodeBatch, fromBatch, isBatch, toBatch, toBinary, toStructured } from "./http-binding";
import { saysCloudEvent } from "./spec";

const attributes = { id: "e-1", source: "test", type: "things.done", subject: "things.done.vn", natsdeliveries: "2" };

function refusal(run: () => unknown): InvalidInput {
  try {
    run();
  } catch (err) {
    if (err instanceof InvalidInput) return err;
    throw err;
  }
  throw new Error("not refused");
}

describe("the distributed tracing extension", () => {
  const traced = { ...attributes, traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "uitgo=1" };

  it("travels as ce-traceparent and ce-tracestate in binary mode, and is read back", () => {
    const { headers } = toBinary(traced, "application/json", "{}");
    expect(headers).toMatchObject({ "ce-traceparent": traced.traceparent, "ce-tracestate": "uitgo=1" });
    expect(binaryAttributes(headers, "things.done")).toMatchObject({ traceparent: traced.traceparent, tracestate: "uitgo=1" });
  });

  it("travels as attributes of each event in batched mode, and is read back per event", () => {
    const other = { ...traced, id: "e-2", traceparent: "00-0af7651916cd76f9a4d4c76e4a6e1c2e-b7ad6b7169203331-01" };
    const events = [
      toStructured(traced, "application/json", Buffer.from("{}"))!,
      toStructured(other, "application/json", Buffer.from("{}"))!,
    ];
    const sent = JSON.parse(Buffer.from(toBatch(events).body).toString()) as Record<string, unknown>[];
    expect(sent.map((event) => event.traceparent)).toEqual([traced.traceparent, other.traceparent]);
    const read = decodeBatch(fromBatch(sent), "things.done", (data) => data);
    expect(read.map((event) => event.traceparent)).toEqual([traced.traceparent, other.traceparent]);
  });
});

describe("binary mode", () => {
  it("sends each attribute as a ce- header, the data's media type as Content-Type, the data as the body", () => {
    const { headers, body } = toBinary(attributes, "application/json", '{"n":1}');
    expect(headers).toEqual({
      "content-type": "application/json",
      "ce-specversion": "1.0",
      "ce-id": "e-1",
      "ce-source": "test",
      "ce-type": "things.done",
      "ce-subject": "things.done.vn",
      "ce-natsdeliveries": "2",
    });
    expect(Buffer.from(body).toString()).toBe('{"n":1}');
  });

  it("reads the attributes back, without the sender's secret, and refuses another spec version or type", () => {
    const { headers } = toBinary(attributes, "application/json", "{}");
    expect(binaryAttributes({ ...headers, "ce-uitgosender": "secret", accept: "*/*" }, "things.done")).toEqual({
      specversion: "1.0",
      ...attributes,
      datacontenttype: "application/json",
    });
    expect(refusal(() => binaryAttributes({ ...headers, "ce-specversion": "0.3" }, "things.done")).code).toBe("not_a_cloudevent");
    expect(refusal(() => binaryAttributes(headers, "other.thing")).message).toBe("Cannot handle events of type things.done");
  });
});

describe("batched mode", () => {
  it("sends structured events in a JSON array, data as JSON when it is JSON and as base64 otherwise", () => {
    const json = toStructured(attributes, "application/json", Buffer.from('{"n":1}'))!;
    const text = toStructured(attributes, "text/plain", Buffer.from("hello"))!;
    expect(json).toEqual({ specversion: "1.0", ...attributes, datacontenttype: "application/json", data: { n: 1 } });
    expect(text.data_base64).toBe(Buffer.from("hello").toString("base64"));
    expect(toStructured(attributes, "application/json", Buffer.from("{not json"))).toBeUndefined();

    const { headers, body } = toBatch([json, text]);
    expect(headers).toEqual({ "content-type": "application/cloudevents-batch+json" });
    expect(isBatch("application/cloudevents-batch+json; charset=utf-8")).toBe(true);
    expect(fromBatch(JSON.parse(Buffer.from(body).toString()))).toEqual([json, text]);
  });

  it("refuses what is not a batch of events, and a batch with any event it cannot take, naming those by id", () => {
    expect(refusal(() => fromBatch({})).code).toBe("invalid_body");
    expect(
      refusal(() =>
        fromBatch([
          { specversion: "1.0", id: "a", source: "s", type: "t" },
          { specversion: "1.0", source: "s", type: "t" },
        ]),
      ).details,
    ).toEqual([{ field: "[1]", issue: "no id" }]);

    const event = (id: string, data: unknown, type = "things.done") => ({ specversion: "1.0" as const, id, source: "s", type, data });
    const decode = (data: Record<string, unknown>) => {
      if (typeof data.n !== "number") throw new InvalidInput("invalid_event", "no n");
      return data.n;
    };
    expect(decodeBatch([event("a", { n: 1 }), event("b", { n: 2 })], "things.done", decode).map((e) => e.data)).toEqual([1, 2]);
    const refused = refusal(() =>
      decodeBatch([event("a", { n: 1 }), event("b", {}), event("c", { n: 3 }, "other"), event("d", [])], "things.done", decode),
    );
    expect(refused.code).toBe("invalid_events");
    expect(refused.message).toBe("3 of 4 events refused: b, c, d");
  });
});

it("tells a CloudEvent request by its headers alone", () => {
  expect(saysCloudEvent("1.0", undefined)).toBe(true);
  expect(saysCloudEvent(undefined, "application/cloudevents-batch+json")).toBe(true);
  expect(saysCloudEvent(undefined, "application/json")).toBe(false);
});
