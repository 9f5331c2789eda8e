// A real OpenID provider (oidc-provider) for the sign-in tests, in a process of its own: the package is ESM only.
// Its built-in sign-in form takes any password; the login typed is the account, whose claims come from ACCOUNTS.
import Provider from 'oidc-provider';

const { PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, ACCOUNTS } = process.env;
const accounts = JSON.parse(ACCOUNTS);
const issuer = `http://127.0.0.1:${PORT}`;

const provider = new Provider(issuer, {
  clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code'], response_types: ['code'] }],
  claims: { openid: ['sub'], profile: ['name', 'role', 'org_id'] },
  async findAccount(_ctx, id) {
    const claims = accounts[id];
    return claims ? { accountId: id, claims: async () => ({ sub: id, ...claims }) } : undefined;
  },
  // A sign-in without PKCE (S256) is refused, so the tests prove the service sends it.
  pkce: { required: () => true },
  cookies: { keys: ['oidc-test-cookie-key-0123456789'] },
  features: { devInteractions: { enabled: true } },
});
provider.listen(Number(PORT), '127.0.0.1', () => console.log(`ready ${issuer}`));
