"""A real OpenID Connect provider for the single sign-on tests (provider.mjs: npm's oidc-provider,
from package-lock.json), and Fanout's live server set up to sign in with it."""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.processes import ROOT
from tests.conftest import subprocess_env

PROVIDER = Path(__file__).with_name("provider.mjs")
CLIENT_ID = "fanout"
CLIENT_SECRET = "test-client-secret"

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "node_modules" / "oidc-provider").exists(),
    reason="node, or oidc-provider from package-lock.json (npm ci), is missing",
)


@dataclass
class RunningProvider:
    issuer: str
    accounts_file: Path

    def set_account(self, login: str, *, password: str, sub: str, **claims: object) -> None:
        """Add or replace an account; the provider reads the file again at every sign-in."""
        accounts = json.loads(self.accounts_file.read_text())
        accounts[login] = {"password": password, "sub": sub, "claims": claims}
        self.accounts_file.write_text(json.dumps(accounts))


@pytest.fixture
def oidc_provider(live_server, tmp_path, start_process) -> RunningProvider:
    accounts_file = tmp_path / "provider-accounts.json"
    accounts_file.write_text("{}")
    process = start_process(
        "oidc-provider",
        ["node", str(PROVIDER)],
        subprocess_env(
            OIDC_TEST_CLIENT_ID=CLIENT_ID,
            OIDC_TEST_CLIENT_SECRET=CLIENT_SECRET,
            OIDC_TEST_REDIRECT_URI=f"{live_server.url}/accounts/sso/callback",
            OIDC_TEST_ACCOUNTS=str(accounts_file),
        ),
    )
    issuer = process.wait_for(r"oidc-provider listening on (\S+)", timeout=30).group(1)
    return RunningProvider(issuer=issuer, accounts_file=accounts_file)


@pytest.fixture
def single_sign_on(settings, live_server, oidc_provider) -> RunningProvider:
    """Fanout's live server signs in with the test provider, as FANOUT_OIDC_* would set it up."""
    settings.FANOUT_PUBLIC_URL = live_server.url
    settings.FANOUT_OIDC_ISSUER = oidc_provider.issuer
    settings.FANOUT_OIDC_PROVIDER_NAME = "Acme ID"
    settings.FANOUT_OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "distribution.oidc.ProviderBackend",
    ]
    return oidc_provider
