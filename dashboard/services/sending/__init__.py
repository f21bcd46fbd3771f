"""The sender, by phase (docs/architecture.md has the map):

  enqueue       a message and its route and price are recorded, queued (API, CLI, campaign launch,
                HELP replies, sign-up confirmations)
  claim         a bind runner takes queued messages for its bind (one owner at a time), checks
                consent, quiet hours and campaign allowances at the last moment, creates the parts
                and records them as submitting before their bytes leave
  record        responses, receipts and MOs are committed before anything is acknowledged; the
                message's state is derived from all of its parts (dashboard.sms.lifecycle)
  housekeeping  the reaper, failover moves, held-receipt reconciliation, cancelled leftovers

`rows` holds what these share: the working rows of one transaction and the message timeline.
The SMPP loop that drives them is dashboard.worker.bind_runner; nothing here calls back into it.
"""
