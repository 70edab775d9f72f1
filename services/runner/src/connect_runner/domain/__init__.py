"""The runner's pure rules: mapping, reject reasons, SQL text, counters and run events. No I/O here."""
