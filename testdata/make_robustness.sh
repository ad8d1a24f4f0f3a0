#!/usr/bin/env bash
# Remakes the small robustness vectors in testdata/robustness/ with sox alone
# (independent of tonegate's generator). Each file is 8 kHz 16-bit mono, under three
# seconds; `robustness/manifest.json` says, per file, what was done to it and which
# digits `tonegate detect` must report (exactly those, in order: nothing invented).
# sox runs with -D (no dither) and -R (repeatable noise), so every run writes the same
# bytes. AMR-NB needs Debian's libsox-fmt-all.
#
# The large robustness corpus (hundreds of tones per condition, speech and music at
# many levels, every codec) is generated in the test run instead: see
# tests/receiver_robustness.rs.
set -euo pipefail
cd "$(dirname "$0")"
out=robustness
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dbm0() { awk -v d="$1" 'BEGIN { printf "%.5f", 0.6966 * 10 ^ (d / 20) }'; }  # peak of a tone at d dBm0
freqs() {
  case "$1" in
    1) echo "697 1209";; 2) echo "697 1336";; 3) echo "697 1477";; A) echo "697 1633";;
    4) echo "770 1209";; 5) echo "770 1336";; 6) echo "770 1477";; B) echo "770 1633";;
    7) echo "852 1209";; 8) echo "852 1336";; 9) echo "852 1477";; C) echo "852 1633";;
    '*') echo "941 1209";; 0) echo "941 1336";; '#') echo "941 1477";; D) echo "941 1633";;
  esac
}
sox_f() { sox -D -R "$@"; }
float=(-r 8000 -c 1 -e floating-point -b 32)

# keys DIGITS ON_S OFF_S LOW_DBM0 HIGH_DBM0 OUT [SYNTH_SHAPE]: 200 ms of silence, then
# each key ON_S long with OFF_S after it.
keys() {
  local digits=$1 on=$2 off=$3 low_level=$4 high_level=$5 target=$6 shape=${7:-sine}
  local parts=("$work/lead.wav") i
  sox_f -n "${float[@]}" "$work/lead.wav" trim 0 0.2
  sox_f -n "${float[@]}" "$work/off.wav" trim 0 "$off"
  for ((i = 0; i < ${#digits}; i++)); do
    read -r low high <<<"$(freqs "${digits:i:1}")"
    sox_f -n "${float[@]}" "$work/key$i.wav" synth "$on" "$shape" "$low" "$shape" "$high" \
      remix "1v$(dbm0 "$low_level"),2v$(dbm0 "$high_level")"
    parts+=("$work/key$i.wav")
    [ "$off" = 0 ] || parts+=("$work/off.wav")
  done
  sox_f -n "${float[@]}" "$work/tail.wav" trim 0 0.2
  sox_f "${parts[@]}" "$work/tail.wav" "$target"
}
s16() { sox_f "$1" -b 16 -e signed-integer "$out/$2"; }
# mix A B OUT: the sum of two float tracks, the shorter padded with silence.
mix() { sox_f -m -v 1 "$1" -v 1 "$2" "$3"; }

keys 123A 0.07 0.07 -10 -10 "$work/k.wav"
s16 "$work/k.wav" nominal.wav

keys 456B 0.07 0.07 -18 -10 "$work/k.wav"
s16 "$work/k.wav" twist_+8dB.wav
keys 789C 0.07 0.07 -10 -20 "$work/k.wav"
s16 "$work/k.wav" twist_-10dB.wav

keys '*0#D' 0.07 0.07 -25 -25 "$work/k.wav"
s16 "$work/k.wav" level_-25dBm0.wav

keys 1590 0.07 0.07 -10 -10 "$work/k.wav"
# Pushed 22 dB up, the pair's peak (0.44) lies 15 dB above the 16-bit limit: a hard clip.
sox_f "$work/k.wav" -b 16 -e signed-integer "$work/hard.wav" gain 22 2>/dev/null
sox_f "$work/hard.wav" "$out/clipped_15dB.wav" gain -n -1

keys 2468 0.07 0.07 -10 -10 "$work/k.wav" square
s16 "$work/k.wav" square_waves.wav

keys 3579 0.07 0.07 -20 -20 "$work/k.wav"
sox_f "$work/k.wav" "$work/dc.wav" dcshift 0.1
s16 "$work/dc.wav" dc_offset_10pct.wav

# White noise at 10 dB below the pair's power (-10 dBm0 per tone).
keys 8642 0.07 0.07 -10 -10 "$work/k.wav"
sox_f -n "${float[@]}" "$work/noise.wav" synth "$(soxi -D "$work/k.wav")" whitenoise vol 0.0381 gain 18.2
mix "$work/k.wav" "$work/noise.wav" "$work/n.wav"
s16 "$work/n.wav" noise_10dB_snr.wav

# Keys back to back, no pause: every change must still be a new digit.
keys 12321 0.06 0 -10 -10 "$work/k.wav"
s16 "$work/k.wav" back_to_back.wav

# A 10 ms dropout in the middle of each key must not split it.
for d in 7 4; do
  keys "$d" 0.04 0 -10 -10 "$work/a$d.wav"
  sox_f "$work/a$d.wav" "$work/a$d-trim.wav" trim 0.2 0.04
  sox_f -n "${float[@]}" "$work/gap.wav" trim 0 0.010
  sox_f -n "${float[@]}" "$work/pause.wav" trim 0 0.1
  sox_f "$work/a$d-trim.wav" "$work/gap.wav" "$work/a$d-trim.wav" "$work/pause.wav" "$work/drop$d.wav"
done
sox_f "$work/lead.wav" "$work/drop7.wav" "$work/drop4.wav" "$work/tail.wav" "$work/d.wav"
s16 "$work/d.wav" dropout_10ms.wav

# Dial tone (350 + 440 Hz, -13 dBm0 each) for 500 ms and on through the whole first key
# (telephone levels, -8 / -6 dBm0), then the rest of the number without it.
keys 5555 0.1 0.1 -8 -6 "$work/k.wav"
sox_f "$work/k.wav" "$work/k5.wav" trim 0.2
sox_f -n "${float[@]}" "$work/dial.wav" synth 0.8 sine 350 sine 440 remix "1v$(dbm0 -13),2v$(dbm0 -13)"
sox_f -n "${float[@]}" "$work/lead5.wav" trim 0 0.5
sox_f "$work/lead5.wav" "$work/k5.wav" "$work/k5-late.wav"
mix "$work/dial.wav" "$work/k5-late.wav" "$work/dk.wav"
s16 "$work/dk.wav" dial_tone_first_key.wav

# Call progress alone: nothing to report.
sox_f -n "${float[@]}" "$work/dial.wav" synth 2 sine 350 sine 440 remix "1v$(dbm0 -13),2v$(dbm0 -13)"
s16 "$work/dial.wav" dial_tone.wav
sox_f -n "${float[@]}" "$work/busy.wav" synth 0.5 sine 480 sine 620 remix "1v$(dbm0 -24),2v$(dbm0 -24)" pad 0 0.5 repeat 2
s16 "$work/busy.wav" busy_tone.wav

# Codecs: AMR-NB at 12.2 kbit/s and GSM-FR, encoded and decoded by sox.
keys 1470 0.07 0.07 -10 -10 "$work/k.wav"
sox_f "$work/k.wav" -b 16 -e signed-integer "$work/k16.wav"
sox_f "$work/k16.wav" -C 7 "$work/k.amr-nb"
sox_f "$work/k.amr-nb" -b 16 -e signed-integer "$out/amr_nb.wav"
sox_f "$work/k16.wav" "$work/k.gsm"
sox_f "$work/k.gsm" -b 16 -e signed-integer "$out/gsm_fr.wav"

cat >"$out/manifest.json" <<'JSON'
{
  "nominal.wav": { "digits": "123A", "what": "70 ms keys, 70 ms pauses, -10 dBm0 per tone" },
  "twist_+8dB.wav": { "digits": "456B", "what": "high group 8 dB above the low group" },
  "twist_-10dB.wav": { "digits": "789C", "what": "low group 10 dB above the high group" },
  "level_-25dBm0.wav": { "digits": "*0#D", "what": "-25 dBm0 per tone, the weakest level Q.24 requires" },
  "clipped_15dB.wav": { "digits": "1590", "what": "the pair's peak 15 dB past the 16-bit limit (hard clipping), then normalised to -1 dBFS" },
  "square_waves.wav": { "digits": "2468", "what": "square waves in place of sines" },
  "dc_offset_10pct.wav": { "digits": "3579", "what": "-20 dBm0 tones on a DC offset of 10 % of full scale" },
  "noise_10dB_snr.wav": { "digits": "8642", "what": "white noise 10 dB below the tone pair" },
  "back_to_back.wav": { "digits": "12321", "what": "60 ms keys with no pause between them" },
  "dropout_10ms.wav": { "digits": "74", "what": "40 ms of tone, a 10 ms gap, 40 ms of tone: one key each" },
  "dial_tone_first_key.wav": { "digits": "5555", "what": "dial tone at -13 dBm0 for 500 ms and under all of the first key (-8 / -6 dBm0)" },
  "dial_tone.wav": { "digits": "", "what": "2 s of dial tone alone" },
  "busy_tone.wav": { "digits": "", "what": "busy tone, 480 + 620 Hz at -24 dBm0, 0.5 s on and off" },
  "amr_nb.wav": { "digits": "1470", "what": "coded and decoded as AMR-NB at 12.2 kbit/s" },
  "gsm_fr.wav": { "digits": "1470", "what": "coded and decoded as GSM-FR" }
}
JSON
echo "robustness vectors written to $(pwd)/$out"
