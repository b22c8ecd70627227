"""Lead intake: every door (webhook, hosted form, import, CLI) ends in receive_submission()."""
