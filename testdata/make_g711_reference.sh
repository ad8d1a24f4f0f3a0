#!/bin/sh
# Regenerates the G.711 reference vectors in testdata/g711/ (see testdata/g711/README.md).
#
# Needs sox (14.4) and python3. The output is deterministic: running this script on a clean
# checkout must leave `git status` clean.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out="$here/g711"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# Inputs:
#   codes.u8        the 256 G.711 codes 0x00..0xFF in order
#   linear.s16      every i16 value from -32768 to 32767 in order, little-endian
#   ulaw_in.s16     linear.s16 passed through the G.191 front end for mu-law: the 14-bit
#                   sign-magnitude value of x (magnitude x >> 2, or (~x) >> 2 for x < 0),
#                   written back as a 16-bit multiple of 4 so that sox's rounding to 14 bits
#                   is exact
#   alaw_in.s16     the same for A-law: the 13 most significant bits of x (x & ~7), so that
#                   sox's rounding to 13 bits is exact
python3 - "$tmp" <<'PY'
import struct, sys
tmp = sys.argv[1]
xs = range(-32768, 32768)
def s16(path, values):
    with open(f"{tmp}/{path}", "wb") as f:
        f.write(struct.pack(f"<{len(values)}h", *values))
with open(f"{tmp}/codes.u8", "wb") as f:
    f.write(bytes(range(256)))
s16("linear.s16", list(xs))
s16("ulaw_in.s16", [-4 * ((~x) >> 2) if x < 0 else 4 * (x >> 2) for x in xs])
s16("alaw_in.s16", [x & ~7 for x in xs])
PY

# -D: no dither; -V1: errors only (sox warns that rounding 32766 and 32767 to 14 bits clips,
# which is part of what the *_sox_rounding files record).
raw="-t raw -r 8000 -c 1"
sox -D -V1 $raw -e u-law -b 8 "$tmp/codes.u8" $raw -e signed -b 16 "$out/ulaw_decode.s16"
sox -D -V1 $raw -e a-law -b 8 "$tmp/codes.u8" $raw -e signed -b 16 "$out/alaw_decode.s16"
sox -D -V1 $raw -e signed -b 16 "$tmp/linear.s16" $raw -e u-law -b 8 "$out/ulaw_encode_sox_rounding.u8"
sox -D -V1 $raw -e signed -b 16 "$tmp/linear.s16" $raw -e a-law -b 8 "$out/alaw_encode_sox_rounding.u8"
sox -D -V1 $raw -e signed -b 16 "$tmp/ulaw_in.s16" $raw -e u-law -b 8 "$out/ulaw_encode.u8"
sox -D -V1 $raw -e signed -b 16 "$tmp/alaw_in.s16" $raw -e a-law -b 8 "$out/alaw_encode.u8"

# sox's coder takes a signed 14-bit integer, which has no negative zero: for the four inputs
# -4..-1 (14-bit sign-magnitude value -0) it writes the positive-zero code 0xFF. G.711 takes
# the sign from the input (Table 2: 01111111 for small negative values) and G.191 writes 0x7F.
python3 - "$out/ulaw_encode.u8" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
assert len(data) == 65536
for x in range(-4, 0):
    assert data[x + 32768] == 0xFF, (x, data[x + 32768])
    data[x + 32768] = 0x7F
open(path, "wb").write(data)
PY

# Small G.711 WAV files for the parser's tests.
sox -D -V1 -r 8000 -n -e u-law -b 8 "$out/sine1k_ulaw_mono.wav" synth 0.1 sine 1000
sox -D -V1 -r 8000 -n -e a-law -b 8 -c 2 "$out/sine1k_alaw_stereo.wav" synth 0.0125 sine 1000
sox -D -V1 -r 8000 -n -e a-law -b 8 "$out/sine1k_alaw_odd.wav" synth 101s sine 1000

cd "$out" && sha256sum ./*.s16 ./*.u8 ./*.wav
