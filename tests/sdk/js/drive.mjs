// Drives tonegate's Call Automation API with the official JS SDK's CallAutomationClient
// (@azure/communication-call-automation, pinned in package.json). Run by
// tests/sdk_js_drive.rs.
//
//   node drive.mjs
//
// Reads TONEGATE_ENDPOINT, TONEGATE_ACCESS_KEY, TONEGATE_CALL_ID, TONEGATE_PROMPT_URI
// (a short prompt), TONEGATE_LONG_PROMPT_URI (one long enough to be interrupted) and
// TONEGATE_OPERATION_CALLBACK (where the events of the first sendDtmfTones go).
// Prints one JSON line per step to stdout ({"step": name, "status": HTTP status, ...});
// prints {"step": "wait", "what": ...} and waits for a line on stdin where the test
// must press digits or see events first.
//
// The SDK signs every request with HMAC-SHA256 (accesskey in the connection string);
// NODE_EXTRA_CA_CERTS trusts the test CA of the https endpoint.

import { CallAutomationClient, DtmfTone } from "@azure/communication-call-automation";
import { step, wait } from "./steps.mjs";

/** The last response tonegate sent: the request's method and path, the HTTP status. */
let last = null;

/** A pipeline policy that records each response in `last`. */
const recorder = {
  name: "tonegateRecorder",
  async sendRequest(request, next) {
    const response = await next(request);
    const url = new URL(request.url);
    last = { method: request.method, path: `${url.pathname}${url.search}`, status: response.status };
    return response;
  },
};

/**
 * Runs `call`, printing step `name` with the HTTP status of its (last) request, its
 * method and path and what it returned, or the RestError's status, message and code.
 */
async function attempt(name, call) {
  last = null;
  try {
    const result = await call();
    step(name, { ...last, result: result ?? null });
  } catch (e) {
    if (e?.name !== "RestError") {
      throw e;
    }
    step(name, { ...last, status: e.statusCode ?? null, message: e.message, code: e.code ?? null });
  }
}

const endpoint = process.env.TONEGATE_ENDPOINT;
const key = process.env.TONEGATE_ACCESS_KEY;
const client = new CallAutomationClient(`endpoint=${endpoint};accesskey=${key}`, {
  additionalPolicies: [{ policy: recorder, position: "perRetry" }],
});
const connection = client.getCallConnection(process.env.TONEGATE_CALL_ID);
const media = connection.getCallMedia();
const caller = { phoneNumber: "+15551234567" };
const prompt = { kind: "fileSource", url: process.env.TONEGATE_PROMPT_URI };
const longPrompt = { kind: "fileSource", url: process.env.TONEGATE_LONG_PROMPT_URI };

/** A DTMF recognize of the caller with `options`. */
function recognize(options) {
  return media.startRecognizing(caller, { kind: "callMediaRecognizeDtmfOptions", ...options });
}

const props = await connection.getCallConnectionProperties();
step("properties", {
  ...last,
  callConnectionId: props.callConnectionId ?? null,
  callConnectionState: props.callConnectionState ?? null,
  serverCallId: props.serverCallId ?? null,
  targets: props.targetParticipants ?? null,
});

// Text and SSML sources, spoken by tonegate's espeak-ng; the test listens.
await attempt("text_play", () =>
  media.playToAll(
    [{ kind: "textSource", text: "Press one for sales", voiceName: "en-US-JennyNeural" }],
    { operationContext: "text-1" },
  ),
);
await attempt("ssml_play", () =>
  media.playToAll(
    [{ kind: "ssmlSource", ssmlText: '<speak>Press two <break time="1s"/> for support</speak>' }],
    { operationContext: "ssml-1" },
  ),
);
await wait("speech-heard");

// Refused: an unknown call.
const unknown = client.getCallConnection("no-such-call");
await attempt("unknown_call_media", () => unknown.getCallMedia().cancelAllOperations());
await attempt("unknown_call_properties", () => unknown.getCallConnectionProperties());

// Play to everyone (two sources), then to the caller alone.
await attempt("play_to_all", () =>
  media.playToAll([prompt, prompt], { operationContext: "play-all" }),
);
await wait("play-all-done");
await attempt("play_to_caller", () =>
  media.play([prompt], [caller], { operationContext: "play-caller" }),
);
await wait("play-caller-done");

// Continuous recognition runs under every recognize below.
await attempt("start_continuous", () =>
  media.startContinuousDtmfRecognition(caller, { operationContext: "cont-1" }),
);

// A long prompt the caller interrupts; a stop tone ends it.
await attempt("recognize_stop_tone", () =>
  recognize({
    playPrompt: longPrompt,
    interruptPrompt: true,
    initialSilenceTimeoutInSeconds: 30,
    interToneTimeoutInSeconds: 10,
    maxTonesToCollect: 4,
    stopDtmfTones: [DtmfTone.Pound],
    operationContext: "rec-stop",
  }),
);
await wait("rec-stop");

// Max tones, with a prompt in playPrompts.
await attempt("recognize_max_tones", () =>
  recognize({
    playPrompts: [prompt],
    initialSilenceTimeoutInSeconds: 30,
    interToneTimeoutInSeconds: 10,
    maxTonesToCollect: 3,
    operationContext: "rec-max",
  }),
);
await wait("rec-max");

// Inter-tone timeout: one key, then silence.
await attempt("recognize_inter_tone", () =>
  recognize({
    initialSilenceTimeoutInSeconds: 30,
    interToneTimeoutInSeconds: 1,
    maxTonesToCollect: 5,
    operationContext: "rec-inter",
  }),
);
await wait("rec-inter");

await attempt("stop_continuous", () =>
  media.stopContinuousDtmfRecognition(caller, { operationContext: "cont-1" }),
);

// Send DTMF; a second one while the first runs conflicts (412 / 8583).
await attempt("send_dtmf", () =>
  media.sendDtmfTones([DtmfTone.One, DtmfTone.Two, DtmfTone.Pound], caller, {
    operationContext: "send-1",
    operationCallbackUrl: process.env.TONEGATE_OPERATION_CALLBACK,
  }),
);
await attempt("send_dtmf_conflict", () =>
  media.sendDtmfTones([DtmfTone.Nine], caller, { operationContext: "send-2" }),
);
await wait("send-dtmf-done");

await attempt("hold", () =>
  media.hold(caller, { playSource: prompt, operationContext: "hold-1" }),
);
await attempt("unhold", () => media.unhold(caller, { operationContext: "unhold-1" }));

// A looping play, canceled.
await attempt("play_loop", () =>
  media.playToAll([prompt], { loop: true, operationContext: "loop-1" }),
);
await wait("loop-started");
await attempt("cancel_all", () => media.cancelAllOperations());
step("done");
process.exit(0);
