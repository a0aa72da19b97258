// A real OpenID Connect provider for hrobot's sign-in tests: panva's
// `oidc-provider` (OpenID Certified) with its own login and consent pages
// (devInteractions) and RP-initiated logout, left at its defaults where
// they matter: scope claims (here the roles) are delivered from UserInfo
// only, not in the ID token (`conformIdTokenClaims`).
//
// Environment:
//   PORT                      where to listen (127.0.0.1 and ::1; the issuer is http://localhost:PORT)
//   REDIRECT_URI              hrobot's /logga-in/sso/klar
//   POST_LOGOUT_REDIRECT_URI  where the provider sends the browser after logout
//   CLIENT_SECRET             the client's secret (client_secret_basic)
//
// Every start makes a fresh RS256 signing key with a fresh key id, so a
// restart on the same port is a key rotation as hrobot sees it. The first
// line on standard output is `listening PORT KID`.
//
// The accounts (the login page takes any password):
//   anna  realm_access.roles = ["SOC-Handlaggare"], personnummer (a Skatteverket test number)
//   rolf  realm_access.roles = ["SOC-Revision", "Okand-Grupp"]
//   nora  no roles

import crypto from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://localhost:${port}`;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = crypto.randomUUID();
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };

const accounts = {
  anna: { name: 'Anna Handläggare', roles: ['SOC-Handlaggare'], personnummer: '199307242389' },
  rolf: { name: 'Rolf Revisor', roles: ['SOC-Revision', 'Okand-Grupp'] },
  nora: { name: 'Nora Utan-Roll', roles: null },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'hrobot',
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: [process.env.REDIRECT_URI],
      post_logout_redirect_uris: [process.env.POST_LOGOUT_REDIRECT_URI],
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'personnummer'],
    roles: ['realm_access'],
  },
  pkce: { required: () => true, methods: ['S256'] },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      // The default pages load a web font; the test browser has no internet.
      logoutSource: async (ctx, form) => {
        ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Logout Request</title></head>
          <body><h1>Do you want to sign-out from ${ctx.host}?</h1>${form}
          <button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
          <button type="submit" form="op.logoutForm">No, stay signed in</button></body></html>`;
      },
    },
  },
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  findAccount: async (ctx, id) => {
    const a = accounts[id];
    if (!a) return undefined;
    return {
      accountId: id,
      claims: async () => ({
        sub: id,
        name: a.name,
        preferred_username: id,
        ...(a.personnummer ? { personnummer: a.personnummer } : {}),
        ...(a.roles ? { realm_access: { roles: a.roles } } : {}),
      }),
    };
  },
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));

// Chromium resolves localhost to ::1 as well as 127.0.0.1: listen on both
// loopback addresses (::1 where the machine has it).
const v6 = http.createServer(provider.callback());
v6.on('error', () => {});
v6.listen(port, '::1');
http.createServer(provider.callback()).listen(port, '127.0.0.1', () => {
  console.log(`listening ${port} ${kid}`);
});
