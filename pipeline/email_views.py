"""/email/events/: the configured email provider's delivery and bounce webhooks (django-anymail).

Anymail checks the HTTP Basic credentials (EMAIL_WEBHOOK_SECRET) and parses the provider's
payload into tracking events, which pipeline.integrations.email_providers applies. A payload
that does not parse is answered 400, never 500.
"""

from __future__ import annotations

import logging

from anymail.exceptions import AnymailError
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from pipeline.integrations import email_providers  # noqa: F401 (connects the tracking receiver)

logger = logging.getLogger(__name__)


def _tracking_views() -> dict:
    from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
    from anymail.webhooks.brevo import BrevoTrackingWebhookView
    from anymail.webhooks.mailgun import MailgunTrackingWebhookView
    from anymail.webhooks.postmark import PostmarkTrackingWebhookView
    from anymail.webhooks.resend import ResendTrackingWebhookView
    from anymail.webhooks.sendgrid import SendGridTrackingWebhookView

    return {
        "postmark": PostmarkTrackingWebhookView,
        "sendgrid": SendGridTrackingWebhookView,
        "mailgun": MailgunTrackingWebhookView,
        "brevo": BrevoTrackingWebhookView,
        "resend": ResendTrackingWebhookView,
        # Amazon SES reports through an SNS topic subscribed to this URL; the subscription is
        # confirmed automatically when the request carries EMAIL_WEBHOOK_SECRET.
        "amazon_ses": AmazonSESTrackingWebhookView,
    }


@csrf_exempt
def email_events(request: HttpRequest) -> HttpResponse:
    view = _tracking_views().get(settings.EMAIL_PROVIDER)
    if view is None:
        return JsonResponse(
            {"error": "not_configured", "reason": "no EMAIL_PROVIDER is configured"}, status=404
        )
    try:
        return view.as_view()(request)
    except ImproperlyConfigured as error:
        return JsonResponse({"error": "not_configured", "reason": str(error)}, status=404)
    except (BotoCoreError, ClientError, ResponseParserError) as error:
        # Confirming an SNS subscription called AWS, which refused (credentials, permissions):
        # SNS is told why, and the subscription can be confirmed in the AWS console instead.
        logger.warning("email.sns_confirm_failed error=%s", type(error).__name__)
        return JsonResponse(
            {"error": "not_confirmed", "reason": f"could not confirm the subscription: {error}"},
            status=400,
        )
    except (AnymailError, ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        logger.info("email.event_unparsable esp=%s error=%s", settings.EMAIL_PROVIDER, error)
        return JsonResponse(
            {"error": "invalid", "reason": f"not a {settings.EMAIL_PROVIDER} webhook payload"},
            status=400,
        )
