"""manage.py erase_lead EMAIL: remove one person's personal data, keep the anonymous counts."""

from django.core.management.base import BaseCommand, CommandError

from pipeline.erase import erase_person, leads_of
from pipeline.models import Submission


class Command(BaseCommand):
    help = "Erase the personal data of the person with this email address (all their leads)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument(
            "--dry-run", action="store_true", help="Only say which leads would be erased."
        )
        parser.add_argument(
            "--skip-crm",
            action="store_true",
            help="Erase only LeadOps' copy; leave outside CRMs (HubSpot, Salesforce, Pipedrive, "
            "the CRM webhook) as they are.",
        )

    def handle(self, *args, email: str, dry_run: bool, skip_crm: bool, **options):
        leads = list(leads_of(email))
        trapped = Submission.objects.filter(lead__isnull=True, email__iexact=email.strip())
        if not leads and not trapped.exists():
            raise CommandError("no lead or submission has that email address")
        ids = ", ".join(str(lead.pk) for lead in leads)
        if dry_run:
            self.stdout.write(f"Would erase lead(s) {ids}.")
            return
        result = erase_person(email, external_crms=not skip_crm)
        failed = {lead_id for lead_id, _reason in result.crm_failed}
        erased = ", ".join(str(lead.pk) for lead in leads if lead.pk not in failed)
        self.stdout.write(
            f"Erased lead(s) {erased or 'none'}: {result.submissions} submission(s), "
            f"{result.drafts} draft(s), {result.emails} email(s), {result.steps} step output(s). "
            "Counts, labels, scores and decisions are kept."
        )
        if result.crm_deleted:
            self.stdout.write(f"Deleted from the CRM: {', '.join(result.crm_deleted)}.")
        elif skip_crm:
            self.stdout.write("Outside CRMs were left as they are (--skip-crm).")
        if result.crm_failed:
            reasons = "; ".join(
                f"lead {lead_id}: {reason}" for lead_id, reason in result.crm_failed
            )
            raise CommandError(
                f"Not erased, because the CRM did not delete the record: {reasons}. Nothing of "
                "these leads was changed: run the command again once the CRM answers, or add "
                "--skip-crm to erase only LeadOps' copy."
            )
