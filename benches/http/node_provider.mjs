// node-oidc-provider configured like the opkit example for the comparison in run.sh:
// one confidential client (client_secret_basic) allowed only client_credentials, and
// JWT access tokens signed with ES256 for one resource server (RFC 8707 resource
// indicators, defaulted so the request needs no `resource` parameter); a second one,
// `<client_id>-refresh` with the same secret, for the refresh-token grant, whose refresh
// tokens always rotate (as opkit's do). `GET /bench/mint?n=N` mints N refresh tokens for it
// (each with its own grant, as N sign-ins would), one per line, on its in-memory adapter.
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
  }, {
    client_id: `${clientId}-refresh`,
    client_secret: clientSecret,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['https://rp.example/cb'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
    scope: 'openid offline_access api:read',
  }],
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  rotateRefreshToken: true,
  jwks: { keys: [jwk] },
  scopes: ['openid', 'offline_access', 'api:read'],
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

provider.use(async (ctx, next) => {
  if (ctx.path !== '/bench/mint') return next();
  const client = await provider.Client.find(`${clientId}-refresh`);
  const n = Math.min(Number(ctx.query.n) || 1, 10000);
  const tokens = [];
  for (let i = 0; i < n; i += 1) {
    const grant = new provider.Grant({ accountId: 'bench', clientId: client.clientId });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope(resource, 'api:read');
    const grantId = await grant.save();
    const token = new provider.RefreshToken({
      accountId: 'bench',
      client,
      grantId,
      gty: 'authorization_code',
      scope: 'openid offline_access api:read',
      resource,
      authTime: Math.floor(Date.now() / 1000),
    });
    tokens.push(await token.save());
  }
  ctx.type = 'text/plain';
  ctx.body = `${tokens.join('\n')}\n`;
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`node-oidc-provider listening on ${issuer}`);
});
