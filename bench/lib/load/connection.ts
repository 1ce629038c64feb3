// One keep-alive HTTP/1.1 connection that sends one request at a time and reads just the status line and
// enough of the headers to find where the body ends. Far cheaper per request than node:http's client, which
// matters here: the load generator shares the machine's two cores with the system it measures.
import { connect, type Socket } from "node:net";

export interface HttpRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpResponse {
  status: number;
  body: Buffer;
}

const HEADER_END = Buffer.from("\r\n\r\n");
// Node's servers close a keep-alive connection after 5 s idle. A request written just as that happens is
// lost with the socket, which would count as the server's error: a connection idle this long is replaced
// before it is used, as HTTP clients do.
const IDLE_REUSE_LIMIT_MS = 4_000;

export class Connection {
  private socket?: Socket;
  private connecting?: Promise<Socket>;
  private buffer: Buffer = Buffer.alloc(0);
  private waiting?: { resolve(res: HttpResponse): void; reject(err: Error): void };
  private lastUsed = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  async send(request: HttpRequest): Promise<HttpResponse> {
    const socket = await this.open();
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    let head = `${request.method} ${request.path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\n`;
    for (const [name, value] of Object.entries(request.headers)) head += `${name}: ${value}\r\n`;
    head += `content-length: ${body?.length ?? 0}\r\n\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      socket.write(body ? Buffer.concat([Buffer.from(head), body]) : head);
    });
  }

  close(): void {
    this.socket?.destroy();
  }

  private open(): Promise<Socket> {
    const now = performance.now();
    if (this.socket && now - this.lastUsed > IDLE_REUSE_LIMIT_MS) this.drop(this.socket);
    this.lastUsed = now;
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port, noDelay: true });
      socket.once("connect", () => {
        this.socket = socket;
        this.connecting = undefined;
        resolve(socket);
      });
      // A socket this connection has dropped no longer speaks for it.
      socket.on("data", (chunk: Buffer) => socket === this.socket && this.onData(chunk));
      socket.on("error", (err) => {
        if (this.connecting && !this.socket) this.connecting = undefined;
        reject(err);
        if (socket === this.socket || !this.socket) this.fail(err);
      });
      socket.on("close", () => {
        if (socket !== this.socket) return;
        this.socket = undefined;
        this.buffer = Buffer.alloc(0);
        this.fail(new Error("connection closed"));
      });
    });
    return this.connecting;
  }

  /** Closes a socket with nothing in flight on it, without failing anything. */
  private drop(socket: Socket): void {
    this.socket = undefined;
    this.buffer = Buffer.alloc(0);
    socket.destroy();
  }

  private fail(err: Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(err);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headerEnd = this.buffer.indexOf(HEADER_END);
    if (headerEnd === -1) return;
    const head = this.buffer.toString("latin1", 0, headerEnd);
    const status = Number(head.slice(9, 12));
    const bodyStart = headerEnd + 4;

    let bodyEnd: number;
    let body: Buffer;
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length) {
      bodyEnd = bodyStart + Number(length[1]);
      if (this.buffer.length < bodyEnd) return;
      body = this.buffer.subarray(bodyStart, bodyEnd);
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const chunked = readChunked(this.buffer, bodyStart);
      if (!chunked) return;
      ({ end: bodyEnd, body } = chunked);
    } else {
      bodyEnd = bodyStart; // 204/304, or a body delimited by close, which these servers never send
      body = Buffer.alloc(0);
    }

    this.buffer = this.buffer.subarray(bodyEnd);
    if (/\r\nconnection: *close/i.test(head)) this.socket?.end();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ status, body });
  }
}

/** A complete chunked body from `start`: its bytes and where it ends, or undefined while it is still arriving. */
function readChunked(buffer: Buffer, start: number): { body: Buffer; end: number } | undefined {
  const chunks: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = buffer.indexOf("\r\n", at);
    if (lineEnd === -1) return undefined;
    const size = Number.parseInt(buffer.toString("latin1", at, lineEnd), 16);
    if (size === 0) {
      // No trailers are sent here: the last chunk is followed by an empty line.
      if (buffer.length < lineEnd + 4) return undefined;
      return { body: Buffer.concat(chunks), end: lineEnd + 4 };
    }
    const dataEnd = lineEnd + 2 + size;
    if (buffer.length < dataEnd + 2) return undefined;
    chunks.push(buffer.subarray(lineEnd + 2, dataEnd));
    at = dataEnd + 2;
  }
}
