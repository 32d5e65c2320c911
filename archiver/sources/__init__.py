"""Sources: feeds and live pages polled on a schedule, turned into capture work."""
