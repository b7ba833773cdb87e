// A real OpenID Connect provider (the `oidc-provider` npm package) for the
// OIDC tests, on 127.0.0.1 only. Clients use the client-credentials grant
// with resource indicators, which yields RFC 9068 JWT access tokens signed
// with the provider's keys (served at /jwks). The `email` claim names the
// client, which stands for the user in these tests; it is verified
// (`email_verified`) except for the client `unverified@valmont.fr`.
//
// With a second argument, the web UI's callback URL, it also has the
// public client `twake-ai-web` (authorization code + PKCE) and the
// package's development login pages: any login and password sign in as
// that login (an email address), then a consent page.
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const webRedirect = process.argv[3];
const issuer = `http://127.0.0.1:${port}`;
const client = (id) => ({
  client_id: id,
  client_secret: `secret-${id}`,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_post',
});

const web = {
  client_id: 'twake-ai-web',
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code'],
  response_types: ['code'],
  redirect_uris: webRedirect ? [webRedirect] : [],
};

const provider = new Provider(issuer, {
  clients: [
    client('alice@valmont.fr'),
    client('expired@valmont.fr'),
    client('unverified@valmont.fr'),
    ...(webRedirect ? [web] : []),
  ],
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id, email: id, email_verified: true }) }),
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: Boolean(webRedirect) },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:twake-ai:api',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, c) => ({
        audience: resource,
        scope: 'api',
        accessTokenFormat: 'jwt',
        accessTokenTTL: c.clientId.startsWith('expired') ? 1 : 300,
      }),
    },
  },
  extraTokenClaims: (ctx, token) => ({
    email: token.clientId,
    email_verified: token.clientId !== 'unverified@valmont.fr',
  }),
});
provider.listen(port, '127.0.0.1', () => console.log('ready'));
