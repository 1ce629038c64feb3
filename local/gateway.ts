// The local entry point: a plain node:http reverse proxy in front of the function processes, routed by
// local/routes.ts. It stands in for Kourier, so it adds nothing but X-Forwarded-For and X-Forwarded-Host,
// streams bodies both ways and keeps connections to the functions alive. It is load-tested: no logging and
// no work per request beyond copying headers.
import { Agent, createServer, request, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { lingerOnClose } from "../shared/http/early-close";
import { answerProtocolErrors, requireHost } from "../shared/http/protocol-errors";
import { writeRawResponse } from "../shared/http/raw-response";
import { routeFor } from "./routes";

export interface GatewayOptions {
  port: number;
  /** Function name → the local port it listens on. Read on every request, so it may be changed in place. */
  targets: Record<string, number>;
  /** Interface to listen on; 127.0.0.1 unless told otherwise. */
  host?: string;
  /** How long a kept-alive connection to a function may stay unused before the entry point closes it (0: never). */
  upstreamIdleMs?: number;
}

/**
 * Below the functions' own keep-alive timeout (Node's default, 5 s; Node 20 closes an idle connection a second after
 * it): one the entry point picks just as the function closes it fails with a reset, which was answered 502 although
 * the function was up. Node's agent would close a free connection a second before the server's Keep-Alive hint, but
 * only by shortening a timeout it has; without one it kept every connection until the function closed it. Closing
 * first, the entry point never reuses a connection the function is closing (tests/gateway-keepalive.test.ts).
 */
export const UPSTREAM_IDLE_MS = 4_000;

/** Requests that can be sent again as they are: no body, and nothing done by the first attempt. */
const REPEATABLE = new Set(["GET", "HEAD", "OPTIONS"]);

export interface Gateway {
  port: number;
  close(): Promise<void>;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded.
// Transfer-Encoding is kept on requests so Node frames a chunked body the same way to the function.
const REQUEST_HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "x-forwarded-for",
  "x-forwarded-host",
]);
const RESPONSE_HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "upgrade", "trailer", "transfer-encoding"]);

const LIVENESS = Buffer.from('{"status":"ok"}');

export function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { targets } = options;
  const idleMs = options.upstreamIdleMs ?? UPSTREAM_IDLE_MS;
  // An agent's timeout applies to its free sockets: one unused that long is closed.
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 1024,
    maxFreeSockets: 256,
    scheduling: "lifo",
    ...(idleMs > 0 && { timeout: idleMs }),
  });

  const server = createServer(
    { requireHostHeader: false },
    requireHost((req, res) => {
      const url = req.url ?? "/";
      const host = req.headers.host;
      const name = routeFor(req.method ?? "GET", url, host);

      if (name === undefined) {
        if (req.method === "GET" && (url === "/health/liveness" || url === "/health/readiness")) {
          res.writeHead(200, { "Content-Type": "application/json", "Content-Length": LIVENESS.length });
          res.end(LIVENESS);
          return;
        }
        reply(res, 404, "not_found", `No route for ${req.method} ${url.split("?")[0]}`);
        req.resume();
        return;
      }

      const port = targets[name];
      if (port === undefined) {
        req.resume();
        reply(res, 502, "function_unavailable", `The ${name} function is not running`);
        return;
      }

      forward(req, res, url, name, port, true);
    }),
  );

  function forward(req: IncomingMessage, res: ServerResponse, url: string, name: string, port: number, mayRetry: boolean): void {
    const headers = forwardedHeaders(req, port);
    const upstream = request(
      {
        host: "127.0.0.1",
        port,
        method: req.method,
        path: url,
        // Node takes the same flat [name, value, ...] list as rawHeaders, keeping case and repeats.
        headers: headers as unknown as OutgoingHttpHeaders,
        agent,
      },
      (answer) => {
        answered = true;
        const rawAnswer = answer.rawHeaders;
        const out: string[] = [];
        for (let i = 0; i < rawAnswer.length; i += 2) {
          if (!RESPONSE_HOP_BY_HOP.has(rawAnswer[i]!.toLowerCase())) out.push(rawAnswer[i]!, rawAnswer[i + 1]!);
        }
        // Answered before the body was all sent (a 413, a 401): the rest is not carried, and the client's connection
        // closes after the answer, as the function's does.
        if (!req.complete) {
          req.unpipe(upstream);
          out.push("Connection", "close");
          lingerOnClose(req.socket);
          answer.on("end", () => upstream.destroy());
        }
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, out);
        answer.pipe(res);
        answer.on("error", () => res.destroy());
      },
    );
    let answered = false;

    upstream.on("error", (err: NodeJS.ErrnoException) => {
      // Once the answer is on its way, a failure to send the rest of the body is the function having stopped reading.
      if (answered) return;
      // A kept-alive connection the function closed just as it was reused; a request without a body goes again once.
      if (mayRetry && upstream.reusedSocket && err.code === "ECONNRESET" && REPEATABLE.has(req.method ?? "")) {
        forward(req, res, url, name, port, false);
        return;
      }
      if (!res.headersSent) reply(res, 502, "function_unavailable", `The ${name} function is not answering`);
      else res.destroy();
      req.resume();
    });
    // A client that goes away mid-request takes its upstream request with it.
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    // A retry comes after the first attempt has read the (empty) body to its end.
    if (req.readableEnded) upstream.end();
    else req.pipe(upstream);
  }

  // A WebSocket: the handshake goes to the function as it is routed, with Connection and Upgrade named again (they are
  // hop-by-hop, and the entry point asks for the upgrade itself); once the function switches protocols, the two
  // connections are joined. Any other answer (the function's 401, 404 or 503) is relayed and the connection closed.
  // Node's closeAllConnections() knows nothing of a connection once it is upgraded.
  const upgraded = new Set<Duplex>();
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    upgraded.add(socket);
    socket.on("close", () => upgraded.delete(socket));
    const url = req.url ?? "/";
    const name = routeFor(req.method ?? "GET", url, req.headers.host);
    if (name === undefined) return refuseUpgrade(socket, 404, "not_found", `No route for ${req.method} ${url.split("?")[0]}`);
    const port = targets[name];
    if (port === undefined) return refuseUpgrade(socket, 502, "function_unavailable", `The ${name} function is not running`);

    const headers = forwardedHeaders(req, port);
    headers.push("Connection", "Upgrade", "Upgrade", req.headers.upgrade ?? "websocket");
    const upstream = request({
      host: "127.0.0.1",
      port,
      method: req.method,
      path: url,
      headers: headers as unknown as OutgoingHttpHeaders,
    });
    upstream.on("upgrade", (answer, upstreamSocket, upstreamHead) => {
      const lines = [`HTTP/1.1 101 ${answer.statusMessage ?? "Switching Protocols"}`];
      for (let i = 0; i < answer.rawHeaders.length; i += 2) lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      upstreamSocket.on("error", () => socket.destroy());
      socket.on("close", () => upstreamSocket.destroy());
      upstreamSocket.on("close", () => socket.destroy());
      upstreamSocket.pipe(socket).pipe(upstreamSocket);
    });
    upstream.on("response", (answer) => {
      const chunks: Buffer[] = [];
      answer.on("data", (chunk: Buffer) => chunks.push(chunk));
      answer.on("end", () => {
        const out: string[] = [];
        for (let i = 0; i < answer.rawHeaders.length; i += 2) {
          const key = answer.rawHeaders[i]!;
          if (!RESPONSE_HOP_BY_HOP.has(key.toLowerCase()) && key.toLowerCase() !== "content-length")
            out.push(key, answer.rawHeaders[i + 1]!);
        }
        writeRawResponse(socket, answer.statusCode ?? 502, out, Buffer.concat(chunks));
      });
    });
    upstream.on("error", () => refuseUpgrade(socket, 502, "function_unavailable", `The ${name} function is not answering`));
    socket.on("close", () => upstream.destroy());
    upstream.end();
  });

  answerProtocolErrors(server);
  // Load generators reuse connections for a long time; stay longer than they do.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
            for (const socket of upgraded) socket.destroy();
            agent.destroy();
          }),
      });
    });
  });
}

/** The request's headers without the hop-by-hop ones, plus X-Forwarded-For and X-Forwarded-Host. */
function forwardedHeaders(req: IncomingMessage, port: number): string[] {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  let forwardedFor: string | undefined;
  let forwardedHost: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i]!;
    const lower = key.toLowerCase();
    if (REQUEST_HOP_BY_HOP.has(lower)) {
      if (lower === "x-forwarded-for") forwardedFor = forwardedFor ? `${forwardedFor}, ${raw[i + 1]}` : raw[i + 1];
      else if (lower === "x-forwarded-host") forwardedHost ??= raw[i + 1];
      continue;
    }
    headers.push(key, raw[i + 1]!);
  }
  const client = req.socket.remoteAddress ?? "";
  headers.push("X-Forwarded-For", forwardedFor ? `${forwardedFor}, ${client}` : client);
  const host = forwardedHost ?? req.headers.host;
  if (host) headers.push("X-Forwarded-Host", host);
  // An HTTP/1.0 request may come without Host; forwarded as HTTP/1.1 it needs one. (Node adds none to a request
  // whose headers are given as a list.)
  if (req.headers.host === undefined) headers.push("Host", `127.0.0.1:${port}`);
  return headers;
}

function refuseUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  writeRawResponse(
    socket,
    status,
    ["Content-Type", "application/json"],
    Buffer.from(JSON.stringify({ error: { code, message, details: [] } })),
  );
}

function reply(res: ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code, message, details: [] } });
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}
