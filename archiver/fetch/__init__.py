"""Getting bytes: plain HTTP for files and pages, yt-dlp for platforms."""
