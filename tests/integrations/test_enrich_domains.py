import pytest

from pipeline.agents.domains import is_disposable, is_free_mail


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "GMAIL.COM",
        "googlemail.com",
        "outlook.fr",
        "yahoo.co.uk",
        "proton.me",
        "gmail.com.",
        "someone@hotmail.com",
        "qq.com",
        "web.de",
    ],
)
def test_free_mail_providers_are_recognised(domain):
    assert is_free_mail(domain)


@pytest.mark.parametrize(
    "domain", ["acme.com", "gmail.acme.com", "notgmail.com", "", "com", "acme.co.uk"]
)
def test_company_domains_are_not_free_mail(domain):
    assert not is_free_mail(domain)


@pytest.mark.parametrize(
    "domain", ["mailinator.com", "x@mailinator.com", "sub.mailinator.com", "10minutemail.com"]
)
def test_disposable_domains_are_recognised(domain):
    assert is_disposable(domain)


@pytest.mark.parametrize("domain", ["acme.com", "gmail.com", "", "mailinator.com.acme.com"])
def test_ordinary_domains_are_not_disposable(domain):
    assert not is_disposable(domain)
