// HTTP/1.1 written by hand on a socket, for what fetch will not send: a malformed request line, no Host, a body that
// keeps coming after the server has answered. Reports what came back and how the connection ended.
import { connect } from "node:net";

export interface RawExchange {
  /** Everything the server sent. */
  text: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  /** ms from the first byte written until the answer's headers had arrived (-1: none came). */
  answeredMs: number;
  /** How the connection ended: the server's FIN, a reset, or still open when we gave up. */
  ended: "fin" | "reset" | "open";
  /** ms until it ended. */
  endedMs: number;
  /** Body bytes written before the connection ended. */
  bodyBytesSent: number;
}

export interface RawOptions {
  /** Written after the head, 16 KiB at a time, until the connection ends or this many bytes are out. */
  bodyBytes?: number;
  /** Frame the written body as chunked. */
  chunked?: boolean;
  /** Give up waiting after this long. */
  timeoutMs?: number;
}

export function rawRequest(
  port: number,
  head: string | Buffer,
  { bodyBytes = 0, chunked = false, timeoutMs = 5_000 }: RawOptions = {},
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const started = performance.now();
    const chunks: Buffer[] = [];
    let answeredMs = -1;
    let ended: RawExchange["ended"] = "open";
    let endedMs = -1;
    let sent = 0;
    const finish = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("utf8");
      const [headText = "", ...rest] = text.split("\r\n\r\n");
      const [statusLine = "", ...headerLines] = headText.split("\r\n");
      const headers = Object.fromEntries(
        headerLines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
      );
      resolve({
        text,
        status: Number(statusLine.split(" ")[1]) || 0,
        headers,
        body: rest.join("\r\n\r\n"),
        answeredMs,
        ended,
        endedMs,
        bodyBytesSent: sent,
      });
    };
    const timer = setTimeout(() => (socket.destroy(), finish()), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (answeredMs < 0 && Buffer.concat(chunks).includes("\r\n\r\n")) answeredMs = performance.now() - started;
    });
    socket.on("end", () => {
      ended = "fin";
      endedMs = performance.now() - started;
      socket.end();
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (ended === "open") {
        ended = err.code === "ECONNRESET" ? "reset" : "open";
        endedMs = performance.now() - started;
      }
    });
    socket.on("close", finish);
    socket.write(head);
    const piece = Buffer.alloc(16 * 1024, " ");
    const pump = () => {
      while (sent < bodyBytes && ended === "open" && !socket.destroyed && socket.writable) {
        sent += piece.length;
        const framed = chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n")]) : piece;
        if (!socket.write(framed)) return void socket.once("drain", pump);
      }
    };
    if (bodyBytes > 0) pump();
  });
}
