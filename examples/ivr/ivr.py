"""A small IVR on tonegate, written with the official Azure Call Automation SDK
(azure-communication-callautomation), as it would be written for Azure:

  welcome prompt -> PIN (recognize, 4 digits) -> menu (1: balance, 2: agent)
  -> an acknowledging tone (send DTMF) -> transfer to hold (hold music).

Media-operation results arrive as CloudEvents on the app's own HTTP callback
(`operation_callback_url`); the app waits for each before its next step.

Environment:
  TONEGATE_ENDPOINT    tonegate's https URL, e.g. https://127.0.0.1:8443/
  TONEGATE_ACCESS_KEY  the server's access key (base64)
  TONEGATE_CALL_ID     the call to drive (its audio stream must be connected)
  IVR_PROMPTS          absolute directory of the prompts, inside tonegate's --prompt-dir
  REQUESTS_CA_BUNDLE   the certificate to trust, when tonegate's is self-signed

examples/ivr/run.sh starts everything and runs this file.
"""

import http.server
import json
import os
import queue
import sys
import threading
import time

from azure.communication.callautomation import (
    CallAutomationClient,
    DtmfTone,
    FileSource,
    PhoneNumberIdentifier,
    RecognizeInputType,
)
from azure.core.exceptions import HttpResponseError

PIN = "1234"
NAMES = "zero one two three four five six seven eight nine a b c d pound asterisk"
TONE_KEYS = dict(zip(NAMES.split(), "0123456789ABCD#*"))


def say(text):
    print(f"ivr: {text}", flush=True)


class Callbacks:
    """The app's HTTP callback: CloudEvents POSTed by tonegate (a JSON array each)."""

    def __init__(self):
        events = self.events = queue.Queue()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                for event in json.loads(body or b"[]"):
                    events.put(event)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, context, *types, timeout=30):
        """The next event of `context` whose type ends with one of `types`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"ivr: no {'/'.join(types)} for {context} in {timeout} s")
            event = self.events.get(timeout=left)
            kind = event["type"].rsplit(".", 1)[-1]
            if event["data"].get("operationContext") == context and kind in types:
                return kind, event["data"]


def connected_call(client, call_id, timeout=30):
    """The call, once its audio stream is up (tonegate answers 404 until then)."""
    deadline = time.monotonic() + timeout
    call = client.get_call_connection(call_id)
    while True:
        try:
            call.get_call_properties()
            return call
        except HttpResponseError as e:
            if e.status_code != 404 or time.monotonic() > deadline:
                raise
            # A request signed again within the same second is the same request, which
            # tonegate refuses as a replay: wait a second between tries.
            time.sleep(1.1)


def main():
    prompts = os.environ["IVR_PROMPTS"]
    callbacks = Callbacks()

    def prompt(name):
        return FileSource(url=f"file://{prompts}/{name}.wav")

    # --8<-- [start:readme]
    endpoint = os.environ["TONEGATE_ENDPOINT"]  # https://host:port/ of tonegate
    access_key = os.environ["TONEGATE_ACCESS_KEY"]
    client = CallAutomationClient.from_connection_string(
        f"endpoint={endpoint};accesskey={access_key}"
    )
    call = connected_call(client, os.environ["TONEGATE_CALL_ID"])
    caller = PhoneNumberIdentifier("+15550100000")
    events = dict(operation_callback_url=callbacks.url)

    call.play_media(prompt("welcome"), operation_context="welcome", **events)
    callbacks.wait("welcome", "PlayCompleted")

    call.start_recognizing_media(
        RecognizeInputType.DTMF,
        caller,
        play_prompt=prompt("pin"),
        interrupt_prompt=True,
        initial_silence_timeout=15,
        dtmf_inter_tone_timeout=5,
        dtmf_max_tones_to_collect=4,
        operation_context="pin",
        **events,
    )
    kind, data = callbacks.wait("pin", "RecognizeCompleted", "RecognizeFailed")
    pin = "".join(TONE_KEYS[t] for t in data.get("dtmfResult", {}).get("tones", []))
    # --8<-- [end:readme]
    if kind != "RecognizeCompleted" or pin != PIN:
        say("wrong PIN")
        call.play_media(prompt("goodbye"), operation_context="goodbye", **events)
        callbacks.wait("goodbye", "PlayCompleted")
        return 1
    say("PIN accepted")

    call.start_recognizing_media(
        RecognizeInputType.DTMF,
        caller,
        play_prompt=prompt("menu"),
        interrupt_prompt=True,
        initial_silence_timeout=15,
        dtmf_max_tones_to_collect=1,
        operation_context="menu",
        **events,
    )
    kind, data = callbacks.wait("menu", "RecognizeCompleted", "RecognizeFailed")
    choice = "".join(TONE_KEYS[t] for t in data.get("dtmfResult", {}).get("tones", []))
    say(f"menu choice {choice or 'none'}")
    if choice == "1":
        call.play_media(prompt("balance"), operation_context="balance", **events)
        callbacks.wait("balance", "PlayCompleted")
        say("balance played")
        return 0
    if choice != "2":
        return 1

    # An acknowledging tone, then hold. Send-DTMF and hold are exclusive operations (as
    # on Azure): a hold while the tones still play answers 412, so wait for them first.
    call.send_dtmf_tones([DtmfTone.POUND], caller, operation_context="ack", **events)
    callbacks.wait("ack", "SendDtmfTonesCompleted")
    call.hold(caller, play_source=prompt("music"), operation_context="hold", **events)
    say("caller on hold, music playing")
    time.sleep(1)
    call.unhold(caller, operation_context="unhold")
    say("agent answered: caller off hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
