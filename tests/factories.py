"""Small factory functions: make_<thing>(**overrides) returns a saved row."""

from itertools import count

from pipeline.models import Lead, Submission

_sequence = count(1)


def make_lead(**overrides) -> Lead:
    number = next(_sequence)
    email = overrides.pop("email", f"person{number}@acme-{number}.example")
    fields = {
        "email": email,
        "email_normalized": email.lower(),
        "name": f"Person {number}",
        "company": f"Acme {number}",
        **overrides,
    }
    return Lead.objects.create(**fields)


def make_submission(lead: Lead | None = None, **overrides) -> Submission:
    lead = lead or make_lead()
    fields = {
        "lead": lead,
        "channel": Submission.Channel.WEBHOOK,
        "name": lead.name,
        "email": lead.email,
        "company": lead.company,
        "message": "We are evaluating tools for our sales team of 40 and want a demo next week.",
        **overrides,
    }
    return Submission.objects.create(**fields)
