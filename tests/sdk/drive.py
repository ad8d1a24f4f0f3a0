"""Drives tonegate's Call Automation API with the official Python SDK
(azure-communication-callautomation 1.6.0). Run by tests/sdk_python.rs.

  drive.py run      reads TONEGATE_ENDPOINT, TONEGATE_ACCESS_KEY, TONEGATE_CALL_ID,
                    TONEGATE_PROMPT_URI; prints one JSON line per step to stdout; waits
                    for a line on stdin where the test must listen or press digits.
  drive.py timeouts the same without TONEGATE_PROMPT_URI: recognize timeouts in real
                    time, hold with the configured music, continuous DTMF left running.
  drive.py speech   speech recognizes (choices, speech, speechOrDtmf) and live
                    transcription on an ACS call; waits on stdin where the test must
                    speak or press.
  drive.py barge-in a speech recognize with a long spoken prompt that the caller's
                    voice interrupts.
  drive.py parse F  parses the CloudEvents in JSON file F with azure-core's CloudEvent
                    model and prints a JSON summary.

The SDK signs every request with HMAC-SHA256 (accesskey in the connection string).
REQUESTS_CA_BUNDLE points at the test CA when the endpoint is https.
"""

import json
import os
import sys


def step(name, **fields):
    print(json.dumps({"step": name, **fields}), flush=True)


def wait(what):
    step("wait", what=what)
    line = sys.stdin.readline()
    if not line:
        raise SystemExit(f"stdin closed while waiting for {what}")


def error_info(e):
    response = getattr(e, "response", None)
    status = getattr(response, "status_code", None) or getattr(e, "status_code", None)
    return {"status": status, "message": str(e).splitlines()[0] if str(e) else ""}


def connect():
    """The SDK client for the call named in the environment, and the caller."""
    from azure.communication.callautomation import CallAutomationClient, PhoneNumberIdentifier

    endpoint = os.environ["TONEGATE_ENDPOINT"]
    key = os.environ["TONEGATE_ACCESS_KEY"]
    call_id = os.environ["TONEGATE_CALL_ID"]
    client = CallAutomationClient.from_connection_string(f"endpoint={endpoint};accesskey={key}")
    return client, client.get_call_connection(call_id), PhoneNumberIdentifier("+15551234567")


def run():
    from azure.communication.callautomation import (
        DtmfTone,
        FileSource,
        RecognizeInputType,
        SsmlSource,
        TextSource,
    )
    from azure.core.exceptions import HttpResponseError

    prompt = os.environ["TONEGATE_PROMPT_URI"]
    client, call, caller = connect()

    props = call.get_call_properties()
    step(
        "properties",
        call_connection_id=props.call_connection_id,
        state=str(props.call_connection_state),
        server_call_id=props.server_call_id,
    )

    # Text and SSML sources are spoken (tonegate's espeak-ng); the test listens.
    call.play_media(
        TextSource(text="Press one for sales", voice_name="en-US-JennyNeural", source_locale="en-US"),
        operation_context="text-1",
    )
    step("text_play", status=202)
    call.play_media(
        SsmlSource(ssml_text='<speak>Press two <break time="1s"/> for support</speak>'),
        operation_context="ssml-1",
    )
    step("ssml_play", status=202)
    wait("speech-heard")

    # An unknown call answers 404.
    try:
        client.get_call_connection("no-such-call").cancel_all_media_operations()
        step("unknown_call", status=202)
    except HttpResponseError as e:
        step("unknown_call", **error_info(e))

    call.play_media(FileSource(url=prompt), operation_context="play-1")
    step("play", status=202)

    call.start_continuous_dtmf_recognition(caller, operation_context="cont-1")
    step("start_continuous", status=200)

    call.start_recognizing_media(
        RecognizeInputType.DTMF,
        caller,
        initial_silence_timeout=20,
        interrupt_prompt=True,
        dtmf_inter_tone_timeout=5,
        dtmf_max_tones_to_collect=4,
        dtmf_stop_tones=[DtmfTone.POUND],
        operation_context="rec-1",
    )
    step("recognize", status=202)

    wait("digits")

    call.stop_continuous_dtmf_recognition(caller, operation_context="cont-1")
    step("stop_continuous", status=200)

    result = call.send_dtmf_tones([DtmfTone.ONE, DtmfTone.TWO, DtmfTone.POUND], caller, operation_context="send-1")
    step("send_dtmf", status=202, operation_context=getattr(result, "operation_context", None))

    # A second sendDtmfTones while the first runs conflicts: 412 / 8583.
    try:
        call.send_dtmf_tones([DtmfTone.NINE], caller, operation_context="send-2")
        step("send_dtmf_conflict", status=202)
    except HttpResponseError as e:
        step("send_dtmf_conflict", **error_info(e))

    wait("send-dtmf-done")

    call.hold(caller, play_source=FileSource(url=prompt), operation_context="hold-1")
    step("hold", status=200)
    call.unhold(caller, operation_context="unhold-1")
    step("unhold", status=200)

    call.play_media(FileSource(url=prompt), loop=True, operation_context="loop-1")
    step("play_loop", status=202)
    wait("loop-started")
    call.cancel_all_media_operations()
    step("cancel_all", status=202)
    step("done")


def timeouts():
    """Timeouts in real time, the configured hold music, continuous DTMF left running."""
    from azure.communication.callautomation import RecognizeInputType

    _, call, caller = connect()
    call.start_continuous_dtmf_recognition(caller, operation_context="cont-t")
    step("start_continuous", status=200)

    # Nobody presses anything: RecognizeFailed 8510 after one second.
    call.start_recognizing_media(
        RecognizeInputType.DTMF, caller, initial_silence_timeout=1, operation_context="silence"
    )
    step("recognize_silence", status=202)
    wait("silence-failed")

    # One key, then nothing: RecognizeCompleted 8532 with that key one second later.
    call.start_recognizing_media(
        RecognizeInputType.DTMF,
        caller,
        initial_silence_timeout=30,
        dtmf_inter_tone_timeout=1,
        dtmf_max_tones_to_collect=5,
        operation_context="inter-tone",
    )
    step("recognize_inter_tone", status=202)
    wait("inter-tone-done")

    # Hold without a play source: tonegate's configured hold music.
    call.hold(caller, operation_context="hold-t")
    step("hold", status=200)
    wait("music-heard")
    call.unhold(caller, operation_context="unhold-t")
    step("unhold", status=200)
    step("done")


def speech():
    """Speech recognizes: choices said, choices not matched, free speech, speechOrDtmf
    answered with a key, and a speech recognize that hears nothing; then live
    transcription started, updated and stopped."""
    from azure.communication.callautomation import RecognitionChoice, RecognizeInputType

    _, call, caller = connect()
    menu = [
        RecognitionChoice(label="Sales", phrases=["sales", "buy something"], tone="one"),
        RecognitionChoice(label="Support", phrases=["technical support"], tone="two"),
    ]
    for context in ("choices-said", "choices-unmatched"):
        call.start_recognizing_media(
            RecognizeInputType.CHOICES,
            caller,
            choices=menu,
            end_silence_timeout=1,
            initial_silence_timeout=20,
            operation_context=context,
        )
        step("recognize_choices", status=202, context=context)
        wait(context)
    call.start_recognizing_media(
        RecognizeInputType.SPEECH,
        caller,
        end_silence_timeout=1,
        initial_silence_timeout=20,
        speech_language="en-US",
        operation_context="speech",
    )
    step("recognize_speech", status=202)
    wait("speech")
    call.start_recognizing_media(
        RecognizeInputType.SPEECH_OR_DTMF,
        caller,
        end_silence_timeout=1,
        initial_silence_timeout=20,
        dtmf_max_tones_to_collect=1,
        operation_context="speech-or-dtmf",
    )
    step("recognize_speech_or_dtmf", status=202)
    wait("speech-or-dtmf")
    call.start_recognizing_media(
        RecognizeInputType.SPEECH,
        caller,
        initial_silence_timeout=1,
        operation_context="speech-silence",
    )
    step("recognize_speech_silence", status=202)
    call.start_transcription(locale="en-US", operation_context="transcription")
    step("start_transcription", status=202)
    wait("transcribing")
    call.update_transcription(locale="en-GB", operation_context="transcription-update")
    step("update_transcription", status=202)
    call.stop_transcription(operation_context="transcription-stop")
    step("stop_transcription", status=202)
    step("done")


def barge_in():
    """A speech recognize whose long spoken prompt the caller interrupts by talking."""
    from azure.communication.callautomation import RecognizeInputType, TextSource

    _, call, caller = connect()
    prompt = TextSource(
        text="Thank you for calling. Please listen carefully, as our menu options have "
        "changed. For account balances and recent payments, say billing. For help with "
        "an order you have already placed, say orders. For everything else, say agent.",
        voice_name="en-US-JennyNeural",
    )
    call.start_recognizing_media(
        RecognizeInputType.SPEECH,
        caller,
        play_prompt=prompt,
        interrupt_prompt=True,
        initial_silence_timeout=20,
        end_silence_timeout=1,
        operation_context="barge-in",
    )
    step("recognize_barge_in", status=202)
    step("done")


def parse(path):
    from azure.core.messaging import CloudEvent

    with open(path) as f:
        events = json.load(f)
    out = []
    for e in events:
        ce = CloudEvent.from_dict(e)
        out.append(
            {
                "type": ce.type,
                "id": ce.id,
                "source": ce.source,
                "subject": ce.subject,
                "specversion": ce.specversion,
                "has_time": ce.time is not None,
                "operationContext": (ce.data or {}).get("operationContext"),
            }
        )
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "parse":
        parse(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "timeouts":
        timeouts()
    elif len(sys.argv) >= 2 and sys.argv[1] == "speech":
        speech()
    elif len(sys.argv) >= 2 and sys.argv[1] == "barge-in":
        barge_in()
    else:
        run()
