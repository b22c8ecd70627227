"""A fake Slack incoming webhook on loopback: 200 "ok" to its one path, scripted answers first."""

from tests.fakes.jsonapi import FakeJSONAPI

WEBHOOK_PATH = "/services/T0000/B0000/abcdefghijklmnop"


class FakeSlack(FakeJSONAPI):
    unauthorized_body = "no_service"

    def authorized(self, path, headers, query) -> bool:
        return path == WEBHOOK_PATH

    def handle(self, method, path, query, body):
        return 200, "ok"

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    def messages(self) -> list[dict]:
        return [request["json"] for request in self.requests]
