// The Node side of Baton's peer comparison (compare.py; see README.md). Drains one queue that
// compare.py filled and prints one JSON line, the same contract as Baton's `worker_peer`:
//
//   node consumer.mjs --queue-url URL --messages N [--handler-ms MS] [--mode consumer|raw] [--consumers K]
//
// --mode consumer (default): K `sqs-consumer` Consumer instances with handleMessageBatch, batchSize 10,
//   one shared SQS client. The batch handler sleeps MS for every message of the batch at once
//   (Promise.all), then returns the batch, so sqs-consumer deletes all of it with one DeleteMessageBatch.
//   runner = "sqs-consumer".
// --mode raw: K loops of ReceiveMessage(10) + DeleteMessageBatch, no handler (ceiling probe).
//   runner = "node-raw".
//
// Both ask SQS for the AWSTraceHeader system attribute only (every message carries one).
// The clock starts just before the consumers/loops are started and stops when SQS has confirmed the
// delete of the Nth message: sqs-consumer emits `message_processed` for each message only after its
// DeleteMessageBatch answered and listed it under Successful; the raw loops count the Successful
// entries of their own DeleteMessageBatch answers.
// Endpoint: BATON_LOCALSTACK_ENDPOINT (default http://127.0.0.1:4566), region us-east-1, creds test/test.
// --show-requests prints the first ReceiveMessage and DeleteMessageBatch request bodies to stderr.

import http from "node:http";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  SQSClient,
  ReceiveMessageCommand,
  DeleteMessageBatchCommand,
} from "@aws-sdk/client-sqs";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { Consumer } from "sqs-consumer";

const TRACE_ATTRIBUTES = ["AWSTraceHeader"];

function parseArgs(argv) {
  const out = { queueUrl: "", messages: 0, handlerMs: 0, mode: "consumer", consumers: 4, showRequests: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === "--show-requests") {
      out.showRequests = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    switch (flag) {
      case "--queue-url": out.queueUrl = value; break;
      case "--messages": out.messages = parseInt(value, 10); break;
      case "--handler-ms": out.handlerMs = parseInt(value, 10); break;
      case "--mode": out.mode = value; break;
      case "--consumers": out.consumers = parseInt(value, 10); break;
      default: throw new Error(`unknown argument ${flag}`);
    }
  }
  if (!out.queueUrl || !(out.messages > 0) || !(out.consumers > 0) || !["consumer", "raw"].includes(out.mode)) {
    throw new Error("usage: consumer.mjs --queue-url URL --messages N [--handler-ms MS] [--mode consumer|raw] [--consumers K]");
  }
  if (out.mode === "raw" && out.handlerMs > 0) throw new Error("--mode raw has no handler; --handler-ms must be 0");
  return out;
}

function peakRssKib() {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmHWM:"));
  return line ? parseInt(line.split(/\s+/)[1], 10) : 0;
}

const args = parseArgs(process.argv.slice(2));
const endpoint = (process.env.BATON_LOCALSTACK_ENDPOINT || "http://127.0.0.1:4566").trim().replace(/\/+$/, "");

// Keep-alive sockets, up to 50 at once (more than the 16 requests in flight at most here), so Node
// is never waiting for a socket. useQueueUrlAsEndpoint: false, so requests go to `endpoint` (the
// delayed path in latency mode), never to the host named in the queue URL.
const client = new SQSClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  useQueueUrlAsEndpoint: false,
  requestHandler: new NodeHttpHandler({
    httpAgent: new http.Agent({ keepAlive: true, maxSockets: 50 }),
  }),
});

if (args.showRequests) {
  const shown = new Set();
  client.middlewareStack.add(
    (next, context) => async (a) => {
      const op = context.commandName;
      if (!shown.has(op) && a.request && a.request.body) {
        shown.add(op);
        const body = typeof a.request.body === "string" ? a.request.body : new TextDecoder().decode(a.request.body);
        process.stderr.write(`${op}: ${a.request.headers["x-amz-target"] || ""} ${body.slice(0, 400)}\n`);
      }
      return next(a);
    },
    { step: "finalizeRequest", name: "showRequests" },
  );
}

const seen = new Set();
let handled = 0;
let deleted = 0;
let errors = 0;
let start = 0;
let startup = 0; // seconds from process start to the clock's start
let finished = false;
let resolveDone;
const done = new Promise((r) => { resolveDone = r; });

function see(message) {
  handled += 1;
  seen.add(message.Body);
}

function countDeleted(n) {
  deleted += n;
  if (!finished && deleted >= args.messages) {
    finished = true;
    resolveDone(performance.now());
  }
}

function reportError(where, err) {
  if (finished) return; // aborted long polls while stopping
  errors += 1;
  if (errors <= 10) process.stderr.write(`consumer.mjs: ${where}: ${err && err.message ? err.message : err}\n`);
}

let stopAll = () => {};

if (args.mode === "consumer") {
  const ms = args.handlerMs;
  const consumers = [];
  for (let i = 0; i < args.consumers; i++) {
    const consumer = Consumer.create({
      queueUrl: args.queueUrl,
      sqs: client,
      batchSize: 10, // default 1
      messageSystemAttributeNames: TRACE_ATTRIBUTES, // default: none
      // waitTimeSeconds: default 20; visibilityTimeout: default unset (the queue's, 30 s);
      // attributeNames / messageAttributeNames: default [] (none).
      handleMessageBatch: async (messages) => {
        if (ms > 0) await Promise.all(messages.map(() => sleep(ms)));
        for (const m of messages) see(m);
        return messages; // the messages to acknowledge (delete); returning nothing deletes none
      },
    });
    consumer.on("message_processed", () => countDeleted(1)); // emitted after the confirmed delete
    consumer.on("error", (err) => reportError("error", err));
    consumer.on("processing_error", (err) => reportError("processing_error", err));
    consumer.on("timeout_error", (err) => reportError("timeout_error", err));
    consumers.push(consumer);
  }
  stopAll = () => consumers.forEach((c) => c.stop({ abort: true }));
  startup = process.uptime();
  start = performance.now();
  consumers.forEach((c) => c.start());
} else {
  const abort = new AbortController();
  const loop = async () => {
    while (!finished) {
      let out;
      try {
        out = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: args.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: TRACE_ATTRIBUTES,
          }),
          { abortSignal: abort.signal },
        );
      } catch (err) {
        reportError("receive", err);
        continue;
      }
      const messages = out.Messages || [];
      if (messages.length === 0) continue;
      messages.forEach(see);
      try {
        const res = await client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: args.queueUrl,
            Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
        if (res.Failed && res.Failed.length) reportError("delete", new Error(`${res.Failed.length} entries failed`));
        countDeleted((res.Successful || []).length);
      } catch (err) {
        reportError("delete", err);
      }
    }
  };
  stopAll = () => abort.abort();
  startup = process.uptime();
  start = performance.now();
  for (let i = 0; i < args.consumers; i++) loop();
}

const end = await done;
const seconds = (end - start) / 1000;
stopAll();
process.stdout.write(
  JSON.stringify({
    runner: args.mode === "consumer" ? "sqs-consumer" : "node-raw",
    messages: args.messages,
    handled,
    unique: seen.size,
    deleted,
    seconds: Number(seconds.toFixed(4)),
    rate: Number((args.messages / seconds).toFixed(1)),
    peak_rss_kib: peakRssKib(),
    errors,
    startup_seconds: Number(startup.toFixed(4)),
  }) + "\n",
  () => process.exit(0),
);
