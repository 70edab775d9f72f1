"""The scheduler's pure decisions: fold events into state, decide what a command produces or why not."""
