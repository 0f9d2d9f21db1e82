// node-oidc-provider configured like the opkit example for the comparison in run.sh:
// one confidential client (client_secret_basic) allowed only client_credentials, and
// JWT access tokens signed with ES256 for one resource server (RFC 8707 resource
// indicators, defaulted so the request needs no `resource` parameter).
//
// Usage (from a directory where `npm install oidc-provider` was run):
//   node node_provider.mjs <port> <client_id> <client_secret>
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret] = process.argv.slice(2);
if (!port || !clientId || !clientSecret) {
  console.error('usage: node node_provider.mjs <port> <client_id> <client_secret>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const resource = 'https://api.example.com';

// One P-256 key: the JWKS then offers only ES256, which the resource server asks for.
const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
jwk.kid = 'es256-1';
jwk.alg = 'ES256';
jwk.use = 'sig';

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
    scope: 'api:read',
  }],
  jwks: { keys: [jwk] },
  scopes: ['api:read'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== resource) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'api:read',
          audience: resource,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
});
provider.proxy = false;

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`node-oidc-provider listening on ${issuer}`);
});
