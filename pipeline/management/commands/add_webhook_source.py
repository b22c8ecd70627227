"""Create a webhook source and print its slug, URL and secret (the only time it is shown)."""

import json

from django.core.management.base import BaseCommand, CommandError

from pipeline.intake.sources import create_webhook_source, form_url, webhook_url


class Command(BaseCommand):
    help = "Create a webhook source; prints its slug, webhook URL, hosted form URL and secret."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A name staff will recognise, e.g. 'Website form'.")
        parser.add_argument("--secret", help="Use this whsec_<base64> secret instead of a new one.")
        parser.add_argument("--slug", help="URL slug (default: from the name).")
        parser.add_argument(
            "--mapping",
            help='Field mapping as JSON, sender field -> ours: \'{"Email Address": "email"}\'.',
        )
        parser.add_argument(
            "--rate-limit", type=int, help="Deliveries a minute (default: setting)."
        )
        parser.add_argument(
            "--json", action="store_true", help='Print {"slug", "url", "secret"} as JSON.'
        )

    def handle(self, *args, **options):
        mapping = None
        if options["mapping"]:
            try:
                mapping = json.loads(options["mapping"])
            except ValueError as error:
                raise CommandError(f"--mapping is not JSON: {error}") from None
        if options["rate_limit"] is not None and options["rate_limit"] < 1:
            raise CommandError("--rate-limit must be at least 1")
        try:
            source, secret = create_webhook_source(
                options["name"],
                secret=options["secret"],
                slug=options["slug"],
                field_mapping=mapping,
                rate_limit_per_minute=options["rate_limit"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(
                json.dumps({"slug": source.slug, "url": webhook_url(source), "secret": secret})
            )
            return
        self.stdout.write(f"Created webhook source {source.name!r}")
        self.stdout.write(f"  slug:        {source.slug}")
        self.stdout.write(f"  webhook URL: {webhook_url(source)}")
        self.stdout.write(f"  hosted form: {form_url(source)}")
        self.stdout.write(f"  secret:      {secret}")
        self.stdout.write("Keep the secret in the sender; it is not shown again.")
