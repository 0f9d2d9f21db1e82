// A manual check of the example provider's pages in a real browser (headless Chromium driven by
// playwright-core). Documentation, not CI: `cargo test` does not run it.
//
// It signs in through the demo client (login page, consent page, /demo/callback), then, as a
// relying party on another origin (a small echo server this script starts), runs a
// `response_mode=form_post` flow and a query-mode flow, so the Content-Security-Policy of the
// login, consent and form_post pages is exercised by a browser that enforces it; then it signs
// out. It fails on any CSP violation, console error or unexpected page, and saves screenshots.
//
// Run it:
//
//   apt-get install -y chromium                       # Debian's package, /usr/bin/chromium
//   cargo run --example server -- --addr 127.0.0.1:18080 --user alice:wonderland --open-registration &
//   mkdir -p /tmp/browser-check && cd /tmp/browser-check && npm install playwright-core
//   node /path/to/opkit/examples/server/browser-check.mjs    # from that directory
//
// Settings (environment): ISSUER (http://127.0.0.1:18080), OP_USER (alice), OP_PASSWORD
// (wonderland), ECHO_PORT (18081), OUT (/tmp; screenshots go there), CHROMIUM
// (/usr/bin/chromium).

import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

// playwright-core from the current directory's node_modules.
const require = createRequire(`${process.cwd()}/`);
const { chromium } = require('playwright-core');

const ISSUER = process.env.ISSUER ?? 'http://127.0.0.1:18080';
const USER = process.env.OP_USER ?? 'alice';
const PASSWORD = process.env.OP_PASSWORD ?? 'wonderland';
const ECHO_PORT = Number(process.env.ECHO_PORT ?? 18081);
const OUT = process.env.OUT ?? '/tmp';
const ECHO = `http://127.0.0.1:${ECHO_PORT}`;
const REDIRECT = `${ECHO}/cb`;

const failures = [];
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The relying party's redirect URI: shows what arrived, by GET (query) or POST (form).
const echo = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    const url = new URL(req.url, ECHO);
    const params = req.method === 'POST' ? new URLSearchParams(body) : url.searchParams;
    const rows = [...params].map(([k, v]) => `<tr><th>${esc(k)}</th><td id="${esc(k)}">${esc(v)}</td></tr>`);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      `<!DOCTYPE html><title>Echo</title><h1 id="method">${esc(req.method)}</h1>` +
        `<table>${rows.join('')}</table>`,
    );
  });
});
await new Promise((resolve) => echo.listen(ECHO_PORT, '127.0.0.1', resolve));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

// A browser context that records CSP violations and console errors.
async function newContext(name, viewport = { width: 1100, height: 800 }) {
  const context = await browser.newContext({ viewport });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  page.on('console', (msg) => {
    // Chromium reports every 4xx page as a failed load; the steps check statuses themselves.
    const status4xx = /^Failed to load resource: the server responded with a status of 4\d\d/;
    if (msg.type() === 'error' && !status4xx.test(msg.text())) {
      check(false, `${name}: console error: ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => check(false, `${name}: page error: ${err.message}`));
  return { context, page };
}

async function shot(page, file) {
  await page.screenshot({ path: `${OUT}/${file}`, fullPage: true });
  console.log(`     screenshot ${OUT}/${file}`);
}

async function signIn(page) {
  await page.fill('#username', USER);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForLoadState('load'), page.click('button[value=login]')]);
}

try {
  // 1. The demo: login page, consent page, the callback with the verified ID token.
  const { context, page } = await newContext('demo');
  await page.goto(`${ISSUER}/demo/start`);
  check((await page.title()) === 'Sign in', 'the demo starts at the login page');
  check(await page.isVisible('#username'), 'the login page has a username field');
  await shot(page, 'opkit-login.png');
  await signIn(page);
  if (page.url().includes('/demo/callback')) {
    // The consent is kept for the server's lifetime: restart it to see the consent page.
    console.log('     (no consent page: alice consented to the demo client in an earlier run)');
  } else {
    check((await page.title()) === 'Allow access?', 'after signing in: the consent page');
    await shot(page, 'opkit-consent.png');
    await Promise.all([page.waitForURL(/\/demo\/callback/), page.click('button[value=allow]')]);
  }
  const text = await page.textContent('main');
  check(text.includes('ID token claims'), 'the callback shows the ID token claims');
  check(text.includes(`${USER}@example.com`), "the callback shows the user's e-mail address");
  check(/"nonce"/.test(text), 'the ID token has a nonce');
  await shot(page, 'opkit-callback.png');

  // 2. A relying party on another origin, response_mode=form_post: the consent page posts to
  // the provider, whose auto-submitting form (under its own CSP) posts to the relying party.
  const reg = await fetch(`${ISSUER}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Browser check RP',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
    }),
  });
  check(reg.status === 201, 'registered a public client for the echo origin');
  const client = await reg.json();
  const authorize = (extra) => {
    const verifier = randomBytes(32).toString('base64url');
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: 'openid profile offline_access',
      state: randomBytes(8).toString('hex'),
      nonce: randomBytes(8).toString('hex'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...extra,
    });
    return { url: `${ISSUER}/authorize?${q}`, verifier, state: q.get('state') };
  };
  const formPost = authorize({ response_mode: 'form_post' });
  await page.goto(formPost.url);
  check((await page.title()) === 'Allow access?', 'form_post: already signed in, consent page');
  const notice = await page.textContent('main');
  check(notice.includes('offline access'), 'form_post: the consent page tells about offline access');
  await shot(page, 'opkit-consent-offline.png');
  await Promise.all([page.waitForURL(`${REDIRECT}`), page.click('button[value=allow]')]);
  check((await page.textContent('#method')) === 'POST', 'form_post: the browser POSTed to the RP');
  check((await page.textContent('#state')) === formPost.state, 'form_post: state came back');
  check((await page.textContent('#iss')) === ISSUER, 'form_post: iss came back');
  const code = await page.textContent('#code');
  await shot(page, 'opkit-form-post-echo.png');
  const tokens = await fetch(`${ISSUER}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: formPost.verifier,
      client_id: client.client_id,
    }),
  });
  check(tokens.status === 200, 'form_post: the code redeems at /token');
  check(typeof (await tokens.json()).refresh_token === 'string', 'form_post: with a refresh token');

  // An authorization request that cannot be trusted: an error page, not a redirect.
  const refused = await page.goto(
    `${ISSUER}/authorize?client_id=unknown&redirect_uri=${encodeURIComponent(REDIRECT)}`,
  );
  check(refused.status() === 400, 'an unknown client: 400');
  check((await page.title()) === 'The sign-in request was refused', 'an unknown client gets an error page');
  await shot(page, 'opkit-error.png');

  // 3. A fresh browser (no session), query mode, consent already given: the login form's post
  // ends in a redirect to the other origin, which the login page's form-action must allow.
  // (A phone-sized window, to see the pages there too.)
  const fresh = await newContext('fresh', { width: 390, height: 760 });
  // (offline_access would ask for consent every time.)
  const query = authorize({ scope: 'openid profile' });
  await fresh.page.goto(query.url);
  check((await fresh.page.title()) === 'Sign in', 'query: a fresh browser gets the login page');
  await shot(fresh.page, 'opkit-login-narrow.png');
  await signIn(fresh.page);
  check(fresh.page.url().startsWith(`${REDIRECT}?`), 'query: the login post redirected to the RP');
  check((await fresh.page.textContent('#state')) === query.state, 'query: state came back');
  await fresh.context.close();

  // 4. Logout without an id_token_hint: a confirmation page, then the signed-out page.
  await page.goto(`${ISSUER}/logout`);
  check((await page.title()) === 'Sign out?', 'logout asks first');
  await shot(page, 'opkit-logout-confirm.png');
  await Promise.all([page.waitForLoadState('load'), page.click('button[value=logout]')]);
  check((await page.title()) === 'Signed out', 'then the signed-out page');
  await shot(page, 'opkit-signed-out.png');
  await page.goto(`${ISSUER}/demo/start`);
  check((await page.title()) === 'Sign in', 'signed out: the demo asks to sign in again');
  await context.close();
} catch (err) {
  check(false, `unexpected: ${err.stack ?? err}`);
} finally {
  await browser.close();
  echo.close();
}

if (failures.length) {
  console.log(`\n${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('\nall checks passed');
