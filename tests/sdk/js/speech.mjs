// Speech with the official JS SDK's CallAutomationClient
// (@azure/communication-call-automation, pinned in package.json); the JS twin of
// `drive.py speech`. Run by tests/asr_sdk_js.rs.
//
//   node speech.mjs
//
// Reads TONEGATE_ENDPOINT, TONEGATE_ACCESS_KEY and TONEGATE_CALL_ID. Recognizes
// CHOICES (said, then not matched), SPEECH, SPEECH_OR_DTMF (answered with a key) and
// SPEECH that hears nothing, then starts, updates and stops live transcription. Prints
// one JSON line per step; prints {"step": "wait", "what": ...} and waits for a line on
// stdin where the test must speak or press. NODE_EXTRA_CA_CERTS trusts the test CA.

import { CallAutomationClient, DtmfTone } from "@azure/communication-call-automation";
import { step, wait } from "./steps.mjs";

const client = new CallAutomationClient(
  `endpoint=${process.env.TONEGATE_ENDPOINT};accesskey=${process.env.TONEGATE_ACCESS_KEY}`,
);
const media = client.getCallConnection(process.env.TONEGATE_CALL_ID).getCallMedia();
const caller = { phoneNumber: "+15551234567" };
const menu = [
  { label: "Sales", phrases: ["sales", "buy something"], tone: DtmfTone.One },
  { label: "Support", phrases: ["technical support"], tone: DtmfTone.Two },
];

for (const context of ["choices-said", "choices-unmatched"]) {
  await media.startRecognizing(caller, {
    kind: "callMediaRecognizeChoiceOptions",
    choices: menu,
    initialSilenceTimeoutInSeconds: 20,
    operationContext: context,
  });
  step("recognize_choices", { context });
  await wait(context);
}
await media.startRecognizing(caller, {
  kind: "callMediaRecognizeSpeechOptions",
  endSilenceTimeoutInSeconds: 1,
  initialSilenceTimeoutInSeconds: 20,
  speechLanguage: "en-US",
  operationContext: "speech",
});
step("recognize_speech");
await wait("speech");
await media.startRecognizing(caller, {
  kind: "callMediaRecognizeSpeechOrDtmfOptions",
  endSilenceTimeoutInSeconds: 1,
  initialSilenceTimeoutInSeconds: 20,
  maxTonesToCollect: 1,
  operationContext: "speech-or-dtmf",
});
step("recognize_speech_or_dtmf");
await wait("speech-or-dtmf");
await media.startRecognizing(caller, {
  kind: "callMediaRecognizeSpeechOptions",
  initialSilenceTimeoutInSeconds: 1,
  operationContext: "speech-silence",
});
step("recognize_speech_silence");
await media.startTranscription({ locale: "en-US", operationContext: "transcription" });
step("start_transcription");
await wait("transcribing");
await media.updateTranscription("en-GB", { operationContext: "transcription-update" });
step("update_transcription");
await media.stopTranscription({ operationContext: "transcription-stop" });
step("stop_transcription");
step("done");
