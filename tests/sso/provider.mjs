// The tests' OpenID Connect provider: npm's certified oidc-provider, on a free loopback port.
//
// Environment: OIDC_TEST_CLIENT_ID, OIDC_TEST_CLIENT_SECRET and OIDC_TEST_REDIRECT_URI (the one
// client, Fanout), and OIDC_TEST_ACCOUNTS: a JSON file the test writes, read again at every
// sign-in and every userinfo request, so that it can change a user's claims between two sign-ins:
//   {"<login>": {"password": "...", "sub": "...", "claims": {"preferred_username": "...", "groups": [...]}}}
// Its own sign-in page checks the password; Fanout is a first-party client, so there is no consent
// page. Prints "oidc-provider listening on <issuer>" once it answers.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const { OIDC_TEST_CLIENT_ID, OIDC_TEST_CLIENT_SECRET, OIDC_TEST_REDIRECT_URI, OIDC_TEST_ACCOUNTS } = process.env;
const SCOPES = 'openid email profile groups';

const accounts = () => JSON.parse(readFileSync(OIDC_TEST_ACCOUNTS, 'utf8'));

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><head><title>Test provider</title></head><body>${body}</body></html>`);
}

function signInForm(res, uid, error) {
  page(res, error ? 401 : 200, `<h1>Test provider: sign in</h1>
    ${error ? `<p class="error">${escape(error)}</p>` : ''}
    <form method="post" action="/interaction/${escape(uid)}">
      <label>Login <input name="login" autocomplete="off"></label>
      <label>Password <input name="password" type="password"></label>
      <button type="submit">Sign in</button>
    </form>`);
}

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(provider, req, res) {
  const { uid, prompt } = await provider.interactionDetails(req, res);
  if (prompt.name !== 'login') {
    page(res, 501, `no page for the ${escape(prompt.name)} prompt`);
    return;
  }
  if (req.method === 'GET') {
    signInForm(res, uid);
    return;
  }
  const form = await formBody(req);
  const account = accounts()[form.get('login')];
  if (!account || account.password !== form.get('password')) {
    signInForm(res, uid, 'Wrong login or password.');
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
}

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: OIDC_TEST_CLIENT_ID,
      client_secret: OIDC_TEST_CLIENT_SECRET,
      redirect_uris: [OIDC_TEST_REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    claims: {
      openid: ['sub'],
      email: ['email'],
      profile: ['preferred_username', 'name'],
      groups: ['groups'],
    },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    features: { devInteractions: { enabled: false } },
    async findAccount(ctx, sub) {
      const account = Object.values(accounts()).find((candidate) => candidate.sub === sub);
      return account && { accountId: sub, async claims() { return { ...account.claims, sub }; } };
    },
    // A first-party client: its scopes are granted without asking (the library's recipe).
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope(SCOPES);
      await grant.save();
      return grant;
    },
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      interaction(provider, req, res).catch((error) => page(res, 500, escape(error.message)));
    } else {
      callback(req, res);
    }
  });
  console.log(`oidc-provider listening on ${issuer}`);
});

process.on('SIGTERM', () => process.exit(0));
