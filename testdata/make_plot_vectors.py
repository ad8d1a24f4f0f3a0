#!/usr/bin/env python3
"""Remakes testdata/plot/talk_off.wav (8 kHz 16-bit mono, 1.2 s) with the standard
library alone: sounds that look like a key to the DTMF detector and must be rejected,
then one real key. tests/plot_detect.rs draws it with `tonegate detect --plot` and
checks the rejected windows are shaded and the digit sits where the jsonl says.

    0.10-0.25 s  the pair of `1` (697 + 1209 Hz, -10 dBm0 each) with strong second
                 harmonics (1394 + 2418 Hz, 6 dB down): a voiced sound, not a key
                 (rejected: harmonics, then too short)
    0.40-0.55 s  the pair of `6` (770 + 1477 Hz) with the high tone 16 dB below the low
                 one (rejected: twist)
    0.80-0.88 s  the key `5` (770 + 1336 Hz, -10 dBm0 each): the one digit to report
"""
import math
import struct
import wave
from pathlib import Path

RATE = 8_000
# Peak of a tone at 0 dBm0 (G.711's 3.17 dBov), full scale 1.0.
DBM0_PEAK = 0.6966


def peak(dbm0):
    return DBM0_PEAK * 10 ** (dbm0 / 20)


def tones(samples, start_s, end_s, components):
    for n in range(int(start_s * RATE), int(end_s * RATE)):
        samples[n] += sum(a * math.sin(2 * math.pi * f * n / RATE) for f, a in components)


def main():
    samples = [0.0] * int(1.2 * RATE)
    level = peak(-10)
    harmonic = level * 10 ** (-6 / 20)
    tones(samples, 0.10, 0.25, [(697, level), (1209, level), (1394, harmonic), (2418, harmonic)])
    tones(samples, 0.40, 0.55, [(770, level), (1477, level * 10 ** (-16 / 20))])
    tones(samples, 0.80, 0.88, [(770, level), (1336, level)])
    out = Path(__file__).parent / "plot" / "talk_off.wav"
    out.parent.mkdir(exist_ok=True)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", round(max(-1, min(1, s)) * 32767)) for s in samples))


if __name__ == "__main__":
    main()
