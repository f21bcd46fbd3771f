"""The long-running sender: run it in exactly one process (flask worker, or the demo)."""
