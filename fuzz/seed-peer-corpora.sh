#!/usr/bin/env bash
# Writes small seed corpora for the peer-facing targets into corpus/<target>/ (ignored
# by git): well-formed frames, bodies, queries and documents to mutate from.
set -euo pipefail
cd "$(dirname "$0")"

seed() { # seed TARGET NAME CONTENT
  mkdir -p "corpus/$1"
  printf '%s' "$3" > "corpus/$1/$2"
}

seed proto_frame acs-meta '{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"s1","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}'
seed proto_frame acs-audio '{"kind":"AudioData","audioData":{"timestamp":"2024-11-15T19:16:12.925Z","participantRawID":"4:+15551234567","data":"AAABAA==","silent":false}}'
seed proto_frame acs-dtmf '{"Kind":"DtmfData","DtmfData":{"Data":"pound"}}'
seed proto_frame twilio-start '{"event":"start","sequenceNumber":"1","start":{"streamSid":"MZ1","callSid":"CA1","customParameters":{"callbackUri":"https://app.example/ev"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}'
seed proto_frame twilio-media '{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/w=="},"streamSid":"MZ1"}'
seed proto_frame twilio-dtmf-mark '{"event":"dtmf","dtmf":{"digit":"1"},"mark":{"name":"p1"}}'
seed proto_frame raw-start '{"type":"start","callId":"c1","callbackUri":"https://app.example/ev","encoding":"ulaw","sampleRate":8000}'
seed proto_frame raw-requests '{"type":"recognize","context":"r","maxTones":4,"stopTones":"#","initialSilenceMs":5000,"interToneMs":2000,"buffering":true,"digits":"12#","file":"p.wav","loop":true,"name":"m"}'

seed api_request play '{"playSources":[{"kind":"file","file":{"uri":"file:///p.wav"},"playSourceCacheId":"c"}],"playTo":[{"rawId":"4:+1"}],"playOptions":{"loop":true},"operationContext":"x","operationCallbackUri":"https://app.example/ev"}'
seed api_request recognize '{"recognizeInputType":"dtmf","playPrompt":{"kind":"file","file":{"uri":"https://app.example/p.wav"}},"recognizeOptions":{"interruptPrompt":true,"initialSilenceTimeoutInSeconds":5,"targetParticipant":{"rawId":"4:+15551234567"},"dtmfOptions":{"interToneTimeoutInSeconds":3,"maxTonesToCollect":4,"stopTones":["pound"]}}}'
seed api_request send '{"tones":["one","pound","a"],"targetParticipant":{"kind":"phoneNumber","phoneNumber":{"value":"+1"}},"operationContext":"s"}'
seed api_request hold '{"targetParticipant":{"communicationUser":{"id":"8:acs:x"}},"playSourceInfo":{"file":{"uri":"file:///m.wav"}}}'

seed stream_query both 'callbackUri=https%3A%2F%2Fapp.example%2Fev%3Fa%3D1&serverCallId=aHR0cHM6Ly9jb252%3D'
seed stream_query plain 'callbackUri=http://[::1]:8080/x&foo&serverCallId=s'

mkdir -p corpus/jwks_parse && cp ../testdata/stream_auth/jwks.json corpus/jwks_parse/
seed jwks_parse mixed '{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"},{"kty":"RSA","kid":"k","alg":"RS384","n":"AQAB","e":"AQAB"},{"kty":"EC","kid":"e","crv":"P-256","x":"AA","y":"AA"}]}'

# jwt_verify and api_auth: an empty input (first byte 0) is the fixed valid token or
# signed request, unedited; the fuzzer's edits start from there.
seed jwt_verify fixed-token ''
seed jwt_verify assembled $'\x02{"alg":"RS256","typ":"JWT","kid":"test-key-a"}\n{"iss":"https://acscallautomation.communication.azure.com","aud":"fuzz-audience","exp":1700003600}\nsig'
seed api_auth fixed-request ''
seed api_auth lines $'\x01POST\n/calling/callConnections/c1:play?api-version=2026-03-12\ntonegate.example:8443\nTue, 14 Nov 2023 22:13:20 GMT\nhash\nHMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=AAAA\n{}'
