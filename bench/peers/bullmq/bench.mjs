// BullMQ, the Node.js queue Castiel's design comes from, as a peer in
// bench/queue_throughput.py. Enqueue modes print {"seconds", "cpu_seconds", "how"} as JSON,
// timed inside this process (Node start-up excluded, as for the Python peers); `worker`
// processes no-op jobs at concurrency 100 until it is terminated.
//
//   node bench.mjs single|concurrent|bulk N [producers]    node bench.mjs worker
import { Queue, Worker } from "bullmq";

const url = new URL(process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:1/0");
const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
const QUEUE = "bench";
const CONCURRENCY = 100;

function cpuSeconds(start) {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

async function enqueue(mode, n, producers) {
  const queue = new Queue(QUEUE, { connection });
  await queue.waitUntilReady();
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let how = "";
  if (mode === "single") {
    for (let i = 0; i < n; i++) await queue.add("noop", { i });
    how = "await queue.add() one at a time";
  } else if (mode === "concurrent") {
    let next = 0;
    const producer = async () => {
      while (next < n) await queue.add("noop", { i: next++ });
    };
    await Promise.all(Array.from({ length: producers }, producer));
    how = `${producers} concurrent async producers awaiting queue.add()`;
  } else if (mode === "bulk") {
    await queue.addBulk(Array.from({ length: n }, (_, i) => ({ name: "noop", data: { i } })));
    how = "queue.addBulk(all jobs)";
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(c0);
  await queue.close();
  console.log(JSON.stringify({ seconds, cpu_seconds: cpu, how }));
}

async function work() {
  // Completed jobs are trimmed to the newest 1000, as Castiel's default retention does.
  const worker = new Worker(QUEUE, async () => null, {
    connection,
    concurrency: CONCURRENCY,
    removeOnComplete: { count: 1000 },
  });
  const stop = async () => {
    await worker.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  worker.on("error", (err) => console.error(err));
}

const [mode, n, producers] = process.argv.slice(2);
if (mode === "worker") {
  await work();
} else {
  await enqueue(mode, Number(n), Number(producers ?? 100));
}
