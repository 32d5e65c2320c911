"""Stands in for yt-dlp on a post of two videos whose first comes as separate video and
audio streams: it writes both, joins them into one file and deletes them, as yt-dlp's
merge does, then writes the second video steadily (64 KiB every 0.25 s, for 3 s) and
lists both files as ``--print-to-file after_move:filepath`` does."""

import os
import sys
import time
from pathlib import Path


def main() -> None:
    args = sys.argv[1:]
    work = Path(args[args.index("--paths") + 1])
    work.mkdir(parents=True, exist_ok=True)
    video, audio = work / "00001.f137.mp4", work / "00001.f140.m4a"
    video.write_bytes(os.urandom(768 * 1024))
    audio.write_bytes(os.urandom(256 * 1024))
    time.sleep(0.3)
    (work / "00001.mp4").write_bytes(video.read_bytes() + audio.read_bytes())
    time.sleep(0.6)  # the merged file beside the streams, as the time-out sees them
    video.unlink()
    audio.unlink()
    with open(work / "00002.mp4", "wb") as sink:
        for _ in range(12):
            sink.write(os.urandom(64 * 1024))
            sink.flush()
            time.sleep(0.25)
    at = args.index("--print-to-file")  # after_move:filepath FILE
    Path(args[at + 2]).write_text(f"{work / '00001.mp4'}\n{work / '00002.mp4'}\n")


if __name__ == "__main__":
    main()
