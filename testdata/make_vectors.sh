#!/usr/bin/env bash
# Remakes the DTMF test vectors in testdata/vectors/ with sox alone (independent of
# tonegate's own tone generator). Each digit is a dual tone at -10 dBm0 per tone
# (peak 0.2203 of full scale), 70 ms on, 70 ms off, after 100 ms of leading silence.
# testdata/vectors/expected.json lists, per file and channel, the digits and their onsets.
set -euo pipefail
cd "$(dirname "$0")"
out=vectors
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

peak=0.2203
on=0.070
off=0.070
lead=0.100

freqs() {
  case "$1" in
    1) echo "697 1209";; 2) echo "697 1336";; 3) echo "697 1477";; A) echo "697 1633";;
    4) echo "770 1209";; 5) echo "770 1336";; 6) echo "770 1477";; B) echo "770 1633";;
    7) echo "852 1209";; 8) echo "852 1336";; 9) echo "852 1477";; C) echo "852 1633";;
    '*') echo "941 1209";; 0) echo "941 1336";; '#') echo "941 1477";; D) echo "941 1633";;
  esac
}

# keyed DIGITS OUTPUT.wav: a mono 8 kHz float track of the digits.
keyed() {
  local digits=$1 target=$2 parts=()
  sox -n -r 8000 -c 1 -e floating-point -b 32 "$work/lead.wav" trim 0 "$lead"
  sox -n -r 8000 -c 1 -e floating-point -b 32 "$work/off.wav" trim 0 "$off"
  parts+=("$work/lead.wav")
  local i
  for ((i = 0; i < ${#digits}; i++)); do
    local d=${digits:i:1}
    read -r low high <<<"$(freqs "$d")"
    sox -n -r 8000 -c 1 -e floating-point -b 32 "$work/tone$i.wav" \
      synth "$on" sine "$low" sine "$high" remix "1v$peak,2v$peak"
    parts+=("$work/tone$i.wav" "$work/off.wav")
  done
  sox "${parts[@]}" "$target"
}

keyed '1234567890*#ABCD' "$work/all.wav"
sox -D "$work/all.wav" -b 16 -e signed-integer "$out/all_8k_s16.wav"
keyed '159#' "$work/a.wav"
sox -D "$work/a.wav" -e u-law -b 8 "$out/159#_8k_ulaw.wav"
keyed '147*' "$work/left.wav"
keyed '2580' "$work/right.wav"
sox -D -M "$work/left.wav" "$work/right.wav" -r 16000 -b 24 -e signed-integer "$out/stereo_16k_s24.wav" rate -v
keyed '3690' "$work/b.wav"
sox -D "$work/b.wav" -r 44100 -e floating-point -b 32 "$out/3690_44k1_f32.wav" rate -v
keyed 'ABCD' "$work/c.wav"
sox -D "$work/c.wav" -t raw -e a-law -b 8 "$out/ABCD_8k.alaw"

python3 - "$out" "$lead" "$on" "$off" <<'PY'
import json, sys
out, lead, on, off = sys.argv[1], *map(float, sys.argv[2:])
def track(digits):
    return {"digits": digits,
            "onsets_ms": [round((lead + i * (on + off)) * 1000, 3) for i in range(len(digits))]}
def wav(*channels):
    return {"raw": None, "channels": [track(d) for d in channels]}
expected = {
    "all_8k_s16.wav": wav("1234567890*#ABCD"),
    "159#_8k_ulaw.wav": wav("159#"),
    "stereo_16k_s24.wav": wav("147*", "2580"),
    "3690_44k1_f32.wav": wav("3690"),
    "ABCD_8k.alaw": {"raw": {"rate": 8000, "encoding": "alaw"}, "channels": [track("ABCD")]},
}
with open(f"{out}/expected.json", "w") as f:
    json.dump(expected, f, indent=2, sort_keys=True)
    f.write("\n")
PY
echo "vectors written to $(pwd)/$out"
