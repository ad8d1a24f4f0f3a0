// The step protocol the SDK scripts speak with their Rust test: one JSON line per step
// on stdout ({"step": name, ...}); a wait step ({"step": "wait", "what": ...}) is
// answered by one line on stdin once the test has spoken, pressed or seen events.

import { createInterface } from "node:readline";

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Prints one step. */
export function step(name, fields = {}) {
  process.stdout.write(`${JSON.stringify({ step: name, ...fields })}\n`);
}

/** Prints a wait step and reads one line from stdin. */
export async function wait(what) {
  step("wait", { what });
  const { done } = await lines.next();
  if (done) {
    throw new Error(`stdin closed while waiting for ${what}`);
  }
}
