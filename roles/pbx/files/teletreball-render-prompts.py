#!/usr/bin/python3
# Managed by teletreball (role pbx), installed as
# /usr/local/sbin/teletreball-render-prompts: local changes are overwritten.
"""Speak the PBX prompts into 8 kHz mono WAV files (espeak-ng, then sox).

Usage: teletreball-render-prompts DIR [--check] MANIFEST_JSON
MANIFEST_JSON is a list of {file, voice, text}. A prompt is rendered only when
DIR/<file>.txt (the voice and text it was made from) differs or the WAV file
is missing. With --check nothing is written. Prints "rendered: N".
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def manifest_json(text):
    try:
        return json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}") from err


def arguments(argv):
    parser = argparse.ArgumentParser(
        prog="teletreball-render-prompts",
        description="Speak the PBX prompts into 8 kHz mono WAV files (espeak-ng, then sox).")
    parser.add_argument("folder", metavar="DIR", help="where the WAV files and their stamps are")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; count the prompts that would be rendered")
    parser.add_argument("manifest", metavar="MANIFEST_JSON", type=manifest_json,
                        help="a JSON list of {file, voice, text}")
    return parser.parse_args(argv)


def speak(voice, text, wav):
    """Say text with the espeak-ng voice, as an 8 kHz mono 16-bit WAV file at wav."""
    with tempfile.TemporaryDirectory() as tmp:
        spoken = os.path.join(tmp, "spoken.wav")
        final = os.path.join(tmp, "final.wav")
        # Fixed programs from Debian's packages, arguments as a list (no shell).
        # The text goes on the standard input, never on the command line, where a
        # text that starts with - would be read as an option (issue 18).
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", spoken, "--stdin"],  # noqa: S603, S607
                       input=text.encode("utf-8"), check=True)
        subprocess.run(["sox", spoken, "-r", "8000", "-c", "1", "-b", "16", final],  # noqa: S603, S607
                       check=True)
        _copy(final, wav)


def main(argv=None):
    args = arguments(argv)
    folder, manifest, check = args.folder, args.manifest, args.check
    if not check:
        os.makedirs(folder, mode=0o755, exist_ok=True)
    rendered = 0
    for item in manifest:
        wav = os.path.join(folder, item["file"] + ".wav")
        stamp = os.path.join(folder, item["file"] + ".txt")
        wanted = f"{item['voice']}\n{item['text']}\n"
        try:
            with open(stamp, encoding="utf-8") as handle:
                current = handle.read()
        except OSError:
            current = None
        if current == wanted and os.path.exists(wav):
            continue
        rendered += 1
        if check:
            continue
        speak(item["voice"], item["text"], wav)
        with open(stamp + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(wanted)
        os.chmod(stamp + ".tmp", 0o644)
        os.replace(stamp + ".tmp", stamp)
    print(f"rendered: {rendered}")
    return 0


def _copy(source, target):
    with open(source, "rb") as src, open(target + ".tmp", "wb") as dst:
        dst.write(src.read())
    os.chmod(target + ".tmp", 0o644)
    os.replace(target + ".tmp", target)


if __name__ == "__main__":
    sys.exit(main())
