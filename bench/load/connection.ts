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

export class Connection {
  private socket?: Socket;
  private connecting?: Promise<Socket>;
  private buffer: Buffer = Buffer.alloc(0);
  private waiting?: { resolve(res: HttpResponse): void; reject(err: Error): void };

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
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port, noDelay: true });
      socket.once("connect", () => {
        this.socket = socket;
        this.connecting = undefined;
        resolve(socket);
      });
      socket.on("data", (chunk: Buffer) => this.onData(chunk));
      socket.on("error", (err) => {
        this.connecting = undefined;
        reject(err);
        this.fail(err);
      });
      socket.on("close", () => {
        this.socket = undefined;
        this.buffer = Buffer.alloc(0);
        this.fail(new Error("connection closed"));
      });
    });
    return this.connecting;
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
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length) {
      bodyEnd = bodyStart + Number(length[1]);
      if (this.buffer.length < bodyEnd) return;
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      // A chunked body ends with a zero-sized chunk; the bodies here are small, so look for it directly.
      const terminator = this.buffer.indexOf("0\r\n\r\n", bodyStart);
      if (terminator === -1) return;
      bodyEnd = terminator + 5;
    } else {
      bodyEnd = bodyStart; // 204/304, or a body delimited by close, which these servers never send
    }

    const body = this.buffer.subarray(bodyStart, bodyEnd);
    this.buffer = this.buffer.subarray(bodyEnd);
    if (/\r\nconnection: *close/i.test(head)) this.socket?.end();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ status, body });
  }
}
