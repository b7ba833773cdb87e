// End-to-end test of the web UI in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core), against a `twake-ai serve`
// the Rust test (crates/twake-ai/tests/web_ui.rs) started on the sample
// workspace. Exits non-zero with the failed step on the first failure.
// Environment: BASE (server URL), KEY_ALICE (an admin), KEY_BOB (not an
// admin; reads his private review), UPLOAD (a file to upload), SHOTS (where
// to save screenshots), OIDC (optional: the provider URL; then Carol signs
// in through it). Every page is checked with axe-core in English and in
// French: no serious or critical violation.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const { BASE, KEY_ALICE, KEY_BOB, UPLOAD, SHOTS, OIDC } = process.env;
const ANSWER_TIMEOUT = 300_000;
let step = 'start';
const outside = [];

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// axe-core, run inside the page (evaluated through the DevTools protocol,
// which the page's Content-Security-Policy does not govern).
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const audited = [];
async function audit(page, name) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  audited.push(`${name} (${await page.getAttribute('html', 'lang')})`);
  check(bad.length === 0, `accessibility of ${name}: ${bad.map((v) => `${v.id} [${v.impact}] at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}: ${v.help}`).join('; ')}`);
}

// The server's count of generations running (its /metrics).
async function inFlight() {
  const text = await (await fetch(`${BASE}/metrics`)).text();
  return Number((text.match(/^twake_generations_in_flight (\d+)/m) || [])[1]);
}

// Waits until `cond()` holds (polling), or fails with `what`.
async function until(cond, what, ms = 30_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`check failed: ${what} (after ${ms} ms)`);
}

// No page wider than the screen.
async function fits(page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no sideways scrolling on a phone: ${what} (overflow ${overflow}px)`);
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
  await page.waitForSelector('#key');
  check(await page.isHidden('.top'), 'signed out, the header (user, admin link, sign out) is not shown');
  await audit(page, 'sign-in');
  await page.fill('#key', 'twk_not-a-key');
  await page.click('button[type=submit]');
  const err = await page.waitForSelector('[role=alert]');
  check((await err.textContent()).includes('Incorrect'), 'the wrong-key message');
  check(!(await page.textContent('main')).includes('twake-ai '), 'no command line told to a web user');
  await page.screenshot({ path: `${SHOTS}/sign-in.png` });

  step = 'Bob signs in with his API key';
  await signIn(page, KEY_BOB);
  check((await page.textContent('#user-name')) === 'bob.leroy@valmont.fr', 'the user name shown');
  check(await page.isHidden('#nav-admin'), 'no admin link for a non-admin');
  check((await page.$$('#welcome .suggestion')).length === 3, 'a welcome with suggested questions');
  check(await page.evaluate(() => document.activeElement.id === 'question'), 'the keyboard starts in the question box');
  await page.focus('.skip');
  await page.keyboard.press('Enter');
  check(await page.evaluate(() => document.activeElement.id === 'question'), 'the skip link leads to the question');
  await audit(page, 'ask (new conversation)');

  step = 'Bob asks a question and the answer streams with citations';
  // Every state the answer's bubble goes through, seen as it happens.
  await page.evaluate(() => {
    window.__seen = [];
    new MutationObserver(() => {
      const b = document.querySelector('.msg.assistant .answer');
      if (b) window.__seen.push({ busy: b.getAttribute('aria-busy') === 'true', text: b.querySelector('p, li') ? b.textContent : '' });
    }).observe(document.querySelector('#main'), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await page.fill('#question', 'Quand a lieu la bascule du datacenter de Lyon ?');
  await page.keyboard.press('Enter');
  // The passages are listed while the answer is written (the first event).
  await page.waitForSelector('.msg.assistant details.reading li a', { timeout: 10000 });
  check((await page.$('.msg.assistant .answer[aria-busy=true]')) !== null, 'the sources come before the answer');
  check(await page.isVisible('#stop') && await page.isHidden('#ask'), 'Stop replaces Ask while the answer is written');
  await page.waitForSelector('.msg.assistant .answer a.cite, .msg.assistant [role=alert]', { timeout: ANSWER_TIMEOUT });
  await page.waitForSelector('.msg.assistant .answer:not([aria-busy])', { timeout: ANSWER_TIMEOUT });
  const failed = await page.$('.msg.assistant [role=alert]');
  check(!failed, `an answer, not an error: ${failed && (await failed.textContent())}`);
  const answer = await page.textContent('.msg.assistant .answer');
  check(/\[\d+\]/.test(answer), `the answer cites a source: ${answer}`);
  const seen = await page.evaluate(() => window.__seen);
  const streamed = seen.filter((x) => x.busy && x.text);
  check(streamed.length > 0 && answer.startsWith(streamed[0].text.slice(0, 20)), `the text was shown while still being written: ${JSON.stringify(seen.slice(0, 8))}`);
  check(await page.isVisible('#ask') && await page.isHidden('#stop'), 'Ask is back once the answer is done');
  await page.screenshot({ path: `${SHOTS}/ask.png` });
  check(await page.isHidden('.answer-tools .details ul'), 'the model and policy are folded under Details');
  await page.click('.answer-tools .details summary');
  check((await page.textContent('.answer-tools .details')).includes('model'), 'Details name the model');
  check(await page.evaluate(() => !document.querySelector('#thread').hasAttribute('aria-live')), 'the thread is not re-read to screen readers at each update');
  await audit(page, 'ask (an answer)');

  step = 'Bob says the answer was not helpful, with a comment';
  await page.click('.answer-tools .thumb.down');
  await page.waitForSelector('.answer-tools .thumb.down[aria-pressed=true]');
  await page.fill('.fb-comment', 'Il manque l’heure de la bascule.');
  await page.click('.fb-send');
  await page.waitForSelector('.fb-thanks');

  step = 'Copy keeps the sources';
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  await page.click('.answer-tools .copy');
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied.includes('[1]') && /\n\nSources:\n\[\d+\] /.test(copied), `the copied answer lists its sources: ${copied}`);

  step = 'Stop (Escape) cancels the answer on the server';
  check((await inFlight()) === 0, 'nothing generating before');
  await page.fill('#question', 'Résume en détail tout ce qui a été écrit sur le projet Lyon, message par message.');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.turn[data-turn="1"] details.reading li a', { timeout: 10000 });
  check((await inFlight()) === 1, 'one generation running on the server');
  await page.keyboard.press('Escape');
  await page.waitForSelector('.turn[data-turn="1"] .stopped');
  check(await page.isVisible('#ask') && await page.isHidden('#stop'), 'Ask is back after Stop');
  await until(async () => (await inFlight()) === 0, 'the server stopped the generation (twake_generations_in_flight back to 0)');

  step = 'opening a citation shows the source beside the answer, passage highlighted';
  await page.click('.turn[data-turn="0"] .answer a.cite');
  await page.waitForSelector('#source:not([hidden]) .passage.hit');
  const hit = (await page.textContent('#source .passage.hit .text')).trim();
  check(hit.length > 20, 'the highlighted passage has text');
  check((await page.textContent('#source-title')).trim().length > 0, 'the source has a title');
  check(!(await page.textContent('#source-body dl')).includes('/'), 'no server path among the headers');
  await page.screenshot({ path: `${SHOTS}/source.png` });
  await audit(page, 'a source beside the answer');
  await page.keyboard.press('Escape');
  check(await page.isHidden('#source'), 'Escape closes the source');

  step = 'the conversation has an address, is kept by the server and opens again';
  await page.waitForFunction(() => /^#\/c\/\d+$/.test(location.hash));
  const convUrl = page.url();
  await page.reload();
  await page.waitForSelector('#thread .answer a.cite');
  check((await page.textContent('#thread .answer')) === answer, 'the stored answer comes back as it was, from its address');
  check((await page.$$('#thread .turn')).length === 1, 'the stopped answer was not kept');
  await page.click('#new-conversation');
  await page.waitForSelector('#welcome');
  check(page.url().endsWith('#/ask'), 'a new conversation');
  await page.waitForSelector('#history .open');
  await page.click('#history .open');
  await page.waitForSelector('#thread .answer a.cite');
  check(page.url() === convUrl, 'a conversation opens at its address');
  await page.click('#rename');
  await page.fill('#rename-input', 'Bascule de Lyon');
  await page.click('#rename-save');
  await page.waitForSelector('#conv-title');
  check((await page.textContent('#conv-title')) === 'Bascule de Lyon', 'renamed');
  await page.waitForFunction(() => document.querySelector('#history .open').textContent === 'Bascule de Lyon');
  const bobConversations = JSON.parse((await fetchIn(page, '/api/v1/conversations')).body).conversations;
  check(bobConversations.length === 1, `one conversation for Bob: ${JSON.stringify(bobConversations)}`);

  step = 'deleting a conversation asks first; Cancel keeps it';
  await page.click('#history .delete');
  await page.waitForSelector('dialog#confirm[open]');
  check((await page.textContent('#confirm-text')).includes(bobConversations[0].title), 'the dialog names the conversation');
  await audit(page, 'a confirmation');
  await page.keyboard.press('Escape');
  await page.waitForSelector('dialog#confirm', { state: 'detached' });
  check(JSON.parse((await fetchIn(page, '/api/v1/conversations')).body).conversations.length === 1, 'still there after Cancel');

  step = 'nothing found is not a dead end';
  await page.click('#new-conversation');
  await page.fill('#question', 'Quelle est la recette de la tarte tatin de ma grand-mère ?');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.turn .nothing #nothing-search, .turn .answer a.cite, .turn [role=alert]', { timeout: ANSWER_TIMEOUT });
  check(await page.$('.turn .nothing #nothing-search'), `nothing found, with a way on: ${await page.textContent('#thread')}`);
  check((await page.$$('.turn .nothing .near li a')).length > 0, 'the closest passages, to open');
  await audit(page, 'ask (nothing found)');
  await page.click('#nothing-search');

  step = 'the search page: permission-filtered, with filters';
  await page.waitForSelector('#search-results .result, #search-none');
  check((await page.inputValue('#search-q')).includes('tatin'), 'the question carried to the search');
  await page.fill('#search-q', 'bascule datacenter Lyon');
  await page.click('#search-go');
  await page.waitForSelector('#search-results .result');
  const all = (await page.$$('#search-results .result')).length;
  await page.selectOption('#search-kind', 'mail');
  await page.fill('#search-person', 'claire');
  await page.click('#search-go');
  await page.waitForFunction(() => !document.querySelector('#search-results [aria-busy]'));
  const metas = await page.$$eval('#search-results .result .meta', (m) => m.map((x) => x.textContent));
  check(metas.length > 0 && metas.length <= all && metas.every((m) => m.includes('Claire') && m.includes('Mail')), `filtered by person and kind: ${JSON.stringify(metas)}`);
  check(page.url().includes('person=claire'), 'the search has an address');
  await page.screenshot({ path: `${SHOTS}/search.png`, fullPage: true });
  await audit(page, 'search');
  await page.fill('#search-person', 'nobody-by-that-name');
  await page.click('#search-go');
  await page.waitForSelector('#search-none');
  check(!(await page.textContent('#search-results')).includes('entretien'), 'nothing of another user');

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
  check(around.every(([, text]) => !/\d{4}-\d{2}-\d{2}T/.test(text)), `dates in words, not ISO: ${around[at][1]}`);
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
  await page.waitForSelector('#files-none');
  check((await page.textContent('#files-none')) === 'No document matches the filter.', 'a filter with no match says so');
  await page.fill('#filter', '');
  check(!(await page.textContent('#files')).includes('/uploads/'), 'no server path of an upload');
  check(!(await page.textContent('main')).includes('twake-ai '), 'no command line told to a web user');
  await page.screenshot({ path: `${SHOTS}/sources.png`, fullPage: true });
  await audit(page, 'sources');

  step = 'deleting a file asks first';
  await page.click('button.delete-file[aria-label*="note-quetzal"]');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => !document.querySelector('#files').textContent.includes('note-quetzal'));

  step = 'tools: tabs with addresses and arrow keys, threads picked not typed';
  await page.goto(`${BASE}/#/tools`);
  await page.waitForSelector('#f-mid option[value*="@"]', { state: 'attached' });
  const threads = await page.$$eval('#f-mid option', (o) => o.map((x) => x.textContent));
  check(threads.some((x) => x.includes('Lyon')), `the Lyon thread offered by its subject: ${JSON.stringify(threads)}`);
  await audit(page, 'tools');
  await page.focus('#tab-thread');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => location.hash === '#/tools/room' && document.activeElement && document.activeElement.id === 'tab-room');
  await page.keyboard.press('End');
  await page.waitForFunction(() => location.hash === '#/tools/brief' && document.activeElement.id === 'tab-brief');

  step = 'Bob translates a sentence (a tool)';
  await page.goto(`${BASE}/#/tools/translate`);
  await page.fill('#f-text', 'La réunion du 12 mars 2027 avec Claire Dubois est confirmée.');
  await page.selectOption('#f-to', 'en');
  await page.click('#run');
  await page.waitForSelector('#rewritten, #tool-result [role=alert]', { timeout: ANSWER_TIMEOUT });
  const translated = await page.textContent('#tool-result');
  check(translated.includes('Claire Dubois') && translated.includes('2027'), `names and dates kept: ${translated}`);

  step = 'meeting minutes: an action-item table, exported as CSV and ICS';
  await page.click('#tab-minutes');
  await page.waitForSelector('#f-path option[value*="comite-pilotage"]', { state: 'attached' });
  const transcript = await page.$eval('#f-path', (s) => [...s.options].map((o) => o.value).find((v) => v.includes('comite-pilotage')));
  check(transcript, 'the steering committee transcript is offered');
  await page.selectOption('#f-path', transcript);
  await page.click('#run');
  // While the model writes, the tokens it has written so far.
  const progressed = await page.waitForFunction(() => {
    const w = document.querySelector('#working');
    if (w && /tokens written/.test(w.textContent)) return 'progress';
    return document.querySelector('#actions, #tool-result [role=alert]') ? 'done' : false;
  }, null, { timeout: ANSWER_TIMEOUT });
  check((await progressed.jsonValue()) === 'progress', 'the tokens written so far are shown while the minutes are written');
  await page.waitForSelector('#actions, #tool-result [role=alert]', { timeout: ANSWER_TIMEOUT });
  const minutesError = await page.$('#tool-result [role=alert]');
  check(!minutesError, `minutes, not an error: ${minutesError && (await minutesError.textContent())}`);
  const items = await page.$$eval('#actions tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  check(items.length >= 1 && items.every((r) => r[1].length > 0 && /cue \d+/.test(r[3])), `action items with tasks and cues: ${JSON.stringify(items)}`);
  const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  const csvText = readFileSync(await csv.path(), 'utf8');
  check(csv.suggestedFilename() === 'action-items.csv', 'the CSV file name');
  check(csvText.startsWith('owner,task,due,cue,time') && csvText.trim().split('\r\n').length === items.length + 1, `one CSV line per item: ${csvText}`);
  const [ics] = await Promise.all([page.waitForEvent('download'), page.click('#export-ics')]);
  const icsText = readFileSync(await ics.path(), 'utf8');
  check((icsText.match(/BEGIN:VTODO/g) || []).length === items.length && icsText.startsWith('BEGIN:VCALENDAR'), `one VTODO per item: ${icsText}`);

  await page.screenshot({ path: `${SHOTS}/tools.png`, fullPage: true });
  await audit(page, 'tools (minutes)');

  step = 'the interface in French, every page accessible';
  await page.click('#lang');
  check((await page.textContent('#nav a[data-view=ask]')) === 'Demander', 'French navigation');
  check((await page.getAttribute('html', 'lang')) === 'fr', 'the page language');
  await audit(page, 'tools (minutes)');
  for (const [hash, ready, name] of [[convUrl.slice(convUrl.indexOf('#')), '#thread .answer a.cite', 'ask (an answer)'],
    ['#/search?q=bascule', '#search-results .result', 'search'], ['#/sources', '#files table', 'sources'], ['#/tools/draft', '#f-mid option[value*="@"]', 'tools (draft)']]) {
    await page.goto(`${BASE}/${hash}`);
    await page.waitForSelector(ready, { state: 'attached' });
    await audit(page, name);
  }
  await page.click('#lang');
  await signOut(page);
  check(await page.isHidden('.top') && (await page.textContent('#user-name')) === '', 'signed out, nothing shows who used the page');
  await page.click('#lang-signin');
  check((await page.textContent('h1')) === 'Connexion à TwakeAI', 'French on the sign-in page too');
  await audit(page, 'sign-in');
  await page.click('#lang-signin');

  step = 'Alice (admin) opens the admin pages';
  await signIn(page, KEY_ALICE);
  check(await page.isVisible('#nav-admin'), 'the admin link for an admin');
  await page.click('#nav-admin');
  await page.waitForSelector('#audit-status');
  check((await page.textContent('#audit-status')).includes('verified'), 'the provenance log verifies');
  check((await page.textContent('#admin-keys')).includes('bob.leroy@valmont.fr'), 'the keys table');
  await audit(page, 'admin');

  step = 'Alice makes a key: shown at once with a copy button, revoked after a confirmation';
  const refused = await fetchIn(page, '/api/v1/admin/keys', { method: 'POST', headers: { 'X-Twake-UI': '1', 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'not-an-email' }) });
  check(refused.status === 400 && refused.body.includes('e-mail address'), `a key for a non-address is refused: ${refused.body}`);
  await page.fill('#key-user', 'dora.nguyen@valmont.fr');
  await page.fill('#key-label', 'laptop');
  await page.click('#key-create');
  await page.waitForSelector('#new-key');
  check((await page.inputValue('#new-key')).startsWith('twk_'), 'the new key is shown');
  check(await page.isVisible('#copy-key'), 'with a copy button');
  check((await page.textContent('#keys')).includes('dora.nguyen@valmont.fr'), 'the new key is listed without a reload');
  await page.click('#keys button.revoke[aria-label*="dora.nguyen"]');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => !document.querySelector('#keys button.revoke[aria-label*="dora.nguyen"]'));
  check(/\d/.test(await page.textContent('#usage-total')), 'usage in numbers');
  const fb = await page.textContent('#admin-feedback');
  check(fb.includes('1 not helpful') && fb.includes('Il manque l’heure de la bascule.') && fb.includes('bob.leroy@valmont.fr'), `Bob's rating among the answer ratings: ${fb}`);
  await page.fill('#member-container', 'group:lyon');
  await page.fill('#member-member', 'bob.leroy@valmont.fr');
  await page.click('#member-add');
  await page.waitForSelector('#admin-users td >> text=group:lyon');
  const memberships = JSON.parse((await fetchIn(page, '/api/v1/admin/users')).body).memberships;
  check(memberships.some((m) => m.container === 'group:lyon' && m.member === 'bob.leroy@valmont.fr'), 'the membership is stored');
  await page.click('#admin-users button[aria-label*="group:lyon"]');
  await page.click('#confirm-ok');
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
  await page.click('#lang');
  await page.waitForSelector('#audit-status');
  await audit(page, 'admin');
  await page.click('#lang');

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
  step = 'deleting a conversation, confirmed';
  await page.click('#history .delete');
  await page.click('#confirm-ok');
  await page.waitForSelector('#welcome');
  check(JSON.parse((await fetchIn(page, '/api/v1/conversations')).body).conversations.length === 0, 'the conversation is gone');
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
  check((await small.textContent('#nav a[data-view=ask]')) === 'Demander', 'French from the browser language');
  const navCut = await small.$$eval('#nav a:not([hidden])', (as) => as.filter((a) => a.getBoundingClientRect().right > window.innerWidth).length);
  check(navCut === 0, `every navigation link on screen (${navCut} cut off)`);
  await fits(small, 'ask');
  await small.screenshot({ path: `${SHOTS}/phone.png` });
  for (const [hash, ready] of [[convUrl.slice(convUrl.indexOf('#')), '#thread .answer a.cite'], ['#/search?q=bascule', '#search-results .result'],
    ['#/tools/minutes', '#f-path option[value*="comite"]'], ['#/sources', '#files table']]) {
    await small.goto(`${BASE}/${hash}`);
    await small.waitForSelector(ready, { state: 'attached' });
    await fits(small, hash);
  }
  await small.goto(`${BASE}/${convUrl.slice(convUrl.indexOf('#'))}`);
  await small.click('#thread .answer a.cite');
  await small.waitForSelector('#source:not([hidden]) .passage.hit');
  const panel = await small.$eval('#source', (a) => { const r = a.getBoundingClientRect(); return [r.top, r.width]; });
  check(panel[0] === 0 && panel[1] === 390, `the source opens over the page, not below the question: ${panel}`);
  await fits(small, 'a source');
  await small.keyboard.press('Escape');
  step = 'the sign-in and admin pages fit a phone';
  await small.click('#sign-out');
  await small.waitForSelector('#key');
  await fits(small, 'sign-in');
  await small.fill('#key', KEY_ALICE);
  await small.click('button[type=submit]');
  await small.waitForSelector('#question');
  await small.goto(`${BASE}/#/admin`);
  await small.waitForSelector('#audit-status');
  await fits(small, 'admin');
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
  console.log(`axe-core: no serious or critical violation on ${audited.length} pages: ${audited.join(', ')}`);
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
