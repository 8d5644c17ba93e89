"""`manage.py token create USERNAME [--name NAME] [--scope read|publish]`, `token list USERNAME`,
`token revoke PREFIX`."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from distribution.api_tokens import issue_api_token, revoke_api_token
from distribution.models import ApiToken


class Command(BaseCommand):
    help = "Make, list and revoke users' API tokens (Authorization: Bearer <token>)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="print a new token of the user's, once")
        create.add_argument("username")
        create.add_argument("--name", default="command line", help="what the token is for")
        create.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.PUBLISH)
        listing = actions.add_parser("list", help="the user's tokens, by prefix")
        listing.add_argument("username")
        revoke = actions.add_parser("revoke", help="refuse a token from now on")
        revoke.add_argument("prefix", help="the token's first characters, as `token list` shows them")

    def handle(self, *args, action: str, **options):
        getattr(self, f"_{action}")(**options)

    def _user(self, username: str):
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username}.") from None

    def _create(self, *, username: str, name: str, scope: str, **_):
        _, token = issue_api_token(self._user(username), name=name, scope=scope)
        self.stdout.write(token)

    def _list(self, *, username: str, **_):
        for token in self._user(username).api_tokens.all():
            state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.is_revoked else "live"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            self.stdout.write(f"{token.prefix}…  {token.scope:<8} {state:<24} last used {used}  {token.name}")

    def _revoke(self, *, prefix: str, **_):
        tokens = list(ApiToken.objects.filter(prefix=prefix.rstrip("…"), revoked_at__isnull=True))
        if len(tokens) != 1:
            raise CommandError(f"{len(tokens)} live tokens start with {prefix}: name exactly one.")
        revoke_api_token(tokens[0])
        self.stdout.write(f"revoked {tokens[0]}")
