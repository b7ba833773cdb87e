// A real OpenID Connect provider (the `oidc-provider` npm package) for the
// OIDC tests, on 127.0.0.1 only. Clients use the client-credentials grant
// with resource indicators, which yields RFC 9068 JWT access tokens signed
// with the provider's keys (served at /jwks). The `email` claim names the
// client, which stands for the user in these tests.
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
const client = (id) => ({
  client_id: id,
  client_secret: `secret-${id}`,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_post',
});

const provider = new Provider(issuer, {
  clients: [client('alice@valmont.fr'), client('expired@valmont.fr')],
  features: {
    devInteractions: { enabled: false },
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
  extraTokenClaims: (ctx, token) => ({ email: token.clientId }),
});
provider.listen(port, '127.0.0.1', () => console.log('ready'));
