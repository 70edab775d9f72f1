"""The gateway's pure rules: request drafts, secrets, host-key pinning, field paths, run ids."""
