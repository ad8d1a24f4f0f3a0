// Parses tonegate's CloudEvents webhook bodies with the official JS SDK's
// parseCallAutomationEvent (@azure/communication-call-automation, pinned in
// package.json). Run by tests/sdk_js.rs.
//
//   node parse.mjs BODIES.json
//
// BODIES.json is a JSON array of strings: each one webhook POST body exactly as
// received (itself a JSON array of CloudEvents). Prints a JSON array with one entry
// per CloudEvent, in order: what the SDK made of it (its `kind`, the key fields) or
// the error it threw.
//
// parseCallAutomationEvent(string) JSON.parses the string and, for an array, parses
// only its first element; so the body string is passed as is for the first element
// (the way a webhook handler would call it) and any further element as an object.

import { readFileSync } from "node:fs";
import { DtmfTone, parseCallAutomationEvent } from "@azure/communication-call-automation";

const knownTones = new Set(Object.values(DtmfTone));
const bodies = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = [];
bodies.forEach((body, postIndex) => {
  const elements = JSON.parse(body);
  elements.forEach((element, index) => {
    const entry = { post: postIndex, index, type: element.type, id: element.id };
    try {
      const event = parseCallAutomationEvent(index === 0 ? body : element);
      const tones = event.dtmfResult?.tones ?? null;
      const allTones = [...(tones ?? []), ...(event.tone === undefined ? [] : [event.tone])];
      Object.assign(entry, {
        kind: event.kind ?? null,
        callConnectionId: event.callConnectionId ?? null,
        serverCallId: event.serverCallId ?? null,
        correlationId: event.correlationId ?? null,
        operationContext: event.operationContext ?? null,
        resultInformation: event.resultInformation
          ? {
              code: event.resultInformation.code ?? null,
              subCode: event.resultInformation.subCode ?? null,
              message: event.resultInformation.message ?? null,
            }
          : null,
        recognitionType: event.recognitionType ?? null,
        tones,
        tone: event.tone ?? null,
        sequenceId: event.sequenceId ?? null,
        failedPlaySourceIndex: event.failedPlaySourceIndex ?? null,
        transcriptionUpdate: event.transcriptionUpdate ?? null,
        // Tone names the SDK's DtmfTone enum does not know.
        unknownTones: allTones.filter((t) => !knownTones.has(t)),
        // core-client reads `time` as a DateTime with `new Date(...)`.
        timeValid: !Number.isNaN(new Date(element.time).getTime()),
      });
    } catch (e) {
      entry.error = String(e && e.stack ? e.stack : e);
    }
    out.push(entry);
  });
});
process.stdout.write(JSON.stringify(out));
