// End-to-end test of the web UI in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core), against a `twake-ai serve`
// the Rust test (crates/twake-ai/tests/web_ui.rs) started on the sample
// workspace. Exits non-zero with the failed step on the first failure.
// Environment: BASE (server URL), KEY_ALICE (an admin), KEY_BOB (not an
// admin; reads his private review), UPLOAD (a file to upload), SHOTS (where
// to save screenshots), OIDC (optional: the provider URL; then Carol signs
// in through it).
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const { BASE, KEY_ALICE, KEY_BOB, UPLOAD, SHOTS, OIDC } = process.env;
const ANSWER_TIMEOUT = 300_000;
let step = 'start';
const outside = [];

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function signIn(page, key) {
  await page.goto(BASE);
  await page.fill('#key', key);
  await page.click('button[type=submit]');
  await page.waitForSelector('#user-name:not(:empty)');
}

async function signOut(page) {
  await page.click('#sign-out');
  await page.waitForSelector('#key');
}

// Fetches an API route from inside the page (with its session cookie).
function fetchIn(page, path, init) {
  return page.evaluate(async ([p, i]) => {
    const r = await fetch(p, i);
    return { status: r.status, body: await r.text() };
  }, [path, init || {}]);
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
let page;
const consoleErrors = [];
try {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 860 } });
  page = await context.newPage();
  const base = new URL(BASE);
  const allowed = new Set([base.host]);
  if (OIDC) allowed.add(new URL(OIDC).host);
  // Requests made by TwakeAI's pages (not the identity provider's own pages).
  page.on('request', (r) => {
    const u = new URL(r.url());
    let from = '';
    try { from = r.frame().url(); } catch { from = ''; }
    if (from.startsWith(BASE) && ['http:', 'https:'].includes(u.protocol) && !allowed.has(u.host)) outside.push(r.url());
  });
  page.on('console', (m) => { if (m.type() === 'error' && page.url().startsWith(BASE)) consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  step = 'a wrong key is refused with a message';
  await page.goto(BASE);
  await page.fill('#key', 'twk_not-a-key');
  await page.click('button[type=submit]');
  const err = await page.waitForSelector('[role=alert]');
  check((await err.textContent()).includes('Incorrect'), 'the wrong-key message');
  await page.screenshot({ path: `${SHOTS}/sign-in.png` });

  step = 'Bob signs in with his API key';
  await signIn(page, KEY_BOB);
  check((await page.textContent('#user-name')) === 'bob.leroy@valmont.fr', 'the user name shown');
  check(await page.isHidden('#nav-admin'), 'no admin link for a non-admin');

  step = 'Bob asks a question and the answer streams with citations';
  await page.fill('#question', 'Quand a lieu la bascule du datacenter de Lyon ?');
  await page.keyboard.press('Enter');
  // The passages are listed while the answer is written (the first event).
  await page.waitForSelector('.msg.assistant details.reading li a', { timeout: 10000 });
  check((await page.$('.msg.assistant .answer[aria-busy=true]')) !== null, 'the sources come before the answer');
  await page.waitForSelector('.msg.assistant .answer a.cite, .msg.assistant [role=alert]', { timeout: ANSWER_TIMEOUT });
  const failed = await page.$('.msg.assistant [role=alert]');
  check(!failed, `an answer, not an error: ${failed && (await failed.textContent())}`);
  const answer = await page.textContent('.msg.assistant .answer');
  check(/\[\d+\]/.test(answer), `the answer cites a source: ${answer}`);
  check(await page.isVisible('.answer-tools .model'), 'the model is shown');
  await page.screenshot({ path: `${SHOTS}/ask.png` });

  step = 'opening a citation shows the source beside the answer, passage highlighted';
  await page.click('.msg.assistant .answer a.cite');
  await page.waitForSelector('#source:not([hidden]) .passage.hit');
  const hit = (await page.textContent('#source .passage.hit .text')).trim();
  check(hit.length > 20, 'the highlighted passage has text');
  check((await page.textContent('#source-title')).trim().length > 0, 'the source has a title');
  await page.screenshot({ path: `${SHOTS}/source.png` });
  await page.keyboard.press('Escape');
  check(await page.isHidden('#source'), 'Escape closes the source');

  step = 'the conversation is kept by the server and opens again';
  await page.reload();
  await page.waitForSelector('#history .open');
  check((await page.$$('#thread .turn')).length === 0, 'a reload starts a new conversation');
  await page.click('#history .open');
  await page.waitForSelector('#thread .answer a.cite');
  check((await page.textContent('#thread .answer')) === answer, 'the stored answer comes back as it was');
  const bobConversations = JSON.parse((await fetchIn(page, '/api/v1/conversations')).body).conversations;
  check(bobConversations.length === 1, `one conversation for Bob: ${JSON.stringify(bobConversations)}`);

  step = 'Bob cannot open the admin pages';
  await page.goto(`${BASE}/#/admin`);
  await page.waitForSelector('#forbidden');
  check((await fetchIn(page, '/api/v1/admin/users')).status === 403, 'the admin API refuses Bob');
  check((await fetchIn(page, '/api/v1/admin/audit')).status === 403, 'the audit log refuses Bob');

  step = 'a cookie session cannot change anything without the UI header';
  const csrf = await fetchIn(page, '/api/v1/search', { method: 'POST', body: JSON.stringify({ query: 'Lyon' }) });
  check(csrf.status === 403, `a cross-site style POST is refused (got ${csrf.status})`);

  step = 'Bob reads his private review';
  const mine = await fetchIn(page, '/api/v1/search', {
    method: 'POST', headers: { 'X-Twake-UI': '1', 'Content-Type': 'application/json' },
    body: JSON.stringify({ query: 'entretien annuel augmentation salaire Bob', k: 10 }),
  });
  const privateHit = JSON.parse(mine.body).results.find((r) => r.path.includes('private-bob'));
  check(privateHit, `Bob finds his private review: ${mine.body}`);

  step = 'a chat message opens among the messages around it in its room';
  const chat = await fetchIn(page, '/api/v1/search', {
    method: 'POST', headers: { 'X-Twake-UI': '1', 'Content-Type': 'application/json' },
    body: JSON.stringify({ query: 'étiquetage des câbles de la baie B4', k: 5 }),
  });
  const chatHit = JSON.parse(chat.body).results.find((r) => r.title === 'Infra Lyon');
  check(chatHit, `the exported room is searchable: ${chat.body}`);
  // The view a chat citation opens (a script-global of app.js).
  await page.evaluate(([d, c]) => openSource(d, c), [chatHit.doc_id, chatHit.chunk_id]);
  await page.waitForSelector('#source:not([hidden]) .passage.hit');
  check((await page.textContent('#source-body h3')).trim() === 'In the room', 'the room context heading');
  const around = await page.$$eval('#source-body .passage', (ps) => ps.map((p) => [p.classList.contains('hit'), p.textContent]));
  const at = around.findIndex(([hit]) => hit);
  check(at > 0 && at < around.length - 1, `messages before and after the cited one: ${JSON.stringify(around)}`);
  check(around[at][1].includes('baie B4'), `the cited message is the hit: ${around[at][1]}`);
  check(around.every(([, text]) => !text.includes('mauvais salon')), 'a redacted message is not shown');
  await page.keyboard.press('Escape');

  step = 'Bob uploads a file and sees it indexed';
  await page.goto(`${BASE}/#/sources`);
  await page.waitForSelector('#files table, #files p');
  await page.setInputFiles('#file-input', UPLOAD);
  await page.waitForSelector('#job [data-state]', { timeout: 120_000 });
  check((await page.getAttribute('#job [data-state]', 'data-state')) === 'done', 'the upload job is done');
  const name = UPLOAD.split('/').pop();
  await page.waitForSelector(`#files td >> text=${name}`);
  const found = await fetchIn(page, '/api/v1/search', {
    method: 'POST', headers: { 'X-Twake-UI': '1', 'Content-Type': 'application/json' },
    body: JSON.stringify({ query: 'Zanzibar procurement codeword', k: 3 }),
  });
  check(JSON.parse(found.body).results.some((r) => r.path.endsWith(name)), `the upload is searchable: ${found.body}`);
  step = 'Bob drops a file on the drop zone';
  const dropped = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['# Note\n\nLe code Quetzal désigne la salle de crise du site de Vénissieux.\n'], 'note-quetzal.md', { type: 'text/markdown' }));
    return dt;
  });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dropped });
  await page.waitForSelector('#files td >> text=note-quetzal.md', { timeout: 120_000 });
  check((await page.getAttribute('#job [data-state]', 'data-state')) === 'done', 'the dropped file is indexed');

  await page.fill('#filter', 'zzz-nothing-matches');
  await page.waitForSelector('#files p');
  await page.fill('#filter', '');
  await page.screenshot({ path: `${SHOTS}/sources.png`, fullPage: true });

  step = 'Bob translates a sentence (a tool)';
  await page.goto(`${BASE}/#/tools`);
  await page.click('#tab-translate');
  await page.fill('#f-text', 'La réunion du 12 mars 2027 avec Claire Dubois est confirmée.');
  await page.selectOption('#f-to', 'en');
  await page.click('#run');
  await page.waitForSelector('#rewritten, #tool-result [role=alert]', { timeout: ANSWER_TIMEOUT });
  const translated = await page.textContent('#tool-result');
  check(translated.includes('Claire Dubois') && translated.includes('2027'), `names and dates kept: ${translated}`);

  step = 'meeting minutes: an action-item table, exported as CSV and ICS';
  await page.click('#tab-minutes');
  await page.waitForSelector('#f-path option', { state: 'attached' });
  const transcript = await page.$eval('#f-path', (s) => [...s.options].map((o) => o.value).find((v) => v.includes('comite-pilotage')));
  check(transcript, 'the steering committee transcript is offered');
  await page.selectOption('#f-path', transcript);
  await page.click('#run');
  await page.waitForSelector('#actions, #tool-result [role=alert]', { timeout: ANSWER_TIMEOUT });
  const minutesError = await page.$('#tool-result [role=alert]');
  check(!minutesError, `minutes, not an error: ${minutesError && (await minutesError.textContent())}`);
  const items = await page.$$eval('#actions tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  check(items.length >= 1 && items.every((r) => r[1].length > 0 && /cue \d+/.test(r[3])), `action items with tasks and cues: ${JSON.stringify(items)}`);
  await page.screenshot({ path: `${SHOTS}/tools.png`, fullPage: true });
  const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  const csvText = readFileSync(await csv.path(), 'utf8');
  check(csv.suggestedFilename() === 'action-items.csv', 'the CSV file name');
  check(csvText.startsWith('owner,task,due,cue,time') && csvText.trim().split('\r\n').length === items.length + 1, `one CSV line per item: ${csvText}`);
  const [ics] = await Promise.all([page.waitForEvent('download'), page.click('#export-ics')]);
  const icsText = readFileSync(await ics.path(), 'utf8');
  check((icsText.match(/BEGIN:VTODO/g) || []).length === items.length && icsText.startsWith('BEGIN:VCALENDAR'), `one VTODO per item: ${icsText}`);

  step = 'the interface switches to French';
  await page.click('#lang');
  check((await page.textContent('#nav a[href="#/ask"]')) === 'Demander', 'French navigation');
  check((await page.getAttribute('html', 'lang')) === 'fr', 'the page language');
  await page.click('#lang');
  await signOut(page);

  step = 'Alice (admin) opens the admin pages';
  await signIn(page, KEY_ALICE);
  check(await page.isVisible('#nav-admin'), 'the admin link for an admin');
  await page.click('#nav-admin');
  await page.waitForSelector('#audit-status');
  check((await page.textContent('#audit-status')).includes('verified'), 'the provenance log verifies');
  check((await page.textContent('#admin-keys')).includes('bob.leroy@valmont.fr'), 'the keys table');
  await page.fill('#member-container', 'group:lyon');
  await page.fill('#member-member', 'bob.leroy@valmont.fr');
  await page.click('#member-add');
  await page.waitForSelector('#admin-users td >> text=group:lyon');
  const memberships = JSON.parse((await fetchIn(page, '/api/v1/admin/users')).body).memberships;
  check(memberships.some((m) => m.container === 'group:lyon' && m.member === 'bob.leroy@valmont.fr'), 'the membership is stored');
  await page.click('#admin-users button[aria-label*="group:lyon"]');
  await page.waitForFunction(() => {
    const el = document.querySelector('#admin-users table');
    return el && !el.textContent.includes('group:lyon');
  });
  await page.waitForSelector('#audit-status');
  await page.fill('#member-container', 'group:');
  await page.fill('#member-member', 'bob.leroy@valmont.fr');
  await page.click('#member-add');
  await page.waitForSelector('#admin-users [role=alert]');
  await page.fill('#report-user', 'bob.leroy@valmont.fr');
  await page.click('#admin-access button[type=submit]');
  await page.waitForSelector('#admin-access table');
  await page.screenshot({ path: `${SHOTS}/admin.png`, fullPage: true });

  step = "Alice never sees Bob's private sources";
  const files = JSON.parse((await fetchIn(page, '/api/v1/files')).body).files;
  check(!files.some((f) => f.path.includes('private-bob')), "Bob's review is not in Alice's documents");
  check(!files.some((f) => f.path.endsWith(name)), "Bob's upload is not in Alice's documents");
  check(files.some((f) => f.path.includes('shared')), 'Alice sees the shared documents');
  const doc = await fetchIn(page, `/api/v1/documents/${privateHit.doc_id}`);
  check(doc.status === 404, `Alice cannot open Bob's review by its id (got ${doc.status})`);
  const other = await fetchIn(page, `/api/v1/conversations/${bobConversations[0].id}`);
  check(other.status === 404, `Alice cannot open Bob's conversation (got ${other.status})`);
  // A stored answer citing a passage Alice cannot read is never shown back.
  const json = { 'X-Twake-UI': '1', 'Content-Type': 'application/json' };
  const made = await fetchIn(page, '/api/v1/conversations', { method: 'POST', headers: json, body: JSON.stringify({ turns: [
    { question: 'Salaire de Bob ?', answer: 'Copied from Bob [1].', citations: [{ n: 1, doc_id: privateHit.doc_id, chunk_id: privateHit.chunk_id }] }] }) });
  check(made.status === 201, `a conversation is stored (got ${made.status} ${made.body})`);
  const back = JSON.parse((await fetchIn(page, `/api/v1/conversations/${JSON.parse(made.body).id}`)).body);
  check(back.turns[0].withheld === true && back.turns[0].answer === null, `the answer is withheld: ${JSON.stringify(back)}`);
  await page.goto(`${BASE}/#/ask`);
  await page.click('#history .open');
  await page.waitForSelector('#thread .withheld');
  check(!(await page.textContent('#thread')).includes('Copied from Bob'), 'the withheld answer is not on the page');
  await page.goto(`${BASE}/#/sources`);
  await page.waitForSelector('#files table');
  check(!(await page.textContent('#files')).includes('entretien-annuel'), "Bob's review is not listed for Alice");
  await signOut(page);

  step = 'the pages fit a phone';
  const phone = await browser.newContext({ locale: 'fr-FR', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const small = await phone.newPage();
  await small.goto(BASE);
  await small.fill('#key', KEY_BOB);
  await small.click('button[type=submit]');
  await small.waitForSelector('#question');
  check((await small.textContent('#nav a[href="#/ask"]')) === 'Demander', 'French from the browser language');
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no sideways scrolling on a phone (overflow ${overflow}px)`);
  await small.screenshot({ path: `${SHOTS}/phone.png` });
  await phone.close();

  if (OIDC) {
    step = 'Carol signs in through the identity provider (authorization code + PKCE)';
    await page.goto(BASE);
    await page.click('#oidc');
    await page.waitForSelector('input[name=login]');
    await page.fill('input[name=login]', 'carol.petit@valmont.fr');
    await page.fill('input[name=password]', 'any');
    await page.click('button[type=submit]');
    // The provider's consent page, then back to TwakeAI.
    await page.waitForSelector('button[autofocus], #user-name:not(:empty)');
    if (!page.url().startsWith(BASE)) await page.click('button[autofocus]');
    await page.waitForSelector('#user-name:not(:empty)');
    check((await page.textContent('#user-name')) === 'carol.petit@valmont.fr', 'the OIDC user');
    check((await fetchIn(page, '/api/v1/files')).status === 200, 'the API answers the OIDC session');
    await page.click('#sign-out');
    // TwakeAI's cookie is gone at once; the provider then asks to end its own session.
    await page.waitForURL((u) => !u.href.startsWith(BASE));
    await page.goto(BASE);
    await page.waitForSelector('#key');
    check((await fetchIn(page, '/api/v1/me')).status === 401, 'signed out of TwakeAI');
  }

  // The refusals above (a wrong key, a bad membership, Bob's 403 and 404s)
  // log "Failed to load resource"; anything else is a script error.
  step = 'no request left for another host, no script error';
  check(outside.length === 0, `requests to other hosts: ${outside.join(', ')}`);
  check(consoleErrors.filter((e) => !/status of (400|401|403|404)/.test(e)).length === 0, `script errors: ${consoleErrors.join(' | ')}`);
  console.log('ok: every step passed');
} catch (e) {
  console.error(`FAILED at step "${step}": ${e.message}`);
  if (page) {
    // What the browser showed when it failed.
    console.error(`script errors: ${consoleErrors.join(' | ')}`);
    console.error(`page: ${page.url()}\n${(await page.textContent('body').catch(() => '')).slice(0, 2000)}`);
    await page.screenshot({ path: `${SHOTS}/failure.png` }).catch(() => {});
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
