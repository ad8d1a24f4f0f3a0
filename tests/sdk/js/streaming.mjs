// Parses the frames tonegate sent to a transcription WebSocket with the official JS
// SDK's StreamingData.parse (@azure/communication-call-automation, pinned in
// package.json). Run by tests/transcription.rs.
//
//   node streaming.mjs FRAMES.json
//
// FRAMES.json is a JSON array of strings: each text frame exactly as received. Prints a
// JSON array with one entry per frame, in order: the kind the SDK gave it
// (StreamingData.getStreamingKind()) and what it parsed, or the error it threw.

import { readFileSync } from "node:fs";
import { StreamingData } from "@azure/communication-call-automation";

const frames = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = frames.map((frame) => {
  try {
    const parsed = StreamingData.parse(frame);
    return { kind: StreamingData.getStreamingKind(), parsed };
  } catch (e) {
    return { error: String(e && e.stack ? e.stack : e) };
  }
});
process.stdout.write(JSON.stringify(out));
