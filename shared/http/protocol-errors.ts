// What Node's HTTP server and @hono/node-server refuse before the app sees a request (a header block over Node's
// limit, a malformed request line, a backslash in the path) answered in the documented error shape instead of an
// empty 400, and a client that goes away mid-request simply forgotten.
import type { RequestListener, Server } from "node:http";
import type { Socket } from "node:net";
import { RequestError } from "@hono/node-server";
import { log } from "../log";
import { errorBody } from "./errors";

const REASONS: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large" };

function statusOf(code: string | undefined): number {
  if (code === "HPE_HEADER_OVERFLOW") return 431;
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") return 408;
  return 400;
}

/** The raw HTTP/1.1 answer, written on the socket itself: the parser has given up on the connection, so it closes. */
export function rawErrorResponse(status: number, code: string, message: string): string {
  const body = JSON.stringify(errorBody(code, message));
  return (
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Bad Request"}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/**
 * Node's own check for Host answers an empty 400, so servers are created with requireHostHeader off and this does it:
 * an HTTP/1.1 request without Host is refused (RFC 9112 §3.2); HTTP/1.0 may omit it.
 */
export function requireHost(listener: RequestListener): RequestListener {
  return (req, res) => {
    if (req.headers.host !== undefined || req.httpVersion === "1.0") return listener(req, res);
    const body = JSON.stringify(errorBody("missing_host", "An HTTP/1.1 request must carry a Host header"));
    res.writeHead(400, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), Connection: "close" });
    res.end(body);
    req.resume();
  };
}

export function answerProtocolErrors(server: Server): void {
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    // A client that reset the connection, or one already being answered, hears nothing more.
    const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (err.code === "ECONNRESET" || !socket.writable || answering) {
      socket.destroy();
      return;
    }
    const status = statusOf(err.code);
    const message =
      status === 431
        ? "The request's headers are too large"
        : status === 408
          ? "The request took too long to arrive"
          : "The request is not valid HTTP";
    socket.end(
      rawErrorResponse(status, status === 431 ? "headers_too_large" : status === 408 ? "request_timeout" : "bad_request", message),
    );
  });
}

/**
 * @hono/node-server's answer to a request it cannot turn into a URL (a backslash in the path, a bad Host), and to
 * anything the app lets escape, which Hono's onError should have answered.
 */
export function invalidRequestResponse(err: unknown): Response {
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", Connection: "close" } });
  if (err instanceof RequestError) return json(400, errorBody("bad_request", `The request cannot be read: ${err.message}`));
  log("error", "unhandled error outside the app", { err: String(err) });
  return json(500, errorBody("internal_error", "Something went wrong on our side"));
}
