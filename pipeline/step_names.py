"""The lead pipeline's step names, one constant each (re-exported by pipeline.pipelines).

A module of its own so the step functions (pipeline.steps), which the declaration imports, can
name the steps they read without importing the declaration back.
"""

CLASSIFY = "classify"
ENRICH = "enrich"
SCORE_FORM = "score_form"
SCORE_FINAL = "score_final"
CRM_WRITE = "crm_write"
DRAFT = "draft"
GATE = "gate"
SEND = "send"
WAIT = "wait"
