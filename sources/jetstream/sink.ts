// One HTTP POST to the sink over kept-alive node:http connections. fetch() cost a delivery about three times
// the CPU (undici's Request, Response and web streams for every message).
import { Agent, request } from "node:http";

const sinkAgent = new Agent({ keepAlive: true, maxSockets: 256 });

export interface SinkAnswer {
  status: number;
  body: string;
  retryAfter: string | null;
}

/** Rejects when the sink cannot be reached or has not answered in full within `timeoutMs`. */
export function postToSink(url: string, headers: Record<string, string>, body: Uint8Array, timeoutMs: number): Promise<SinkAnswer> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(deadline);
      reject(err);
    };
    const req = request(
      url,
      { method: "POST", headers: { ...headers, "content-length": String(body.length) }, agent: sinkAgent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", fail);
        res.on("end", () => {
          clearTimeout(deadline);
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            retryAfter: res.headers["retry-after"] ?? null,
          });
        });
      },
    );
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on("error", fail);
    req.end(body);
  });
}
