// What a request costs a server that sleeps between requests, against one kept busy: a bare node:http server in a
// process of its own, sent requests at fixed rates, then by 32 connections flat out, with the server's own CPU per
// request. On a virtual machine, a process woken from idle for every request pays for the wake-up, so a light load
// costs far more CPU per request than a heavy one, for the functions and the stores alike.
//
//   node --import tsx bench/wake-cost.ts [--rates 250,1000] [--seconds 5]
import { fork } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { percentiles } from "./lib/stats";

if (process.argv[2] === "--serve") {
  const server = http.createServer((_req, res) => res.end("ok"));
  server.listen(0, "127.0.0.1", () => process.send!((server.address() as AddressInfo).port));
  process.on("message", () => {
    const used = process.cpuUsage();
    process.send!(used.user + used.system);
  });
} else {
  const { values } = parseArgs({ options: { rates: { type: "string", default: "250,1000" }, seconds: { type: "string", default: "5" } } });
  const server = fork(import.meta.filename, ["--serve"]);
  const port = await new Promise<number>((resolve) => server.once("message", (m) => resolve(m as number)));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const get = () =>
    new Promise<void>((resolve, reject) =>
      http.get({ host: "127.0.0.1", port, agent }, (res) => res.resume().on("end", resolve)).on("error", reject),
    );
  const serverCpuUs = () =>
    new Promise<number>((resolve) => {
      server.once("message", (m) => resolve(m as number));
      server.send("cpu");
    });
  const timed = async (latencies: number[]) => {
    const sent = performance.now();
    await get();
    latencies.push(performance.now() - sent);
  };

  const runs: { load: string; requests: number; send: (latencies: number[]) => Promise<void> }[] = [];
  for (const rate of values.rates.split(",").map(Number)) {
    const requests = rate * Number(values.seconds);
    runs.push({
      load: `${rate}/s`,
      requests,
      send: async (latencies) => {
        const start = performance.now();
        const pending: Promise<void>[] = [];
        for (let i = 0; i < requests; i++) {
          const wait = start + (i * 1000) / rate - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          pending.push(timed(latencies));
        }
        await Promise.all(pending);
      },
    });
  }
  const closed = 50_000;
  runs.push({
    load: "32 connections",
    requests: closed,
    send: async (latencies) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next++ < closed) await timed(latencies);
        }),
      );
    },
  });

  for (const run of runs) {
    const latencies: number[] = [];
    const before = await serverCpuUs();
    await run.send(latencies);
    const cpu = (await serverCpuUs()) - before;
    const { p50, p95 } = percentiles(latencies);
    console.log(
      `${run.load}: server CPU ${Math.round(cpu / run.requests)} µs per request; sent → answered p50 ${p50.toFixed(2)}, p95 ${p95.toFixed(2)} ms`,
    );
  }
  server.kill();
  agent.destroy();
}
