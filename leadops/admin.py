"""The Users list in the admin shows who is locked out of logging in, with an action to unlock."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from leadops import login

User = get_user_model()


class LeadOpsUserAdmin(UserAdmin):
    list_display = (*UserAdmin.list_display, "login_locked")
    actions = ("unlock_login",)

    @admin.display(boolean=True, description="login locked")
    def login_locked(self, user) -> bool:
        return login.is_account_locked(user.get_username())

    @admin.action(description="Unlock login (clear failed-login lockout)")
    def unlock_login(self, request: HttpRequest, queryset: QuerySet) -> None:
        usernames = [user.get_username() for user in queryset]
        for username in usernames:
            login.unlock_account(username)
        login.logger.info("login.unlocked by=%s count=%d", request.user.pk, len(usernames))
        self.message_user(
            request, f"Unlocked login for {len(usernames)} account(s).", messages.SUCCESS
        )


admin.site.unregister(User)
admin.site.register(User, LeadOpsUserAdmin)
