// TwakeAI web UI: one page, no framework, no build step. It calls the same
// native API as any client (/api/v1), signed in by an HttpOnly cookie the
// server sets; every text from the server is put in the page as text
// (never as HTML).
'use strict';

const I18N = {
  en: {
    skip: 'Skip to content', 'nav.ask': 'Ask', 'nav.tools': 'Summaries and tools', 'nav.sources': 'Sources', 'nav.admin': 'Admin',
    signout: 'Sign out', close: 'Close', 'signin.title': 'Sign in to TwakeAI', 'signin.key': 'API key',
    'signin.key.help': 'An administrator makes one with `twake-ai keys create --user EMAIL`.', 'signin.go': 'Sign in',
    'signin.oidc': 'Sign in with your organisation', 'signin.or': 'or', 'ask.title': 'Ask your workspace',
    'ask.placeholder': 'Ask a question about your mail, rooms, files and meetings…', 'ask.send': 'Ask',
    'ask.new': 'New conversation', 'ask.history': 'Conversations', 'ask.delete': 'Delete the conversation',
    'ask.withheld': 'This answer cited a source you can no longer open: it is not shown again.', 'ask.thinking': 'Searching and writing…',
    'ask.copy': 'Copy', 'ask.copied': 'Copied', 'ask.regenerate': 'Regenerate', 'ask.sources': 'Sources',
    'ask.reading': 'Reading these passages…', 'ask.writing': 'Writing the answer…', 'ask.near': 'The closest passages',
    'ask.model': 'Answered by {model}', 'ask.policy': 'Policy', 'ask.audit': 'provenance record #{id}', 'ask.none': 'No source was cited.',
    'source.from': 'From', 'source.to': 'To', 'source.date': 'Date', 'source.subject': 'Subject', 'source.path': 'Source',
    'source.context': 'In the room', 'source.passages': 'Passages', 'tools.thread': 'Thread summary', 'tools.room': 'Room catch-up',
    'tools.minutes': 'Meeting minutes', 'tools.draft': 'Reply draft', 'tools.translate': 'Translate or rewrite',
    'tools.brief': 'Daily brief', 'tools.triage': 'Inbox triage',
    'f.message_id': 'Message-ID of any message of the thread', 'f.room': 'Room (name or ID)', 'f.since': 'Since (last-read, YYYY-MM-DD, 24h, 7d)',
    'f.transcript': 'Transcript', 'f.date': 'Meeting date (YYYY-MM-DD, optional)', 'f.lang': 'Language', 'f.tone': 'Tone',
    'f.points': 'Points to make (one a line)', 'f.text': 'Text', 'f.to': 'To language', 'f.auto': '(as the text)',
    'f.brief_since': 'Since (default: yesterday)', 'f.triage_since': 'Since (YYYY-MM-DD, default: 7 days)', run: 'Run', working: 'Working…',
    'r.summary': 'Summary', 'r.decisions': 'Decisions', 'r.actions': 'Action items', 'r.owner': 'Owner', 'r.task': 'Task', 'r.due': 'Due',
    'r.source': 'Source', 'r.asked': 'Asked', 'r.decided': 'Decided', 'r.open': 'Still open', 'r.messages': 'Messages',
    'r.mentions': 'Mentions of you', 'r.topics': 'Topics', 'r.csv': 'Export CSV', 'r.ics': 'Export ICS', 'r.never_sent': 'A draft: TwakeAI never sends it.',
    'r.unsupported': 'Not found in the thread or your points (check them):', 'r.missing': 'Lost in the result (check them):',
    'r.nothing': 'Nothing to show.', 'r.reply': 'needs your reply', 'r.urgency': 'urgency', 'r.deadlines': 'deadlines',
    'src.upload': 'Add files', 'src.drop': 'Drop files here, or', 'src.choose': 'choose files', 'src.readers': 'Also readable by (groups you belong to, as group:NAME, comma-separated; optional)',
    'src.uploading': 'Uploading…', 'src.indexing': 'Indexing {done} of {total}', 'src.done': 'Indexed: {new} new, {updated} updated, {unchanged} unchanged',
    'src.failed': 'Failed', 'src.connectors': 'Connected sources', 'src.noconn': 'No connected source. An administrator adds them with `twake-ai sources add`.',
    'src.files': 'Documents', 'src.filter': 'Filter', 'src.all': 'All formats', 'src.nofiles': 'No document yet.', 'src.title': 'Title', 'src.format': 'Format',
    'src.docs': 'Items', 'src.ingested': 'Indexed', 'src.delete': 'Delete', 'src.name': 'Name', 'src.kind': 'Kind', 'src.status': 'Status',
    'src.items': 'Items', 'src.lag': 'Last success', 'src.syncing': 'Syncing {place}: {done} of {total}',
    'admin.forbidden': 'The administration pages are for administrators only.', 'admin.users': 'Users and groups', 'admin.keys': 'API keys',
    'admin.models': 'Models and clearances', 'admin.access': 'Access report', 'admin.audit': 'Provenance log', 'admin.usage': 'Usage and quotas',
    'admin.user': 'User', 'admin.container': 'Group, room or share', 'admin.member': 'Member', 'admin.tenant': 'Tenant', 'admin.label': 'Label', 'admin.add': 'Add the member', 'admin.remove': 'Remove',
    'admin.created': 'Created', 'admin.revoked': 'revoked', 'admin.active': 'active', 'admin.revoke': 'Revoke', 'admin.create': 'Create a key',
    'admin.newkey': 'New key (shown once): {key}', 'admin.report': 'Report', 'admin.verified': 'Chain and signatures verified over {n} records',
    'admin.problems': '{n} problems found', 'admin.when': 'When', 'admin.model': 'Model', 'admin.decision': 'Decision', 'admin.passages': 'Passages',
    'admin.where': 'Where', 'admin.jurisdiction': 'Jurisdiction', 'admin.clearance': 'Clearance', 'admin.pseudo': 'Pseudonymised up to',
    'admin.tokens': 'Tokens per day (all principals)', 'admin.quotas': 'Quotas', 'admin.nolimit': 'no limit', 'admin.reach': '{user} (tenant {tenant}) can read {n} documents',
    'admin.sources': 'Source', 'admin.level': 'Level', 'admin.granted': 'Granted by', 'lang.other': 'FR', 'err.network': 'The server cannot be reached.',
  },
  fr: {
    skip: 'Aller au contenu', 'nav.ask': 'Demander', 'nav.tools': 'Résumés et outils', 'nav.sources': 'Sources', 'nav.admin': 'Administration',
    signout: 'Se déconnecter', close: 'Fermer', 'signin.title': 'Connexion à TwakeAI', 'signin.key': 'Clé d’API',
    'signin.key.help': 'Un administrateur en crée une avec `twake-ai keys create --user EMAIL`.', 'signin.go': 'Se connecter',
    'signin.oidc': 'Se connecter avec votre organisation', 'signin.or': 'ou', 'ask.title': 'Interroger votre espace',
    'ask.placeholder': 'Posez une question sur vos mails, salons, fichiers et réunions…', 'ask.send': 'Demander',
    'ask.new': 'Nouvelle conversation', 'ask.history': 'Conversations', 'ask.delete': 'Supprimer la conversation',
    'ask.withheld': 'Cette réponse citait une source que vous ne pouvez plus ouvrir : elle n’est plus affichée.', 'ask.thinking': 'Recherche et rédaction…',
    'ask.copy': 'Copier', 'ask.copied': 'Copié', 'ask.regenerate': 'Régénérer', 'ask.sources': 'Sources',
    'ask.reading': 'Lecture de ces passages…', 'ask.writing': 'Rédaction de la réponse…', 'ask.near': 'Les passages les plus proches',
    'ask.model': 'Réponse de {model}', 'ask.policy': 'Politique', 'ask.audit': 'trace de provenance n° {id}', 'ask.none': 'Aucune source citée.',
    'source.from': 'De', 'source.to': 'À', 'source.date': 'Date', 'source.subject': 'Objet', 'source.path': 'Source',
    'source.context': 'Dans le salon', 'source.passages': 'Passages', 'tools.thread': 'Résumé de fil', 'tools.room': 'Rattrapage de salon',
    'tools.minutes': 'Compte rendu de réunion', 'tools.draft': 'Brouillon de réponse', 'tools.translate': 'Traduire ou reformuler',
    'tools.brief': 'Point du jour', 'tools.triage': 'Tri de la boîte',
    'f.message_id': 'Message-ID d’un message du fil', 'f.room': 'Salon (nom ou ID)', 'f.since': 'Depuis (last-read, AAAA-MM-JJ, 24h, 7d)',
    'f.transcript': 'Transcription', 'f.date': 'Date de la réunion (AAAA-MM-JJ, facultatif)', 'f.lang': 'Langue', 'f.tone': 'Ton',
    'f.points': 'Points à faire passer (un par ligne)', 'f.text': 'Texte', 'f.to': 'Vers la langue', 'f.auto': '(celle du texte)',
    'f.brief_since': 'Depuis (par défaut : hier)', 'f.triage_since': 'Depuis (AAAA-MM-JJ, par défaut : 7 jours)', run: 'Lancer', working: 'En cours…',
    'r.summary': 'Résumé', 'r.decisions': 'Décisions', 'r.actions': 'Actions', 'r.owner': 'Responsable', 'r.task': 'Tâche', 'r.due': 'Échéance',
    'r.source': 'Source', 'r.asked': 'Demandes', 'r.decided': 'Décisions', 'r.open': 'Encore ouvert', 'r.messages': 'Messages',
    'r.mentions': 'Vous êtes mentionné', 'r.topics': 'Sujets', 'r.csv': 'Exporter en CSV', 'r.ics': 'Exporter en ICS', 'r.never_sent': 'Un brouillon : TwakeAI ne l’envoie jamais.',
    'r.unsupported': 'Absent du fil et de vos points (à vérifier) :', 'r.missing': 'Perdu dans le résultat (à vérifier) :',
    'r.nothing': 'Rien à afficher.', 'r.reply': 'attend votre réponse', 'r.urgency': 'urgence', 'r.deadlines': 'échéances',
    'src.upload': 'Ajouter des fichiers', 'src.drop': 'Déposez des fichiers ici, ou', 'src.choose': 'choisissez des fichiers', 'src.readers': 'Aussi lisible par (vos groupes, sous la forme group:NOM, séparés par des virgules ; facultatif)',
    'src.uploading': 'Envoi…', 'src.indexing': 'Indexation {done} sur {total}', 'src.done': 'Indexé : {new} nouveaux, {updated} modifiés, {unchanged} inchangés',
    'src.failed': 'Échec', 'src.connectors': 'Sources connectées', 'src.noconn': 'Aucune source connectée. Un administrateur les ajoute avec `twake-ai sources add`.',
    'src.files': 'Documents', 'src.filter': 'Filtrer', 'src.all': 'Tous les formats', 'src.nofiles': 'Aucun document pour l’instant.', 'src.title': 'Titre', 'src.format': 'Format',
    'src.docs': 'Éléments', 'src.ingested': 'Indexé', 'src.delete': 'Supprimer', 'src.name': 'Nom', 'src.kind': 'Type', 'src.status': 'État',
    'src.items': 'Éléments', 'src.lag': 'Dernier succès', 'src.syncing': 'Synchronisation de {place} : {done} sur {total}',
    'admin.forbidden': 'Les pages d’administration sont réservées aux administrateurs.', 'admin.users': 'Utilisateurs et groupes', 'admin.keys': 'Clés d’API',
    'admin.models': 'Modèles et habilitations', 'admin.access': 'Rapport d’accès', 'admin.audit': 'Journal de provenance', 'admin.usage': 'Consommation et quotas',
    'admin.user': 'Utilisateur', 'admin.container': 'Groupe, salon ou partage', 'admin.member': 'Membre', 'admin.tenant': 'Organisation', 'admin.label': 'Libellé', 'admin.add': 'Ajouter le membre', 'admin.remove': 'Retirer',
    'admin.created': 'Créée', 'admin.revoked': 'révoquée', 'admin.active': 'active', 'admin.revoke': 'Révoquer', 'admin.create': 'Créer une clé',
    'admin.newkey': 'Nouvelle clé (affichée une seule fois) : {key}', 'admin.report': 'Rapport', 'admin.verified': 'Chaîne et signatures vérifiées sur {n} enregistrements',
    'admin.problems': '{n} problèmes trouvés', 'admin.when': 'Quand', 'admin.model': 'Modèle', 'admin.decision': 'Décision', 'admin.passages': 'Passages',
    'admin.where': 'Où', 'admin.jurisdiction': 'Juridiction', 'admin.clearance': 'Habilitation', 'admin.pseudo': 'Pseudonymisé jusqu’à',
    'admin.tokens': 'Jetons par jour (tous les principaux)', 'admin.quotas': 'Quotas', 'admin.nolimit': 'sans limite', 'admin.reach': '{user} (organisation {tenant}) peut lire {n} documents',
    'admin.sources': 'Source', 'admin.level': 'Niveau', 'admin.granted': 'Accordé par', 'lang.other': 'EN', 'err.network': 'Le serveur est injoignable.',
  },
};

let lang = localStorage.getItem('twake.lang') || ((navigator.language || 'en').toLowerCase().startsWith('fr') ? 'fr' : 'en');
let me = null;
let uiConfig = { oidc: false };
let poller = null;

function t(key, vars) {
  let s = (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

// Builds an element; strings become text nodes, never HTML.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'style') el.style.cssText = v; // CSSOM: allowed by the page's CSP
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}
const $ = (sel) => document.querySelector(sel);

function toast(text) {
  const el = $('#toast');
  el.textContent = text;
  el.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove('show'), 2500);
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, { method = 'GET', json, form, signal } = {}) {
  const headers = { 'X-Twake-UI': '1' };
  let body;
  if (json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(json); }
  if (form) body = form;
  let r;
  try {
    r = await fetch(path, { method, headers, body, signal, credentials: 'same-origin' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, t('err.network'));
  }
  if (r.status === 401 && path !== '/ui/session') { me = null; render(); throw new ApiError(401, 'signed out'); }
  if (r.status === 204) return null;
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!r.ok) throw new ApiError(r.status, (data && data.error && data.error.message) || text || r.statusText);
  return data;
}

function errorBox(e) {
  return h('p', { class: 'error', role: 'alert', text: e.message || String(e) });
}

function fmtTime(unix) {
  return unix ? new Date(unix * 1000).toLocaleString(lang) : '—';
}

function download(name, type, text) {
  const a = h('a', { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

// ---------- sign-in ----------

function signInView(main) {
  main.className = 'narrow';
  const err = h('div');
  const key = h('input', { id: 'key', type: 'password', autocomplete: 'current-password', required: true, class: 'grow', 'aria-describedby': 'key-help' });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      err.replaceChildren();
      try {
        await api('/ui/session', { method: 'POST', json: { key: key.value } });
        await start();
      } catch (e) { err.replaceChildren(errorBox(e)); }
    },
  },
  h('label', { for: 'key', text: t('signin.key') }),
  h('div', { class: 'row' }, key, h('button', { type: 'submit', text: t('signin.go') })),
  h('p', { id: 'key-help', class: 'muted', text: t('signin.key.help') }));
  main.append(h('h1', { text: t('signin.title') }));
  if (uiConfig.oidc) {
    main.append(h('p', {}, h('a', { href: '/ui/oidc/login', class: 'button', id: 'oidc', text: t('signin.oidc') })),
      h('p', { class: 'muted', text: t('signin.or') }));
  }
  main.append(h('div', { class: 'card' }, form), err);
  key.focus();
}

// ---------- ask ----------

let conversation = null;

// The answer's text with each [n] a link that opens citation n.
function answerNode(text, citations) {
  const p = h('div', { class: 'bubble answer' });
  const byN = new Map((citations || []).map((c) => [c.n, c]));
  let last = 0;
  for (const m of text.matchAll(/\[(\d+)\]/g)) {
    p.append(text.slice(last, m.index));
    const c = byN.get(Number(m[1]));
    if (c) {
      p.append(h('a', {
        href: `#/source/${c.doc_id}/${c.chunk_id}`, class: 'cite', 'data-n': c.n, title: `${c.title} ${c.locator}`.trim(),
        onclick: (ev) => { ev.preventDefault(); openSource(c.doc_id, c.chunk_id); },
      }, m[0]));
    } else p.append(m[0]);
    last = m.index + m[0].length;
  }
  p.append(text.slice(last));
  return p;
}

// A list of passages (a streamed answer's sources, a citation list), each
// opening beside the answer.
function passageList(items) {
  return h('ol', { class: 'sources' }, items.map((c) => h('li', { value: c.n },
    h('a', { href: `#/source/${c.doc_id}/${c.chunk_id}`, onclick: (ev) => { ev.preventDefault(); openSource(c.doc_id, c.chunk_id); } }, c.title || c.path),
    c.locator ? ` — ${c.locator}` : '', ' ', h('span', { class: 'badge', text: c.sensitivity }))));
}

function turnNode(turn, index) {
  const box = h('div', { class: 'turn' },
    h('div', { class: 'msg user' }, h('div', { class: 'bubble', text: turn.q })));
  const a = h('div', { class: 'msg assistant' });
  if (turn.error) a.append(errorBox({ message: turn.error }));
  else if (turn.withheld) a.append(h('p', { class: 'muted withheld', text: t('ask.withheld') }));
  else if (turn.pending) {
    a.append(h('div', { class: 'bubble answer', 'aria-busy': 'true' }, turn.partial || t(turn.sources ? 'ask.writing' : 'ask.thinking')));
    // The passages arrive first, before the model writes anything.
    if (turn.sources && turn.sources.length) {
      a.append(h('details', { open: true, class: 'reading' }, h('summary', { text: t('ask.reading') }), passageList(turn.sources)));
    }
  }
  else {
    a.append(answerNode(turn.answer, turn.citations));
    if (turn.citations && turn.citations.length) {
      a.append(h('details', { open: true }, h('summary', { text: t('ask.sources') }), passageList(turn.citations)));
    } else if (turn.found === false && turn.sources && turn.sources.length) {
      // Nothing answers, but the user can still read what came closest.
      a.append(h('details', { class: 'near' }, h('summary', { text: t('ask.near') }), passageList(turn.sources)));
    }
    a.append(h('div', { class: 'answer-tools muted' },
      h('span', { class: 'model', title: turn.decision || '', text: t('ask.model', { model: turn.model }) + (turn.audit_id ? ` · ${t('ask.audit', { id: turn.audit_id })}` : '') }),
      turn.decision ? h('details', { class: 'decision' }, h('summary', { text: t('ask.policy') }), h('span', { text: turn.decision })) : null,
      h('button', { type: 'button', class: 'quiet', onclick: async () => { await navigator.clipboard.writeText(turn.answer).catch(() => {}); toast(t('ask.copied')); }, text: t('ask.copy') }),
      h('button', { type: 'button', class: 'quiet regenerate', onclick: () => ask(turn.q, index), text: t('ask.regenerate') })));
  }
  box.append(a);
  return box;
}

function askView(main) {
  if (!conversation) conversation = { id: null, turns: [] };
  const thread = h('div', { id: 'thread', 'aria-live': 'polite' }, conversation.turns.map(turnNode));
  const q = h('textarea', { id: 'question', rows: 3, placeholder: t('ask.placeholder'), 'aria-label': t('ask.placeholder'),
    onkeydown: (ev) => { if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); } } });
  const form = h('form', { onsubmit: (ev) => { ev.preventDefault(); if (q.value.trim()) { ask(q.value.trim()); q.value = ''; } } },
    q, h('div', { class: 'row' }, h('button', { type: 'submit', id: 'ask', text: t('ask.send') }),
      h('button', { type: 'button', class: 'quiet', onclick: () => { conversation = null; render(); }, text: t('ask.new') })));
  const history = h('nav', { class: 'history', id: 'history', 'aria-label': t('ask.history') });
  main.append(h('h1', { text: t('ask.title') }), history, thread, form);
  q.focus();
  refreshHistory();
}

// The caller's conversations, kept by the server.
function refreshHistory() {
  const history = $('#history');
  if (!history) return;
  api('/api/v1/conversations').then(({ conversations }) => {
    history.replaceChildren(...conversations.slice(0, 20).map((c) => h('span', { class: 'conv' },
      h('button', { type: 'button', class: 'quiet open', 'aria-current': conversation && conversation.id === c.id ? 'true' : null,
        title: fmtTime(c.updated_at), onclick: () => openConversation(c.id), text: c.title || '…' }),
      h('button', { type: 'button', class: 'quiet delete', 'aria-label': `${t('ask.delete')}: ${c.title}`, title: t('ask.delete'),
        onclick: async () => {
          try { await api(`/api/v1/conversations/${c.id}`, { method: 'DELETE' }); } catch (e) { toast(e.message); return; }
          if (conversation && conversation.id === c.id) conversation = null;
          render();
        }, text: '✕' }))));
  }).catch((e) => history.replaceChildren(errorBox(e)));
}

async function openConversation(id) {
  try {
    const c = await api(`/api/v1/conversations/${id}`);
    conversation = { id: c.id, turns: c.turns.map((x) => ({ q: x.question, answer: x.answer || '', withheld: x.withheld,
      citations: x.citations, model: x.model, decision: x.decision, audit_id: x.audit_id })) };
    render();
  } catch (e) { toast(e.message); }
}

// Saves the conversation on the server (answers that failed are not kept;
// a withheld answer stays withheld).
async function saveConversation(conv) {
  const turns = conv.turns.filter((x) => !x.pending && !x.error).map((x) => ({
    question: x.q, answer: x.withheld ? '' : x.answer,
    citations: x.withheld ? [] : (x.citations || []).map((c) => ({ n: c.n, doc_id: c.doc_id, chunk_id: c.chunk_id })),
    model: x.model || '', decision: x.decision || '', audit_id: x.audit_id ?? null,
  }));
  if (!turns.length) return;
  try {
    if (conv.id) await api(`/api/v1/conversations/${conv.id}`, { method: 'PUT', json: { turns } });
    else conv.id = (await api('/api/v1/conversations', { method: 'POST', json: { turns } })).id;
    refreshHistory();
  } catch (e) { toast(e.message); }
}

function redrawThread() {
  const thread = $('#thread');
  if (thread) thread.replaceChildren(...conversation.turns.map(turnNode));
}

// Streams an answer (server-sent events over a POST) into the thread.
async function ask(question, replace) {
  const conv = conversation;
  const turn = { q: question, pending: true, partial: '' };
  if (replace !== undefined) conv.turns[replace] = turn; else conv.turns.push(turn);
  redrawThread();
  try {
    const r = await fetch('/api/v1/ask', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Twake-UI': '1', Accept: 'text/event-stream' },
      body: JSON.stringify({ question, stream: true }),
    });
    if (r.status === 401) { me = null; render(); return; }
    if (!r.ok) {
      const d = await r.json().catch(() => null);
      throw new Error((d && d.error && d.error.message) || r.statusText);
    }
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).replace(/^ /, '');
        }
        if (!data) continue;
        const d = JSON.parse(data);
        if (event === 'sources') { turn.sources = d.sources.map((x, i) => ({ ...x, n: i + 1 })); redrawThread(); }
        else if (event === 'text') { turn.partial += d.text; redrawThread(); }
        else if (event === 'done') Object.assign(turn, { pending: false, answer: d.answer, citations: d.citations, model: d.model, decision: d.decision, audit_id: d.audit_id, found: d.found });
        else if (event === 'error') Object.assign(turn, { pending: false, error: (d.error && d.error.message) || 'error' });
      }
    }
    if (turn.pending) Object.assign(turn, { pending: false, error: t('err.network') });
  } catch (e) {
    Object.assign(turn, { pending: false, error: e.message });
  }
  redrawThread();
  await saveConversation(conv);
}

// ---------- source panel ----------

async function openSource(docId, chunkId) {
  const aside = $('#source');
  const body = $('#source-body');
  aside.hidden = false;
  $('#source-title').textContent = '…';
  body.replaceChildren();
  try {
    const d = await api(`/api/v1/documents/${docId}`);
    $('#source-title').textContent = d.title || d.path;
    const rows = [];
    if (d.author) rows.push([t('source.from'), d.author]);
    if (d.recipients && d.recipients.length) rows.push([t('source.to'), d.recipients.join(', ')]);
    if (d.date) rows.push([t('source.date'), d.date]);
    if (d.kind === 'mail') rows.push([t('source.subject'), d.title]);
    if (d.message_id) rows.push(['Message-ID', d.message_id]);
    rows.push([t('source.path'), d.path]);
    body.append(h('p', {}, h('span', { class: 'badge', text: d.kind })),
      h('dl', { class: 'headers' }, rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])));
    if (d.context && d.context.length) {
      const before = d.context.filter((m) => (m.date || '') < (d.date || '') || ((m.date || '') === (d.date || '') && m.doc_id < d.doc_id));
      const after = d.context.filter((m) => !before.includes(m));
      const msg = (m, hit) => h('div', { class: `passage${hit ? ' hit' : ''}` },
        h('span', { class: 'loc', text: `${m.author || ''} · ${m.date || ''}` }), h('span', { class: 'text', text: m.text }));
      body.append(h('h3', { text: t('source.context') }), ...before.map((m) => msg(m, false)),
        msg({ author: d.author, date: d.date, text: d.body }, true), ...after.map((m) => msg(m, false)));
    } else {
      body.append(h('h3', { text: t('source.passages') }), ...d.passages.map((p) => h('div', {
        class: `passage${p.chunk_id === chunkId ? ' hit' : ''}`, id: `chunk-${p.chunk_id}`, tabindex: p.chunk_id === chunkId ? '-1' : null,
      }, p.locator ? h('span', { class: 'loc', text: p.locator }) : null, h('span', { class: 'text', text: p.text }))));
    }
    const hit = body.querySelector('.passage.hit');
    if (hit) { hit.scrollIntoView({ block: 'center' }); hit.focus({ preventScroll: true }); }
  } catch (e) {
    $('#source-title').textContent = '';
    body.replaceChildren(errorBox(e));
  }
}

function closeSource() { $('#source').hidden = true; }

// ---------- tools ----------

const TOOLS = ['thread', 'room', 'minutes', 'draft', 'translate', 'triage', 'brief'];
let tool = 'thread';

function field(id, labelKey, input) {
  input.id = id;
  return h('div', {}, h('label', { for: id, text: t(labelKey) }), input);
}
const LANGS = ['fr', 'en', 'de', 'es', 'it'];
const select = (opts, first) => h('select', {}, first ? h('option', { value: '', text: first }) : null, opts.map((o) => h('option', { value: o, text: o })));

function list(titleKey, items, line) {
  if (!items || !items.length) return null;
  return [h('h3', { text: t(titleKey) }), h('ul', {}, items.map((x) => h('li', {}, line(x))))];
}

function citeLabel(n) { return n ? ` [${n}]` : ''; }

function toCsv(items) {
  const q = (s) => `"${String(s ?? '').replaceAll('"', '""')}"`;
  return ['owner,task,due,cue,time', ...items.map((a) => [a.owner, a.task, a.due, a.source && a.source.cue, a.source && a.source.time].map(q).join(','))].join('\r\n') + '\r\n';
}

function toIcs(items, title) {
  const esc = (s) => String(s ?? '').replace(/[\\;,]/g, (c) => `\\${c}`).replace(/\n/g, '\\n');
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const out = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//TwakeAI//minutes//EN'];
  items.forEach((a, i) => {
    out.push('BEGIN:VTODO', `UID:${stamp}-${i}@twake-ai`, `DTSTAMP:${stamp}`, `SUMMARY:${esc(a.task)}`,
      `DESCRIPTION:${esc(`${a.owner || ''} — ${title || ''}`)}`);
    if (a.due) out.push(`DUE;VALUE=DATE:${a.due.replaceAll('-', '')}`);
    out.push('END:VTODO');
  });
  out.push('END:VCALENDAR');
  return out.join('\r\n') + '\r\n';
}

function renderResult(kind, r) {
  const out = [];
  if (r.summary) out.push(h('h3', { text: t('r.summary') }), h('p', { text: r.summary }));
  if (kind === 'minutes') {
    out.push(list('r.decisions', r.decisions, (d) => `${d.decision}${d.source ? ` (cue ${d.source.cue}, ${d.source.time})` : ''}`));
    const items = r.action_items || [];
    out.push(h('h3', { text: t('r.actions') }));
    out.push(h('div', { class: 'table-wrap' }, h('table', { id: 'actions' },
      h('thead', {}, h('tr', {}, ['r.owner', 'r.task', 'r.due', 'r.source'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      h('tbody', {}, items.map((a) => h('tr', {}, h('td', { text: a.owner || '' }), h('td', { text: a.task }),
        h('td', { text: a.due || a.due_text || '' }), h('td', { text: a.source ? `cue ${a.source.cue}, ${a.source.time}` : '' })))))));
    out.push(h('div', { class: 'row' },
      h('button', { type: 'button', class: 'quiet', id: 'export-csv', onclick: () => download('action-items.csv', 'text/csv', toCsv(items)), text: t('r.csv') }),
      h('button', { type: 'button', class: 'quiet', id: 'export-ics', onclick: () => download('action-items.ics', 'text/calendar', toIcs(items, r.title)), text: t('r.ics') })));
  }
  if (kind === 'thread') {
    out.push(list('r.asked', r.asked, (a) => `${a.who}: ${a.what}${citeLabel(a.message)}`));
    out.push(list('r.decided', r.decided, (a) => `${a.what}${citeLabel(a.message)}`));
    out.push(list('r.open', r.open, (a) => `${a.what}${a.due ? ` (${a.due})` : ''}${citeLabel(a.message)}`));
  }
  if (kind === 'room') {
    out.push(list('r.mentions', r.mentions, (m) => `${m.from} · ${m.date}: ${m.text}`));
    for (const topic of r.topics || []) {
      out.push(h('h3', { text: topic.topic }), h('ul', {}, (topic.points || []).map((p) => h('li', { text: `${p.who}: ${p.what}${citeLabel(p.message)}` }))));
    }
  }
  if (kind === 'thread' || kind === 'room' || kind === 'draft') {
    out.push(list('r.messages', r.messages, (m) => `[${m.n}] ${m.from}, ${m.date} ${m.message_id || ''}`));
  }
  if (kind === 'draft') {
    out.push(h('p', { class: 'muted', text: t('r.never_sent') }),
      h('dl', { class: 'headers' }, h('dt', { text: t('source.to') }), h('dd', { text: r.to || '' }), h('dt', { text: t('source.subject') }), h('dd', { text: r.subject || '' })),
      h('div', { class: 'bubble', id: 'draft-body', text: r.body }));
    if (r.unsupported && r.unsupported.length) out.push(h('p', { class: 'error', text: `${t('r.unsupported')} ${r.unsupported.join(', ')}` }));
  }
  if (kind === 'translate') {
    out.push(h('div', { class: 'bubble', id: 'rewritten', text: r.text }));
    if (r.missing && r.missing.length) out.push(h('p', { class: 'error', text: `${t('r.missing')} ${r.missing.join(', ')}` }));
  }
  if (kind === 'triage') {
    const threads = r.threads || r.items || [];
    out.push(threads.length ? h('ul', {}, threads.map((x) => h('li', {},
      h('strong', { text: x.subject || '' }), ` — ${x.gist || ''} `,
      x.needs_reply ? h('span', { class: 'badge warn', text: t('r.reply') }) : null, ' ',
      x.urgency ? h('span', { class: 'badge', text: `${t('r.urgency')}: ${x.urgency}` }) : null,
      x.deadlines && x.deadlines.length ? ` ${t('r.deadlines')}: ${x.deadlines.map((d) => d.date || d.due || d.text || '').join(', ')}` : ''))) : h('p', { text: t('r.nothing') }));
  }
  if (kind === 'brief') {
    if (r.mail) out.push(renderResult('triage', r.mail));
    out.push(list('r.topics', r.rooms, (x) => `${x.room}: ${x.new_messages} (${(x.authors || []).join(', ')})`));
    out.push(list('tools.minutes', r.meetings, (x) => `${x.title} ${x.date || ''}: ${(x.mentions || []).map((m) => `${m.time} ${m.text}`).join(' · ')}`));
  }
  if (r.model) out.push(h('p', { class: 'muted', text: t('ask.model', { model: r.model }) + (r.audit_id ? ` · ${t('ask.audit', { id: r.audit_id })}` : '') }));
  const flat = out.flat(3).filter(Boolean);
  return flat.length ? flat : [h('p', { text: t('r.nothing') })];
}

async function toolsView(main) {
  main.append(h('h1', { text: t('nav.tools') }));
  const tabs = h('div', { class: 'tabs', role: 'tablist' }, TOOLS.map((k) => h('button', {
    type: 'button', role: 'tab', id: `tab-${k}`, 'aria-selected': String(k === tool), 'aria-controls': 'tool-panel',
    onclick: () => { tool = k; render(); }, text: t(`tools.${k}`) })));
  const result = h('div', { id: 'tool-result', 'aria-live': 'polite' });
  const panel = h('form', { id: 'tool-panel', role: 'tabpanel', 'aria-labelledby': `tab-${tool}` });
  let build;
  if (tool === 'thread') {
    const id = h('input', { class: 'grow', required: true });
    panel.append(field('f-mid', 'f.message_id', id));
    build = () => ['/api/v1/summarize/thread', { message_id: id.value }];
  } else if (tool === 'room') {
    const room = h('input', { required: true });
    const since = h('input', { value: '7d' });
    panel.append(field('f-room', 'f.room', room), field('f-since', 'f.since', since));
    build = () => ['/api/v1/summarize/room', { room: room.value, since: since.value || undefined }];
  } else if (tool === 'minutes') {
    const path = h('select', { required: true });
    api('/api/v1/files').then((d) => {
      for (const f of d.files.filter((x) => ['vtt', 'srt', 'webvtt'].includes(x.format.toLowerCase()) || /\.(vtt|srt)$/i.test(x.path))) {
        path.append(h('option', { value: f.path, text: f.title || f.path }));
      }
    }).catch((e) => result.replaceChildren(errorBox(e)));
    const date = h('input', { placeholder: 'YYYY-MM-DD' });
    panel.append(field('f-path', 'f.transcript', path), field('f-date', 'f.date', date));
    build = () => ['/api/v1/minutes', { path: path.value, date: date.value || undefined }];
  } else if (tool === 'draft') {
    const id = h('input', { class: 'grow', required: true });
    const l = select(LANGS, t('f.auto'));
    const tone = select(['neutral', 'formal', 'friendly']);
    const points = h('textarea', { rows: 3 });
    panel.append(field('f-mid', 'f.message_id', id), h('div', { class: 'row' }, field('f-lang', 'f.lang', l), field('f-tone', 'f.tone', tone)), field('f-points', 'f.points', points));
    build = () => ['/api/v1/draft-reply', { message_id: id.value, lang: l.value || undefined, tone: tone.value,
      points: points.value.split('\n').map((s) => s.trim()).filter(Boolean) }];
  } else if (tool === 'translate') {
    const text = h('textarea', { rows: 6, required: true });
    const to = select(LANGS, t('f.auto'));
    const tone = select(['formal', 'neutral', 'friendly'], '—');
    panel.append(field('f-text', 'f.text', text), h('div', { class: 'row' }, field('f-to', 'f.to', to), field('f-tone', 'f.tone', tone)));
    build = () => ['/api/v1/rewrite', { text: text.value, to: to.value || undefined, tone: tone.value || undefined }];
  } else if (tool === 'triage') {
    const since = h('input', { placeholder: 'YYYY-MM-DD' });
    panel.append(field('f-since', 'f.triage_since', since));
    build = () => ['/api/v1/triage', { since: since.value || undefined }];
  } else {
    const since = h('input', { placeholder: '24h' });
    panel.append(field('f-since', 'f.brief_since', since));
    build = () => ['/api/v1/brief', { since: since.value || undefined }];
  }
  const run = h('button', { type: 'submit', id: 'run', text: t('run') });
  panel.append(h('p', {}, run));
  const kind = tool;
  panel.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const [path, body] = build();
    run.disabled = true;
    result.replaceChildren(h('p', { 'aria-busy': 'true', text: t('working') }));
    try { result.replaceChildren(...renderResult(kind, await api(path, { method: 'POST', json: body }))); }
    catch (e) { result.replaceChildren(errorBox(e)); }
    run.disabled = false;
  });
  main.append(tabs, h('div', { class: 'card' }, panel), result);
}

// ---------- sources ----------

async function upload(files, readers, status) {
  const form = new FormData();
  for (const f of files) form.append('file', f, f.name);
  if (readers.trim()) form.append('readers', readers.trim());
  const bar = h('progress', { max: files.length, value: 0 });
  const label = h('span', { text: t('src.uploading') });
  status.replaceChildren(h('div', { class: 'card', id: 'job' }, label, bar));
  let job;
  try { job = await api('/api/v1/files', { method: 'POST', form }); } catch (e) { status.replaceChildren(errorBox(e)); return; }
  for (;;) {
    bar.max = job.files_total;
    bar.value = job.files_done;
    label.textContent = t('src.indexing', { done: job.files_done, total: job.files_total });
    if (job.state !== 'running') break;
    await new Promise((r) => setTimeout(r, 500));
    try { job = await api(`/api/v1/jobs/${job.id}`); } catch (e) { status.replaceChildren(errorBox(e)); return; }
  }
  label.textContent = job.state === 'failed' ? `${t('src.failed')}: ${job.error}` : t('src.done', job);
  label.dataset.state = job.state;
  for (const f of job.failed) status.firstChild.append(h('p', { class: 'error', text: `${f.path}: ${f.reason}` }));
  refreshFiles();
}

let filesCache = [];
function drawFiles() {
  const box = $('#files');
  if (!box) return;
  const q = ($('#filter') && $('#filter').value.toLowerCase()) || '';
  const fmt = ($('#format') && $('#format').value) || '';
  const rows = filesCache.filter((f) => (!fmt || f.format === fmt) && (!q || `${f.title} ${f.path}`.toLowerCase().includes(q)));
  box.replaceChildren(rows.length ? h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['src.title', 'src.format', 'src.docs', 'src.ingested', 'src.delete'].map((k) => h('th', { scope: 'col', text: t(k) })))),
    h('tbody', {}, rows.map((f) => h('tr', {},
      h('td', {}, h('span', { text: f.title || f.path }), h('br'), h('span', { class: 'muted', text: f.path })),
      h('td', { text: f.format }), h('td', { text: f.documents }), h('td', { text: fmtTime(f.ingested_at) }),
      h('td', {}, f.path.includes(`/uploads/${me.user}/`) ? h('button', { type: 'button', class: 'quiet', onclick: async () => {
        try { await api(`/api/v1/files?path=${encodeURIComponent(f.path)}`, { method: 'DELETE' }); refreshFiles(); } catch (e) { toast(e.message); }
      }, text: t('src.delete') }) : null)))))) : h('p', { text: t('src.nofiles') }));
  const sel = $('#format');
  if (sel && sel.options.length <= 1) for (const f of [...new Set(filesCache.map((x) => x.format))].sort()) sel.append(h('option', { value: f, text: f }));
}
async function refreshFiles() {
  try { filesCache = (await api('/api/v1/files')).files; drawFiles(); } catch (e) { const b = $('#files'); if (b) b.replaceChildren(errorBox(e)); }
}

async function refreshConnectors() {
  const box = $('#connectors');
  if (!box) return;
  try {
    const { sources } = await api('/api/v1/sources');
    box.replaceChildren(sources.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['src.name', 'src.kind', 'src.status', 'src.items', 'src.lag'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      h('tbody', {}, sources.map((s) => h('tr', {},
        h('td', {}, h('strong', { text: s.name }), h('br'), h('span', { class: 'muted', text: s.location })),
        h('td', { text: s.kind }),
        h('td', {}, h('span', { class: `badge ${s.status === 'ok' ? 'ok' : s.status === 'failing' ? 'bad' : 'warn'}`, text: s.status }),
          s.last_error ? h('div', { class: 'error', text: s.last_error }) : null,
          s.syncing ? h('div', {}, h('span', { class: 'muted', text: t('src.syncing', { place: s.syncing.place || '', done: s.syncing.items_done, total: s.syncing.items_total }) }),
            h('progress', { max: Math.max(1, s.syncing.items_total), value: s.syncing.items_done })) : null),
        h('td', { text: s.items }), h('td', { text: fmtTime(s.last_success) })))))) : h('p', { class: 'muted', text: t('src.noconn') }));
  } catch (e) { box.replaceChildren(errorBox(e)); }
}

function sourcesView(main) {
  const status = h('div', { id: 'upload-status', 'aria-live': 'polite' });
  const readers = h('input', { class: 'grow', id: 'readers' });
  const input = h('input', { type: 'file', id: 'file-input', multiple: true, hidden: true, onchange: () => { if (input.files.length) upload([...input.files], readers.value, status); } });
  const drop = h('div', { class: 'drop', id: 'drop' }, t('src.drop'), ' ',
    h('button', { type: 'button', class: 'quiet', onclick: () => input.click(), text: t('src.choose') }), input);
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => { ev.preventDefault(); drop.classList.remove('over'); if (ev.dataTransfer.files.length) upload([...ev.dataTransfer.files], readers.value, status); });
  main.append(h('h1', { text: t('nav.sources') }),
    h('h2', { text: t('src.upload') }), drop, h('label', { for: 'readers', text: t('src.readers') }), readers, status,
    h('h2', { text: t('src.connectors') }), h('div', { id: 'connectors' }),
    h('h2', { text: t('src.files') }),
    h('div', { class: 'row' }, h('input', { id: 'filter', type: 'search', placeholder: t('src.filter'), 'aria-label': t('src.filter'), oninput: drawFiles }),
      h('select', { id: 'format', 'aria-label': t('src.format'), onchange: drawFiles }, h('option', { value: '', text: t('src.all') }))),
    h('div', { id: 'files' }));
  refreshFiles();
  refreshConnectors();
  poller = setInterval(refreshConnectors, 3000);
}

// ---------- admin ----------

function table(headKeys, rows) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, headKeys.map((k) => h('th', { scope: 'col', text: t(k) })))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c ?? '')))))));
}

async function section(main, titleKey, load) {
  const box = h('section', { class: 'card', id: `admin-${titleKey.split('.')[1]}` }, h('h2', { text: t(titleKey) }));
  main.append(box);
  try { box.append(...[await load()].flat().filter(Boolean)); } catch (e) { box.append(errorBox(e)); }
}

async function adminView(main) {
  main.append(h('h1', { text: t('nav.admin') }));
  if (!me.admin) { main.append(h('p', { class: 'error', role: 'alert', id: 'forbidden', text: t('admin.forbidden') })); return; }
  await section(main, 'admin.users', async () => {
    const d = await api('/api/v1/admin/users');
    const out = h('div');
    const membership = (m) => `container=${encodeURIComponent(m.container)}&member=${encodeURIComponent(m.member)}&tenant=${encodeURIComponent(m.tenant)}`;
    const container = h('input', { id: 'member-container', placeholder: 'group:NAME', required: true });
    const member = h('input', { id: 'member-member', placeholder: 'name@example.org', required: true });
    const form = h('form', { class: 'row', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api(`/api/v1/admin/memberships?container=${encodeURIComponent(container.value)}&member=${encodeURIComponent(member.value)}`, { method: 'POST' });
        render();
      } catch (e) { out.replaceChildren(errorBox(e)); }
    } }, h('div', {}, h('label', { for: 'member-container', text: t('admin.container') }), container),
    h('div', {}, h('label', { for: 'member-member', text: t('admin.member') }), member),
    h('button', { type: 'submit', id: 'member-add', text: t('admin.add') }));
    return [h('p', { text: d.users.join(', ') }),
      table(['admin.container', 'admin.member', 'admin.tenant', 'admin.remove'], d.memberships.map((m) => [m.container, m.member, m.tenant,
        h('button', { type: 'button', class: 'quiet', 'aria-label': `${t('admin.remove')}: ${m.member} ∈ ${m.container}`, onclick: async () => {
          try { await api(`/api/v1/admin/memberships?${membership(m)}`, { method: 'DELETE' }); render(); } catch (e) { toast(e.message); }
        }, text: t('admin.remove') })])), form, out];
  });
  await section(main, 'admin.keys', async () => {
    const d = await api('/api/v1/admin/keys');
    const out = h('div');
    const who = h('input', { id: 'key-user', placeholder: 'name@example.org', required: true });
    const label = h('input', { id: 'key-label' });
    const form = h('form', { class: 'row', onsubmit: async (ev) => {
      ev.preventDefault();
      try { const k = await api('/api/v1/admin/keys', { method: 'POST', json: { user: who.value, label: label.value } }); out.replaceChildren(h('p', { class: 'card', text: t('admin.newkey', { key: k.key }) })); }
      catch (e) { out.replaceChildren(errorBox(e)); }
    } }, h('div', {}, h('label', { for: 'key-user', text: t('admin.user') }), who), h('div', {}, h('label', { for: 'key-label', text: t('admin.label') }), label),
    h('button', { type: 'submit', text: t('admin.create') }));
    return [table(['admin.user', 'admin.label', 'admin.created', 'src.status', 'admin.revoke'], d.keys.map((k) => [k.user, k.label, fmtTime(k.created_at),
      h('span', { class: `badge ${k.revoked ? 'bad' : 'ok'}`, text: t(k.revoked ? 'admin.revoked' : 'admin.active') }),
      k.revoked ? '' : h('button', { type: 'button', class: 'quiet', onclick: async () => { try { await api(`/api/v1/admin/keys/${k.id}`, { method: 'DELETE' }); render(); } catch (e) { toast(e.message); } }, text: t('admin.revoke') })])), form, out];
  });
  await section(main, 'admin.models', async () => {
    const d = await api('/api/v1/admin/models');
    return [h('p', { class: 'muted', text: `chat: ${d.chat} · embedding: ${d.embedding}` }),
      table(['admin.model', 'admin.where', 'admin.jurisdiction', 'admin.clearance', 'admin.pseudo'], d.models.map((m) => [m.name, m.where, m.jurisdiction, m.clearance, m.pseudonymised_clearance || '—']))];
  });
  await section(main, 'admin.access', async () => {
    const out = h('div');
    const who = h('input', { id: 'report-user', placeholder: 'name@example.org', required: true });
    return [h('form', { class: 'row', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const r = await api(`/api/v1/admin/access?user=${encodeURIComponent(who.value)}`);
        out.replaceChildren(h('p', { text: t('admin.reach', { user: r.user, tenant: r.tenant, n: r.documents }) }),
          table(['admin.sources', 'src.kind', 'admin.level', 'src.docs', 'admin.granted'], r.sources.map((s) => [s.source, s.kind, s.sensitivity, s.documents,
            Object.entries(s.granted_by).map(([k, v]) => `${k}: ${v}`).join('; ')])));
      } catch (e) { out.replaceChildren(errorBox(e)); }
    } }, h('div', {}, h('label', { for: 'report-user', text: t('admin.user') }), who), h('button', { type: 'submit', text: t('admin.report') })), out];
  });
  await section(main, 'admin.audit', async () => {
    const d = await api('/api/v1/admin/audit?limit=50');
    return [h('p', {}, h('span', { id: 'audit-status', class: `badge ${d.verified ? 'ok' : 'bad'}`,
      text: d.verified ? t('admin.verified', { n: d.records_checked }) : t('admin.problems', { n: d.problems.length }) })),
      d.problems.length ? h('ul', {}, d.problems.map((p) => h('li', { class: 'error', text: `#${p.seq}: ${p.what}` }))) : null,
      table(['admin.when', 'admin.user', 'admin.model', 'admin.decision', 'admin.passages'], d.records.map((r) => [fmtTime(r.at), r.user, r.model, r.decision, r.passages.length]))];
  });
  await section(main, 'admin.usage', async () => {
    const d = await api('/api/v1/admin/usage?days=14');
    const totals = d.days.map((x) => Object.entries(x.principals).filter(([p]) => !p.startsWith('group:') && !p.startsWith('key:')).reduce((s, [, u]) => s + u.tokens, 0));
    const max = Math.max(1, ...totals);
    const q = d.quotas;
    return [h('h3', { text: t('admin.tokens') }),
      h('div', { class: 'bars', role: 'img', 'aria-label': d.days.map((x, i) => `${x.day}: ${totals[i]}`).join(', ') },
        totals.map((v, i) => h('div', { class: 'bar', style: `height:${Math.round((100 * v) / max)}%`, title: `${d.days[i].day}: ${v}` }))),
      h('div', { class: 'bars-labels' }, d.days.map((x) => h('span', { text: x.day.slice(5) }))),
      h('h3', { text: t('admin.quotas') }),
      h('p', { text: `${q.tokens_per_day || t('admin.nolimit')} tokens/day · ${q.cost_per_month || t('admin.nolimit')} /month` }),
      q.groups.length ? table(['admin.container', 'admin.tokens', 'admin.quotas'], q.groups.map((g) => [g.group, g.tokens_per_day, g.cost_per_month])) : null];
  });
}

// ---------- shell ----------

function applyStatic() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  $('#lang').textContent = t('lang.other');
}

function route() {
  const r = location.hash.replace(/^#\/?/, '').split('/')[0];
  return ['ask', 'tools', 'sources', 'admin'].includes(r) ? r : 'ask';
}

function render() {
  if (poller) { clearInterval(poller); poller = null; }
  applyStatic();
  const main = $('#main');
  main.replaceChildren();
  main.className = '';
  $('.top').hidden = !me;
  if (!me) { closeSource(); signInView(main); return; }
  $('#user-name').textContent = me.user;
  $('#nav-admin').hidden = !me.admin;
  const r = route();
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === `#/${r}`) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = `${t(`nav.${r}`)} · TwakeAI`;
  ({ ask: askView, tools: toolsView, sources: sourcesView, admin: adminView })[r](main);
}

async function start() {
  try { uiConfig = await (await fetch('/ui/config')).json(); } catch { uiConfig = { oidc: false }; }
  try { me = await api('/api/v1/me'); } catch { me = null; }
  render();
}

document.addEventListener('DOMContentLoaded', () => {
  $('#lang').addEventListener('click', () => { lang = lang === 'fr' ? 'en' : 'fr'; localStorage.setItem('twake.lang', lang); render(); });
  $('#sign-out').addEventListener('click', async () => {
    const r = await api('/ui/logout', { method: 'POST' }).catch(() => null);
    me = null;
    conversation = null;
    if (r && r.end_session) { location.href = r.end_session; return; }
    render();
  });
  $('#source-close').addEventListener('click', closeSource);
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeSource(); });
  window.addEventListener('hashchange', () => { if (!location.hash.startsWith('#/source/')) render(); });
  start();
});
