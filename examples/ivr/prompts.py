"""Writes the example IVR's prompts into a directory: tones instead of recorded speech,
so the example needs no speech engine. 8 kHz, 16-bit mono WAV.

    python3 prompts.py DIR
"""

import math
import struct
import sys
import wave
from pathlib import Path

RATE = 8000

# name: (frequencies played one after the other, seconds each)
PROMPTS = {
    "welcome": ([523.25, 659.25, 783.99], 0.3),  # "Welcome to tonegate bank."
    "pin": ([440.0], 0.5),  # "Please enter your four-digit PIN."
    "menu": ([587.33, 587.33], 0.25),  # "Press 1 for your balance, 2 for an agent."
    "balance": ([392.0], 0.5),  # "Your balance is ..."
    "goodbye": ([329.63], 0.5),  # "Sorry, goodbye."
    "music": ([261.63, 329.63, 392.0, 523.25], 0.4),  # hold music
}


def write(path, notes, seconds):
    samples = []
    for hz in notes:
        for n in range(int(RATE * seconds)):
            fade = min(1.0, n / 80, (RATE * seconds - n) / 80)
            samples.append(int(8000 * fade * math.sin(2 * math.pi * hz * n / RATE)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))


def main(directory):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, (notes, seconds) in PROMPTS.items():
        write(directory / f"{name}.wav", notes, seconds)


if __name__ == "__main__":
    main(sys.argv[1])
