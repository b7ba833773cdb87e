// TwakeAI web UI: one page, no framework, no build step. It calls the same
// native API as any client (/api/v1), signed in by an HttpOnly cookie the
// server sets; every text from the server is put in the page as text
// (never as HTML): even the answers' Markdown is built as DOM from text.
// Addresses: #/ask, #/c/ID (a conversation), #/search?q=…, #/tools/NAME,
// #/sources, #/admin.
'use strict';

const I18N = {
  en: {
    skip: 'Skip to content', 'nav.ask': 'Ask', 'nav.search': 'Search', 'nav.tools': 'Summaries and tools', 'nav.sources': 'Sources', 'nav.admin': 'Admin',
    'nav.c': 'Ask',
    signout: 'Sign out', close: 'Close', cancel: 'Cancel', details: 'Details', 'signin.title': 'Sign in to TwakeAI', 'signin.key': 'API key',
    'signin.key.help': 'Your administrator gives you a personal key.', 'signin.go': 'Sign in',
    'signin.oidc': 'Sign in with your organisation', 'signin.or': 'or', 'ask.title': 'Ask your workspace',
    'ask.placeholder': 'Ask a question about your mail, rooms, files and meetings…', 'ask.label': 'Your question', 'ask.send': 'Ask', 'ask.stop': 'Stop',
    'ask.new': 'New conversation', 'ask.rename': 'Rename', 'ask.rename.label': 'Name of the conversation', 'save': 'Save', 'ask.history': 'Conversations', 'ask.history.count': 'Conversations ({n})', 'ask.history.filter': 'Find a conversation',
    'ask.history.none': 'No conversation matches.', 'ask.delete': 'Delete the conversation',
    'ask.withheld': 'This answer cited a source you can no longer open: it is not shown again.', 'ask.thinking': 'Searching your sources…',
    'ask.copy': 'Copy with sources', 'ask.copied': 'Copied, with its sources', 'ask.regenerate': 'Ask again', 'ask.edit': 'Edit the question', 'ask.sources': 'Sources',
    'ask.reading': 'Reading these passages…', 'ask.writing': 'Writing the answer…', 'ask.near': 'The closest passages',
    'ask.model': 'Written by the model {model}', 'ask.policy': 'Why this model:', 'ask.audit': 'Signed provenance record {id}',
    'ask.stopped': 'Stopped: this answer is incomplete.', 'ask.ready': 'The answer is ready.', 'ask.status.stopped': 'Stopped.',
    'ask.nothing': 'Nothing in your sources answers this. Look at the closest passages, rephrase the question, or search with filters.',
    'ask.search': 'Search your sources', 'ask.welcome': 'Ask anything about your mail, chat rooms, files and meetings. Every answer cites its sources, and you only ever see what you can open yourself.',
    'ask.try': 'For example:', 'ask.s1': 'What was decided at the last meeting?', 'ask.s2': 'Which deadlines are coming up?', 'ask.s3': 'Who is working on what this month?',
    'ask.editing': 'Editing a question: asking replaces its answer.',
    'search.title': 'Search your sources', 'search.q': 'Words to look for', 'search.kind': 'Kind', 'search.any': 'Any kind', 'search.person': 'Person (the author’s name or address)',
    'search.since': 'Dated from', 'search.until': 'Dated until', 'search.go': 'Search', 'search.none': 'Nothing matches. Try other words, or fewer filters.',
    'search.count': '{n} results', 'search.one': '1 result', 'search.ask': 'Ask about this',
    'kind.mail': 'Mail', 'kind.chat': 'Chat', 'kind.document': 'Document', 'kind.transcript': 'Meeting', 'kind.event': 'Event',
    'level.public': 'Public', 'level.internal': 'Internal', 'level.confidential': 'Confidential', 'level.secret': 'Secret',
    'source.from': 'From', 'source.to': 'To', 'source.date': 'Date', 'source.subject': 'Subject', 'source.path': 'File',
    'source.context': 'In the room', 'source.passages': 'Passages', 'source.ref': 'Reference', 'tools.thread': 'Thread summary', 'tools.room': 'Room catch-up',
    'tools.minutes': 'Meeting minutes', 'tools.draft': 'Reply draft', 'tools.translate': 'Translate or rewrite',
    'tools.brief': 'Daily brief', 'tools.triage': 'Inbox triage', 'tools.label': 'Tools',
    'f.thread': 'Mail thread', 'f.thread.none': 'No mail thread you can read yet.', 'f.thread.pick': 'Choose a thread…', 'f.messages': '{n} messages',
    'f.room': 'Room', 'f.room.none': 'No chat room you can read yet.', 'f.since': 'Since',
    'since.last': 'What I have not read', 'since.24h': 'The last 24 hours', 'since.7d': 'The last 7 days', 'since.30d': 'The last 30 days',
    'f.transcript': 'Meeting', 'f.transcript.none': 'No meeting transcript you can read yet: add a .vtt or .srt file on the Sources page.',
    'f.date': 'Meeting date (optional)', 'f.lang': 'Language', 'f.tone': 'Tone',
    'f.points': 'Points to make (one a line)', 'f.text': 'Text', 'f.to': 'To language', 'f.auto': '(as the text)',
    'f.brief_since': 'Since (default: yesterday)', 'f.triage_since': 'Since (default: the last 7 days)', run: 'Run', working: 'Working… {s} s', 'working.tokens': 'Working… {s} s, {n} tokens written',
    'tone.neutral': 'Neutral', 'tone.formal': 'Formal', 'tone.friendly': 'Friendly', 'tone.keep': '(keep)',
    'lang.fr': 'French', 'lang.en': 'English', 'lang.de': 'German', 'lang.es': 'Spanish', 'lang.it': 'Italian',
    'r.summary': 'Summary', 'r.decisions': 'Decisions', 'r.actions': 'Action items', 'r.owner': 'Owner', 'r.task': 'Task', 'r.due': 'Due',
    'r.source': 'Source', 'r.asked': 'Asked', 'r.decided': 'Decided', 'r.open': 'Still open', 'r.messages': 'Messages',
    'r.mentions': 'Mentions of you', 'r.topics': 'Rooms', 'r.csv': 'Export CSV', 'r.ics': 'Export ICS', 'r.never_sent': 'A draft: TwakeAI never sends it.',
    'r.unsupported': 'Not found in the thread or your points (check them):', 'r.missing': 'Lost in the result (check them):',
    'r.nothing': 'Nothing to show.', 'r.reply': 'needs your reply', 'r.urgency': 'urgency', 'r.deadlines': 'deadlines', 'r.cancelled': 'Cancelled.',
    'src.upload': 'Add files', 'src.drop': 'Drop files here, or', 'src.choose': 'choose files', 'src.readers': 'Also readable by (groups you belong to, as group:NAME, comma-separated; optional)',
    'src.uploading': 'Uploading…', 'src.indexing': 'Indexing {done} of {total}', 'src.done': 'Indexed: {new} new, {updated} updated, {unchanged} unchanged',
    'src.failed': 'Failed', 'src.connectors': 'Connected sources', 'src.noconn': 'No connected source yet. Your administrator connects mailboxes, chat rooms and shares.',
    'src.files': 'Documents', 'src.filter': 'Filter documents', 'src.all': 'All formats', 'src.nofiles': 'No document yet. Add files above.', 'src.nomatch': 'No document matches the filter.',
    'src.title': 'Title', 'src.format': 'Format',
    'src.docs': 'Items', 'src.ingested': 'Indexed', 'src.delete': 'Delete', 'src.name': 'Name', 'src.kind': 'Kind', 'src.status': 'Status',
    'src.items': 'Items', 'src.lag': 'Last success', 'src.syncing': 'Syncing {place}: {done} of {total}', 'src.yours': 'Your upload',
    'status.ok': 'up to date', 'status.failing': 'failing', 'status.never': 'not synced yet',
    'confirm.conversation': 'Delete the conversation “{title}”? It cannot be brought back.', 'confirm.delete': 'Delete',
    'confirm.file': 'Delete “{title}”? It leaves search and answers at once.', 'confirm.key': 'Revoke the key “{label}” of {user}? Everything signed in with it stops at once.',
    'confirm.revoke': 'Revoke', 'confirm.member': 'Remove {member} from {container}? They lose what it shares with them.', 'confirm.remove': 'Remove',
    'deleted': 'Deleted.',
    'admin.forbidden': 'The administration pages are for administrators only.', 'admin.users': 'Users and groups', 'admin.keys': 'API keys',
    'admin.models': 'Models and clearances', 'admin.access': 'Access report', 'admin.audit': 'Provenance log', 'admin.usage': 'Usage and quotas',
    'admin.user': 'User (e-mail address)', 'admin.container': 'Group, room or share', 'admin.member': 'Member', 'admin.tenant': 'Tenant', 'admin.label': 'Label', 'admin.add': 'Add the member', 'admin.remove': 'Remove',
    'admin.created': 'Created', 'admin.revoked': 'revoked', 'admin.active': 'active', 'admin.revoke': 'Revoke', 'admin.create': 'Create a key', 'admin.id': 'Key', 'admin.lastused': 'Last used', 'admin.never': 'never',
    'admin.newkey': 'New key for {user}. It is shown only now: copy it and give it to them.', 'admin.copykey': 'Copy the key', 'admin.copied': 'Key copied',
    'admin.report': 'Report', 'admin.verified': 'Chain and signatures verified over {n} records',
    'admin.problems': '{n} problems found', 'admin.when': 'When', 'admin.model': 'Model', 'admin.decision': 'Decision', 'admin.passages': 'Passages',
    'admin.where': 'Where', 'admin.jurisdiction': 'Jurisdiction', 'admin.clearance': 'Clearance', 'admin.pseudo': 'Pseudonymised up to',
    'admin.tokens': 'Tokens per day (all people)', 'admin.total': '{n} tokens over {d} days', 'admin.quotas': 'Quotas', 'admin.nolimit': 'no limit', 'admin.reach': '{user} (tenant {tenant}) can read {n} documents',
    'admin.sources': 'Source', 'admin.level': 'Level', 'admin.granted': 'Granted by', 'admin.perday': 'tokens a day', 'admin.permonth': 'a month',
    'fb.up': 'Helpful', 'fb.down': 'Not helpful', 'fb.comment': 'What was good, wrong or missing? (optional)', 'fb.send': 'Send', 'fb.thanks': 'Thank you: your opinion is recorded.',
    'admin.feedback': 'Answer ratings', 'admin.rating': 'Rating', 'admin.comment': 'Comment', 'admin.counts': '{up} helpful · {down} not helpful',
    'lang.other': 'FR', 'lang.switch': 'FR — français', 'err.network': 'The server cannot be reached.',
  },
  fr: {
    skip: 'Aller au contenu', 'nav.ask': 'Demander', 'nav.search': 'Rechercher', 'nav.tools': 'Résumés et outils', 'nav.sources': 'Sources', 'nav.admin': 'Administration',
    'nav.c': 'Demander',
    signout: 'Se déconnecter', close: 'Fermer', cancel: 'Annuler', details: 'Détails', 'signin.title': 'Connexion à TwakeAI', 'signin.key': 'Clé d’API',
    'signin.key.help': 'Votre administrateur vous remet une clé personnelle.', 'signin.go': 'Se connecter',
    'signin.oidc': 'Se connecter avec votre organisation', 'signin.or': 'ou', 'ask.title': 'Interroger votre espace',
    'ask.placeholder': 'Posez une question sur vos mails, salons, fichiers et réunions…', 'ask.label': 'Votre question', 'ask.send': 'Demander', 'ask.stop': 'Arrêter',
    'ask.new': 'Nouvelle conversation', 'ask.rename': 'Renommer', 'ask.rename.label': 'Nom de la conversation', 'save': 'Enregistrer', 'ask.history': 'Conversations', 'ask.history.count': 'Conversations ({n})', 'ask.history.filter': 'Retrouver une conversation',
    'ask.history.none': 'Aucune conversation ne correspond.', 'ask.delete': 'Supprimer la conversation',
    'ask.withheld': 'Cette réponse citait une source que vous ne pouvez plus ouvrir : elle n’est plus affichée.', 'ask.thinking': 'Recherche dans vos sources…',
    'ask.copy': 'Copier avec les sources', 'ask.copied': 'Copié, avec ses sources', 'ask.regenerate': 'Redemander', 'ask.edit': 'Modifier la question', 'ask.sources': 'Sources',
    'ask.reading': 'Lecture de ces passages…', 'ask.writing': 'Rédaction de la réponse…', 'ask.near': 'Les passages les plus proches',
    'ask.model': 'Rédigé par le modèle {model}', 'ask.policy': 'Pourquoi ce modèle :', 'ask.audit': 'Trace de provenance signée n° {id}',
    'ask.stopped': 'Arrêtée : cette réponse est incomplète.', 'ask.ready': 'La réponse est prête.', 'ask.status.stopped': 'Arrêté.',
    'ask.nothing': 'Rien dans vos sources ne répond à cela. Regardez les passages les plus proches, reformulez, ou cherchez avec des filtres.',
    'ask.search': 'Rechercher dans vos sources', 'ask.welcome': 'Posez vos questions sur vos mails, salons, fichiers et réunions. Chaque réponse cite ses sources, et vous ne voyez jamais que ce que vous pouvez ouvrir vous-même.',
    'ask.try': 'Par exemple :', 'ask.s1': 'Qu’a-t-on décidé à la dernière réunion ?', 'ask.s2': 'Quelles sont les prochaines échéances ?', 'ask.s3': 'Qui travaille sur quoi ce mois-ci ?',
    'ask.editing': 'Modification d’une question : la demande remplace sa réponse.',
    'search.title': 'Rechercher dans vos sources', 'search.q': 'Mots à chercher', 'search.kind': 'Type', 'search.any': 'Tous les types', 'search.person': 'Personne (nom ou adresse de l’auteur)',
    'search.since': 'Depuis le', 'search.until': 'Jusqu’au', 'search.go': 'Rechercher', 'search.none': 'Aucun résultat. Essayez d’autres mots, ou moins de filtres.',
    'search.count': '{n} résultats', 'search.one': '1 résultat', 'search.ask': 'Poser une question à ce sujet',
    'kind.mail': 'Mail', 'kind.chat': 'Discussion', 'kind.document': 'Document', 'kind.transcript': 'Réunion', 'kind.event': 'Événement',
    'level.public': 'Public', 'level.internal': 'Interne', 'level.confidential': 'Confidentiel', 'level.secret': 'Secret',
    'source.from': 'De', 'source.to': 'À', 'source.date': 'Date', 'source.subject': 'Objet', 'source.path': 'Fichier',
    'source.context': 'Dans le salon', 'source.passages': 'Passages', 'source.ref': 'Référence', 'tools.thread': 'Résumé de fil', 'tools.room': 'Rattrapage de salon',
    'tools.minutes': 'Compte rendu de réunion', 'tools.draft': 'Brouillon de réponse', 'tools.translate': 'Traduire ou reformuler',
    'tools.brief': 'Point du jour', 'tools.triage': 'Tri de la boîte', 'tools.label': 'Outils',
    'f.thread': 'Fil de mails', 'f.thread.none': 'Aucun fil de mails lisible pour l’instant.', 'f.thread.pick': 'Choisissez un fil…', 'f.messages': '{n} messages',
    'f.room': 'Salon', 'f.room.none': 'Aucun salon lisible pour l’instant.', 'f.since': 'Depuis',
    'since.last': 'Ce que je n’ai pas lu', 'since.24h': 'Les dernières 24 heures', 'since.7d': 'Les 7 derniers jours', 'since.30d': 'Les 30 derniers jours',
    'f.transcript': 'Réunion', 'f.transcript.none': 'Aucune transcription de réunion lisible : ajoutez un fichier .vtt ou .srt sur la page Sources.',
    'f.date': 'Date de la réunion (facultatif)', 'f.lang': 'Langue', 'f.tone': 'Ton',
    'f.points': 'Points à faire passer (un par ligne)', 'f.text': 'Texte', 'f.to': 'Vers la langue', 'f.auto': '(celle du texte)',
    'f.brief_since': 'Depuis (par défaut : hier)', 'f.triage_since': 'Depuis (par défaut : les 7 derniers jours)', run: 'Lancer', working: 'En cours… {s} s', 'working.tokens': 'En cours… {s} s, {n} jetons écrits',
    'tone.neutral': 'Neutre', 'tone.formal': 'Soutenu', 'tone.friendly': 'Amical', 'tone.keep': '(inchangé)',
    'lang.fr': 'Français', 'lang.en': 'Anglais', 'lang.de': 'Allemand', 'lang.es': 'Espagnol', 'lang.it': 'Italien',
    'r.summary': 'Résumé', 'r.decisions': 'Décisions', 'r.actions': 'Actions', 'r.owner': 'Responsable', 'r.task': 'Tâche', 'r.due': 'Échéance',
    'r.source': 'Source', 'r.asked': 'Demandes', 'r.decided': 'Décisions', 'r.open': 'Encore ouvert', 'r.messages': 'Messages',
    'r.mentions': 'Vous êtes mentionné', 'r.topics': 'Salons', 'r.csv': 'Exporter en CSV', 'r.ics': 'Exporter en ICS', 'r.never_sent': 'Un brouillon : TwakeAI ne l’envoie jamais.',
    'r.unsupported': 'Absent du fil et de vos points (à vérifier) :', 'r.missing': 'Perdu dans le résultat (à vérifier) :',
    'r.nothing': 'Rien à afficher.', 'r.reply': 'attend votre réponse', 'r.urgency': 'urgence', 'r.deadlines': 'échéances', 'r.cancelled': 'Annulé.',
    'src.upload': 'Ajouter des fichiers', 'src.drop': 'Déposez des fichiers ici, ou', 'src.choose': 'choisissez des fichiers', 'src.readers': 'Aussi lisible par (vos groupes, sous la forme group:NOM, séparés par des virgules ; facultatif)',
    'src.uploading': 'Envoi…', 'src.indexing': 'Indexation {done} sur {total}', 'src.done': 'Indexé : {new} nouveaux, {updated} modifiés, {unchanged} inchangés',
    'src.failed': 'Échec', 'src.connectors': 'Sources connectées', 'src.noconn': 'Aucune source connectée pour l’instant. Votre administrateur connecte les boîtes mail, les salons et les partages.',
    'src.files': 'Documents', 'src.filter': 'Filtrer les documents', 'src.all': 'Tous les formats', 'src.nofiles': 'Aucun document pour l’instant. Ajoutez des fichiers ci-dessus.', 'src.nomatch': 'Aucun document ne correspond au filtre.',
    'src.title': 'Titre', 'src.format': 'Format',
    'src.docs': 'Éléments', 'src.ingested': 'Indexé', 'src.delete': 'Supprimer', 'src.name': 'Nom', 'src.kind': 'Type', 'src.status': 'État',
    'src.items': 'Éléments', 'src.lag': 'Dernier succès', 'src.syncing': 'Synchronisation de {place} : {done} sur {total}', 'src.yours': 'Votre envoi',
    'status.ok': 'à jour', 'status.failing': 'en échec', 'status.never': 'pas encore synchronisée',
    'confirm.conversation': 'Supprimer la conversation « {title} » ? Elle ne pourra pas être récupérée.', 'confirm.delete': 'Supprimer',
    'confirm.file': 'Supprimer « {title} » ? Il quitte aussitôt la recherche et les réponses.', 'confirm.key': 'Révoquer la clé « {label} » de {user} ? Tout ce qui s’y connecte s’arrête aussitôt.',
    'confirm.revoke': 'Révoquer', 'confirm.member': 'Retirer {member} de {container} ? Ce membre perd ce qui y est partagé.', 'confirm.remove': 'Retirer',
    deleted: 'Supprimé.',
    'admin.forbidden': 'Les pages d’administration sont réservées aux administrateurs.', 'admin.users': 'Utilisateurs et groupes', 'admin.keys': 'Clés d’API',
    'admin.models': 'Modèles et habilitations', 'admin.access': 'Rapport d’accès', 'admin.audit': 'Journal de provenance', 'admin.usage': 'Consommation et quotas',
    'admin.user': 'Utilisateur (adresse e-mail)', 'admin.container': 'Groupe, salon ou partage', 'admin.member': 'Membre', 'admin.tenant': 'Organisation', 'admin.label': 'Libellé', 'admin.add': 'Ajouter le membre', 'admin.remove': 'Retirer',
    'admin.created': 'Créée', 'admin.revoked': 'révoquée', 'admin.active': 'active', 'admin.revoke': 'Révoquer', 'admin.create': 'Créer une clé', 'admin.id': 'Clé', 'admin.lastused': 'Dernier usage', 'admin.never': 'jamais',
    'admin.newkey': 'Nouvelle clé pour {user}. Elle n’est affichée qu’une fois : copiez-la et remettez-la.', 'admin.copykey': 'Copier la clé', 'admin.copied': 'Clé copiée',
    'admin.report': 'Rapport', 'admin.verified': 'Chaîne et signatures vérifiées sur {n} enregistrements',
    'admin.problems': '{n} problèmes trouvés', 'admin.when': 'Quand', 'admin.model': 'Modèle', 'admin.decision': 'Décision', 'admin.passages': 'Passages',
    'admin.where': 'Où', 'admin.jurisdiction': 'Juridiction', 'admin.clearance': 'Habilitation', 'admin.pseudo': 'Pseudonymisé jusqu’à',
    'admin.tokens': 'Jetons par jour (toutes les personnes)', 'admin.total': '{n} jetons sur {d} jours', 'admin.quotas': 'Quotas', 'admin.nolimit': 'sans limite', 'admin.reach': '{user} (organisation {tenant}) peut lire {n} documents',
    'admin.sources': 'Source', 'admin.level': 'Niveau', 'admin.granted': 'Accordé par', 'admin.perday': 'jetons par jour', 'admin.permonth': 'par mois',
    'fb.up': 'Utile', 'fb.down': 'Pas utile', 'fb.comment': 'Qu’est-ce qui allait, manquait ou était faux ? (facultatif)', 'fb.send': 'Envoyer', 'fb.thanks': 'Merci : votre avis est enregistré.',
    'admin.feedback': 'Avis sur les réponses', 'admin.rating': 'Avis', 'admin.comment': 'Commentaire', 'admin.counts': '{up} utiles · {down} pas utiles',
    'lang.other': 'EN', 'lang.switch': 'EN — English', 'err.network': 'Le serveur est injoignable.',
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

// Says something to screen readers without moving focus.
function announce(text) {
  const el = $('#status');
  if (el) el.textContent = text;
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
  if (r.status === 401 && path !== '/ui/session') { signedOut(); throw new ApiError(401, 'signed out'); }
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
  return unix ? new Date(unix * 1000).toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' }) : '—';
}

// A stored date (RFC 3339, or a day) in the reader's words.
function fmtDate(s) {
  if (!s) return '';
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return new Date(`${s}T12:00:00`).toLocaleDateString(lang, { dateStyle: 'medium' });
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' });
}

const kindName = (k) => (I18N.en[`kind.${k}`] ? t(`kind.${k}`) : k);
const levelBadge = (l) => (l ? h('span', { class: `badge level-${l}`, text: I18N.en[`level.${l}`] ? t(`level.${l}`) : l }) : null);
// A person as "Name", without the address when a name is given.
const personName = (a) => (a || '').replace(/\s*<[^>]*>\s*$/, '').replace(/^"|"$/g, '') || a || '';
const baseName = (p) => (p || '').split(/[\\/]/).filter(Boolean).pop() || p || '';

function download(name, type, text) {
  const a = h('a', { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

// Asks before something that cannot be undone; resolves to true on yes.
// A modal dialog: focus starts on Cancel, Escape cancels.
function confirmDialog(text, okLabel) {
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', class: 'quiet', id: 'confirm-cancel', text: t('cancel'), onclick: () => dlg.close('') });
    const ok = h('button', { type: 'button', class: 'danger', id: 'confirm-ok', text: okLabel, onclick: () => dlg.close('ok') });
    const dlg = h('dialog', { id: 'confirm', 'aria-labelledby': 'confirm-text' }, h('p', { id: 'confirm-text', text }), h('div', { class: 'row end' }, cancel, ok));
    const back = document.activeElement;
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (back && back.isConnected) back.focus();
      resolve(dlg.returnValue === 'ok');
    });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

// ---------- Markdown, safely ----------
// The model writes light Markdown: paragraphs, lists, **bold**, `code`,
// headings. It becomes DOM built from text, never HTML; [n] becomes
// whatever `cite` makes of citation n.

function inline(text, cite) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(/\*\*([^*\n]+)\*\*|`([^`\n]+)`|\[(\d+)\]/g)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h('strong', {}, inline(m[1], cite)));
    else if (m[2] !== undefined) out.push(h('code', { text: m[2] }));
    else out.push(cite(m[0], Number(m[3])));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function markdown(text, cite) {
  const blocks = [];
  let list = null;
  let para = null;
  for (const raw of (text || '').split('\n')) {
    const line = raw.trimEnd();
    let m;
    if (!line.trim()) { list = null; para = null; continue; }
    if ((m = line.match(/^\s*[-*•]\s+(.*)$/))) {
      if (!list || list.tagName !== 'UL') { list = h('ul'); blocks.push(list); }
      para = null;
      list.append(h('li', {}, inline(m[1], cite)));
    } else if ((m = line.match(/^\s*(\d{1,3})[.)]\s+(.*)$/))) {
      if (!list || list.tagName !== 'OL') { list = h('ol', { start: m[1] }); blocks.push(list); }
      para = null;
      list.append(h('li', {}, inline(m[2], cite)));
    } else if ((m = line.match(/^#{1,6}\s+(.*)$/))) {
      list = null;
      para = null;
      blocks.push(h('p', { class: 'md-h' }, h('strong', {}, inline(m[1], cite))));
    } else {
      list = null;
      if (para) para.append(h('br'), ...inline(line, cite));
      else { para = h('p', {}, inline(line, cite)); blocks.push(para); }
    }
  }
  return blocks;
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
  // The header (and its language button) is hidden while signed out.
  main.append(h('p', { class: 'signin-lang' }, h('button', { type: 'button', id: 'lang-signin', class: 'quiet', lang: lang === 'fr' ? 'en' : 'fr',
    'aria-label': t('lang.switch'), onclick: switchLang, text: t('lang.other') })), h('h1', { text: t('signin.title') }));
  if (uiConfig.oidc) {
    main.append(h('p', {}, h('a', { href: '/ui/oidc/login', class: 'button', id: 'oidc', text: t('signin.oidc') })),
      h('p', { class: 'muted', text: t('signin.or') }));
  }
  main.append(h('div', { class: 'card' }, form), err);
  key.focus();
}

// ---------- ask ----------

let conversation = null;
// The answer being written: { controller, turn, conv }.
let generating = null;
// The turn whose question is being edited (asking replaces it).
let editing = null;

// A citation mark: a link that opens passage n beside the answer.
function citeLink(byN) {
  return (label, n) => {
    const c = byN.get(n);
    if (!c) return label;
    return h('a', {
      href: `#/source/${c.doc_id}/${c.chunk_id}`, class: 'cite', 'data-n': c.n, title: [c.title, c.locator].filter(Boolean).join(' — '),
      onclick: (ev) => { ev.preventDefault(); openSource(c.doc_id, c.chunk_id); },
    }, label);
  };
}

function answerNode(text, citations, busy) {
  const byN = new Map((citations || []).map((c) => [c.n, c]));
  return h('div', { class: 'bubble answer', 'aria-busy': busy ? 'true' : null }, markdown(text, citeLink(byN)));
}

// A list of passages (a streamed answer's sources, a citation list, the
// closest passages), each opening beside the answer.
function passageList(items) {
  return h('ol', { class: 'sources' }, items.map((c) => h('li', { value: c.n },
    h('a', { href: `#/source/${c.doc_id}/${c.chunk_id}`, onclick: (ev) => { ev.preventDefault(); openSource(c.doc_id, c.chunk_id); } }, c.title || baseName(c.path)),
    c.locator && c.locator !== c.title ? ` — ${c.locator}` : '', ' ', levelBadge(c.sensitivity))));
}

// The answer as text, with its sources (what Copy puts on the clipboard).
function answerPlain(turn) {
  const cites = (turn.citations || []).map((c) => `[${c.n}] ${[c.title || baseName(c.path), c.locator].filter(Boolean).join(' — ')}`);
  return cites.length ? `${turn.answer}\n\n${t('ask.sources')}:\n${cites.join('\n')}` : turn.answer;
}

function turnNode(turn, index) {
  const box = h('div', { class: 'turn', 'data-turn': index },
    h('div', { class: 'msg user' }, h('div', { class: 'bubble', text: turn.q })));
  const a = h('div', { class: 'msg assistant' });
  const again = () => h('button', { type: 'button', class: 'quiet regenerate', disabled: !!generating, onclick: () => ask(turn.q, index), text: t('ask.regenerate') });
  if (turn.error) a.append(errorBox({ message: turn.error }), h('div', { class: 'answer-tools' }, again()));
  else if (turn.withheld) a.append(h('p', { class: 'muted withheld', text: t('ask.withheld') }));
  else if (turn.pending) {
    const sources = turn.sources || [];
    a.append(turn.partial ? answerNode(turn.partial, sources, true)
      : h('div', { class: 'bubble answer', 'aria-busy': 'true' }, h('span', { class: 'dots', text: t(turn.sources ? 'ask.writing' : 'ask.thinking') })));
    // The passages arrive first, before the model writes anything.
    if (sources.length) a.append(h('details', { open: true, class: 'reading' }, h('summary', { text: t('ask.reading') }), passageList(sources)));
  } else if (turn.stopped) {
    if (turn.partial) a.append(answerNode(turn.partial, turn.sources || [], false));
    a.append(h('p', { class: 'muted stopped', text: t('ask.stopped') }), h('div', { class: 'answer-tools' }, again()));
  } else {
    a.append(answerNode(turn.answer, turn.citations, false));
    if (turn.citations && turn.citations.length) {
      a.append(h('details', { open: true, class: 'cited' }, h('summary', { text: t('ask.sources') }), passageList(turn.citations)));
    } else if (turn.found === false) {
      // Nothing answers: the closest passages and the search, not a dead end.
      a.append(h('div', { class: 'nothing card' }, h('p', { text: t('ask.nothing') }),
        turn.sources && turn.sources.length ? h('details', { open: true, class: 'near' }, h('summary', { text: t('ask.near') }), passageList(turn.sources)) : null,
        h('p', {}, h('a', { href: `#/search?q=${encodeURIComponent(turn.q)}`, class: 'button', id: 'nothing-search', text: t('ask.search') }))));
    }
    const details = [];
    if (turn.model) details.push(h('li', { class: 'model', text: t('ask.model', { model: turn.model }) }));
    if (turn.decision) details.push(h('li', {}, t('ask.policy'), ' ', h('span', { class: 'decision', text: turn.decision })));
    if (turn.audit_id) details.push(h('li', { text: t('ask.audit', { id: turn.audit_id }) }));
    a.append(h('div', { class: 'answer-tools' },
      h('button', { type: 'button', class: 'quiet copy', onclick: async () => { await navigator.clipboard.writeText(answerPlain(turn)).catch(() => {}); toast(t('ask.copied')); }, text: t('ask.copy') }),
      h('button', { type: 'button', class: 'quiet edit', disabled: !!generating, onclick: () => editQuestion(index), text: t('ask.edit') }),
      again(),
      turn.audit_id ? feedbackNode(turn) : null,
      details.length ? h('details', { class: 'details' }, h('summary', { text: t('details') }), h('ul', {}, details)) : null));
  }
  box.append(a);
  return box;
}

// Helpful or not, on an answer (and an optional comment), kept by the
// server per person and answer; administrators see them in aggregate.
function feedbackNode(turn) {
  const box = h('div', { class: 'feedback' });
  const send = async (rating, comment) => {
    await api('/api/v1/feedback', { method: 'POST', json: { audit_id: turn.audit_id, rating, comment: comment || '' } });
    turn.feedback = rating;
  };
  const draw = () => {
    const thumb = (rating) => h('button', { type: 'button', class: `quiet thumb ${rating}`, 'aria-pressed': String(turn.feedback === rating), onclick: async () => {
        try { await send(rating); } catch (e) { toast(e.message); return; }
        draw();
        const c = box.querySelector('textarea');
        if (c) c.focus();
      } }, t(`fb.${rating}`));
    const parts = [thumb('up'), thumb('down')];
    if (turn.feedback && !turn.commented) {
      const comment = h('textarea', { rows: 2, class: 'fb-comment', 'aria-label': t('fb.comment'), placeholder: t('fb.comment') });
      parts.push(h('form', { class: 'row fb-form', onsubmit: async (ev) => {
        ev.preventDefault();
        try { await send(turn.feedback, comment.value); } catch (e) { toast(e.message); return; }
        turn.commented = true;
        draw();
        announce(t('fb.thanks'));
      } }, comment, h('button', { type: 'submit', class: 'quiet fb-send', text: t('fb.send') })));
    } else if (turn.commented) parts.push(h('span', { class: 'muted fb-thanks', text: t('fb.thanks') }));
    box.replaceChildren(...parts);
  };
  draw();
  return box;
}

function editQuestion(index) {
  const q = $('#question');
  if (!q || !conversation.turns[index]) return;
  editing = index;
  q.value = conversation.turns[index].q;
  $('#editing').hidden = false;
  q.focus();
}

function welcomeNode() {
  return h('div', { class: 'welcome', id: 'welcome' }, h('p', { text: t('ask.welcome') }), h('p', { class: 'muted', text: t('ask.try') }),
    h('ul', { class: 'suggestions' }, ['ask.s1', 'ask.s2', 'ask.s3'].map((k) => h('li', {},
      h('button', { type: 'button', class: 'quiet suggestion', onclick: () => ask(t(k)), text: t(k) })))));
}

function askView(main, id) {
  if (id && (!conversation || String(conversation.id) !== id)) {
    if (!(generating && generating.conv.id && String(generating.conv.id) === id)) { openConversation(id); return; }
    conversation = generating.conv;
  }
  if (!id && conversation && conversation.id) conversation = null;
  if (!conversation) conversation = { id: null, turns: [] };
  editing = null;
  const thread = h('div', { id: 'thread' }, conversation.turns.length ? conversation.turns.map(turnNode) : welcomeNode());
  const q = h('textarea', { id: 'question', rows: 3, placeholder: t('ask.placeholder'), 'aria-label': t('ask.label'),
    onkeydown: (ev) => { if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); } } });
  const send = h('button', { type: 'submit', id: 'ask', text: t('ask.send') });
  const stop = h('button', { type: 'button', id: 'stop', class: 'danger', hidden: true, onclick: stopAnswer, text: t('ask.stop') });
  const form = h('form', { id: 'ask-form', onsubmit: (ev) => {
    ev.preventDefault();
    if (generating || !q.value.trim()) return;
    const replace = editing === null ? undefined : editing;
    ask(q.value.trim(), replace);
    q.value = '';
  } },
  h('p', { id: 'editing', class: 'muted', hidden: true, text: t('ask.editing') }),
  q, h('div', { class: 'row' }, send, stop,
    h('a', { href: '#/ask', class: 'button quiet', id: 'new-conversation', onclick: () => { if (!location.hash.startsWith('#/c/')) { conversation = null; render(); } }, text: t('ask.new') })));
  const history = h('details', { class: 'history-box', id: 'history-box', open: window.innerWidth > 760 ? true : null },
    h('summary', { id: 'history-summary', text: t('ask.history') }),
    h('input', { type: 'search', id: 'history-filter', 'aria-label': t('ask.history.filter'), placeholder: t('ask.history.filter'), oninput: drawHistory }),
    h('nav', { class: 'history', id: 'history', 'aria-label': t('ask.history') }));
  main.append(h('h1', { text: t('ask.title') }), history, conversationHead(), thread, form);
  updateAskButtons();
  q.focus();
  refreshHistory();
}

// The open conversation's name, and renaming it.
function conversationHead() {
  const box = h('div', { class: 'conv-head', id: 'conv-head' });
  if (!conversation || !conversation.id) return box;
  const show = () => box.replaceChildren(h('h2', { id: 'conv-title', text: conversation.title || '' }),
    h('button', { type: 'button', class: 'quiet', id: 'rename', onclick: edit, text: t('ask.rename') }));
  const edit = () => {
    const input = h('input', { id: 'rename-input', class: 'grow', value: conversation.title || '', maxlength: 200, 'aria-label': t('ask.rename.label') });
    box.replaceChildren(h('form', { class: 'row', onsubmit: async (ev) => {
      ev.preventDefault();
      try { await api(`/api/v1/conversations/${conversation.id}`, { method: 'PATCH', json: { title: input.value } }); } catch (e) { toast(e.message); return; }
      const c = await api(`/api/v1/conversations/${conversation.id}`).catch(() => null);
      if (c) conversation.title = c.title;
      show();
      $('#rename').focus();
      refreshHistory();
    } }, input, h('button', { type: 'submit', id: 'rename-save', text: t('save') }),
    h('button', { type: 'button', class: 'quiet', onclick: () => { show(); $('#rename').focus(); }, text: t('cancel') })));
    input.focus();
    input.select();
  };
  show();
  return box;
}

let historyCache = [];
function drawHistory() {
  const box = $('#history');
  if (!box) return;
  const f = ($('#history-filter') && $('#history-filter').value.toLowerCase()) || '';
  const rows = historyCache.filter((c) => !f || (c.title || '').toLowerCase().includes(f));
  $('#history-summary').textContent = t('ask.history.count', { n: historyCache.length });
  $('#history-filter').hidden = historyCache.length < 6;
  box.replaceChildren(...(rows.length ? rows.slice(0, 50).map((c) => h('span', { class: 'conv' },
    h('a', { href: `#/c/${c.id}`, class: 'open', 'aria-current': conversation && conversation.id === c.id ? 'page' : null,
      title: fmtTime(c.updated_at), text: c.title || '…' }),
    h('button', { type: 'button', class: 'quiet delete', 'aria-label': `${t('ask.delete')}: ${c.title}`, title: t('ask.delete'),
      onclick: async () => {
        if (!(await confirmDialog(t('confirm.conversation', { title: c.title }), t('confirm.delete')))) return;
        try { await api(`/api/v1/conversations/${c.id}`, { method: 'DELETE' }); } catch (e) { toast(e.message); return; }
        toast(t('deleted'));
        if (conversation && conversation.id === c.id) { conversation = null; location.hash = '#/ask'; } else refreshHistory();
      }, text: '✕' }))) : f ? [h('p', { class: 'muted', text: t('ask.history.none') })] : []));
}

// The caller's conversations, kept by the server.
function refreshHistory() {
  if (!$('#history')) return;
  api('/api/v1/conversations').then(({ conversations }) => { historyCache = conversations; drawHistory(); })
    .catch((e) => { const b = $('#history'); if (b) b.replaceChildren(errorBox(e)); });
}

async function openConversation(id) {
  try {
    const c = await api(`/api/v1/conversations/${id}`);
    conversation = { id: c.id, title: c.title, turns: c.turns.map((x) => ({ q: x.question, answer: x.answer || '', withheld: x.withheld,
      citations: x.citations, model: x.model, decision: x.decision, audit_id: x.audit_id })) };
  } catch (e) {
    toast(e.message);
    conversation = null;
    location.hash = '#/ask';
    return;
  }
  if (location.hash === `#/c/${id}`) render();
}

// Saves the conversation on the server (answers that failed or were
// stopped are not kept; a withheld answer stays withheld).
async function saveConversation(conv) {
  const turns = conv.turns.filter((x) => !x.pending && !x.error && !x.stopped).map((x) => ({
    question: x.q, answer: x.withheld ? '' : x.answer,
    citations: x.withheld ? [] : (x.citations || []).map((c) => ({ n: c.n, doc_id: c.doc_id, chunk_id: c.chunk_id })),
    model: x.model || '', decision: x.decision || '', audit_id: x.audit_id ?? null,
  }));
  if (!turns.length) return;
  try {
    if (conv.id) await api(`/api/v1/conversations/${conv.id}`, { method: 'PUT', json: { turns } });
    else {
      conv.id = (await api('/api/v1/conversations', { method: 'POST', json: { turns } })).id;
      // As the server names it: after the first question.
      const q = turns[0].question.trim();
      conv.title = [...q].length > 80 ? `${[...q].slice(0, 80).join('')}…` : q;
      // The conversation has an address now (without drawing the page again).
      if (conv === conversation && route().view === 'ask') {
        history.replaceState(null, '', `#/c/${conv.id}`);
        $('#nav a[data-view=ask]').setAttribute('href', `#/c/${conv.id}`);
      }
    }
    refreshHistory();
  } catch (e) { toast(e.message); }
}

// Draws one turn again, in place (the rest of the thread is left alone).
function drawTurn(conv, index) {
  if (conv !== conversation) return;
  const thread = $('#thread');
  if (!thread) return;
  const node = turnNode(conv.turns[index], index);
  const old = thread.querySelector(`:scope > [data-turn="${index}"]`);
  if (old) {
    // Keep the reader's choice of open or closed passages.
    const was = old.querySelector('details.reading');
    const now = node.querySelector('details.reading');
    if (was && now) now.open = was.open;
    old.replaceWith(node);
  } else {
    const w = $('#welcome');
    if (w) w.remove();
    thread.append(node);
  }
}

function updateAskButtons() {
  const send = $('#ask');
  const stop = $('#stop');
  if (send) send.hidden = !!generating;
  if (stop) stop.hidden = !generating;
  for (const b of document.querySelectorAll('#thread .regenerate, #thread .edit, #thread .suggestion')) b.disabled = !!generating;
}

// Stops the answer being written: the request is cancelled, and with it
// the generation on the server.
function stopAnswer() {
  if (generating) generating.controller.abort();
}

// Streams an answer (server-sent events over a POST) into the thread.
async function ask(question, replace) {
  if (generating) return;
  const conv = conversation;
  const turn = { q: question, pending: true, partial: '' };
  const index = replace !== undefined ? replace : conv.turns.length;
  conv.turns[index] = turn;
  editing = null;
  if ($('#editing')) $('#editing').hidden = true;
  const controller = new AbortController();
  generating = { controller, turn, conv };
  drawTurn(conv, index);
  updateAskButtons();
  announce(t('ask.thinking'));
  const node = () => conv === conversation && $(`#thread > [data-turn="${index}"]`);
  try {
    const r = await fetch('/api/v1/ask', {
      method: 'POST', credentials: 'same-origin', signal: controller.signal,
      headers: { 'Content-Type': 'application/json', 'X-Twake-UI': '1', Accept: 'text/event-stream' },
      body: JSON.stringify({ question, stream: true }),
    });
    if (r.status === 401) { generating = null; signedOut(); return; }
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
        if (event === 'sources') {
          turn.sources = d.sources.map((x, i) => ({ ...x, n: i + 1 }));
          drawTurn(conv, index);
          announce(t('ask.writing'));
        } else if (event === 'text') {
          turn.partial += d.text;
          // Only the answer's text changes: the bubble is refilled in place.
          const n = node();
          const bubble = n && n.querySelector('.answer');
          if (bubble) bubble.replaceChildren(...markdown(turn.partial, citeLink(new Map((turn.sources || []).map((c) => [c.n, c])))));
          else drawTurn(conv, index);
        } else if (event === 'done') {
          Object.assign(turn, { pending: false, answer: d.answer, citations: d.citations, model: d.model, decision: d.decision, audit_id: d.audit_id, found: d.found });
        } else if (event === 'error') Object.assign(turn, { pending: false, error: (d.error && d.error.message) || 'error' });
      }
    }
    if (turn.pending) Object.assign(turn, { pending: false, error: t('err.network') });
    // Nothing close enough to answer from: the nearest passages anyway.
    if (turn.found === false && !(turn.sources && turn.sources.length)) {
      const near = await api('/api/v1/search', { method: 'POST', json: { query: question, k: 3 }, signal: controller.signal }).catch(() => null);
      if (near) turn.sources = near.results.map((x, i) => ({ ...x, n: i + 1 }));
    }
  } catch (e) {
    if (e.name === 'AbortError') Object.assign(turn, { pending: false, stopped: true });
    else Object.assign(turn, { pending: false, error: e.message });
  }
  generating = null;
  drawTurn(conv, index);
  updateAskButtons();
  announce(turn.stopped ? t('ask.status.stopped') : turn.error || t('ask.ready'));
  if (turn.stopped && conv === conversation && $('#question')) $('#question').focus();
  await saveConversation(conv);
}

// ---------- source panel ----------

let sourceBack = null;

async function openSource(docId, chunkId) {
  const aside = $('#source');
  const body = $('#source-body');
  if (aside.hidden) sourceBack = document.activeElement;
  aside.hidden = false;
  document.body.classList.add('source-open');
  $('#source-title').textContent = '…';
  body.replaceChildren();
  try {
    const d = await api(`/api/v1/documents/${docId}`);
    $('#source-title').textContent = d.title || baseName(d.path);
    const rows = [];
    if (d.author) rows.push([t('source.from'), d.author]);
    if (d.recipients && d.recipients.length) rows.push([t('source.to'), d.recipients.join(', ')]);
    if (d.date) rows.push([t('source.date'), fmtDate(d.date)]);
    if (d.kind === 'mail') rows.push([t('source.subject'), d.title]);
    rows.push([t('source.path'), baseName(d.path)]);
    const ref = [d.message_id ? `Message-ID: ${d.message_id}` : null, d.path].filter(Boolean).join('\n');
    body.append(h('p', {}, h('span', { class: 'badge', text: kindName(d.kind) })),
      h('dl', { class: 'headers' }, rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])),
      h('details', { class: 'details' }, h('summary', { text: t('source.ref') }), h('pre', { class: 'ref', text: ref })));
    if (d.context && d.context.length) {
      const before = d.context.filter((m) => (m.date || '') < (d.date || '') || ((m.date || '') === (d.date || '') && m.doc_id < d.doc_id));
      const after = d.context.filter((m) => !before.includes(m));
      const msg = (m, hit) => h('div', { class: `passage${hit ? ' hit' : ''}`, tabindex: hit ? '-1' : null },
        h('span', { class: 'loc', text: `${personName(m.author)} · ${fmtDate(m.date)}` }), h('span', { class: 'text', text: m.text }));
      body.append(h('h3', { text: t('source.context') }), ...before.map((m) => msg(m, false)),
        msg({ author: d.author, date: d.date, text: d.body }, true), ...after.map((m) => msg(m, false)));
    } else {
      body.append(h('h3', { text: t('source.passages') }), ...d.passages.map((p) => h('div', {
        class: `passage${p.chunk_id === chunkId ? ' hit' : ''}`, id: `chunk-${p.chunk_id}`, tabindex: p.chunk_id === chunkId ? '-1' : null,
      }, p.locator ? h('span', { class: 'loc', text: p.locator }) : null, h('span', { class: 'text', text: p.text }))));
    }
    const hit = body.querySelector('.passage.hit');
    if (hit) { hit.scrollIntoView({ block: 'center' }); hit.focus({ preventScroll: true }); } else $('#source-close').focus();
  } catch (e) {
    $('#source-title').textContent = '';
    body.replaceChildren(errorBox(e));
  }
}

function closeSource() {
  if ($('#source').hidden) return false;
  $('#source').hidden = true;
  document.body.classList.remove('source-open');
  if (sourceBack && sourceBack.isConnected) sourceBack.focus();
  sourceBack = null;
  return true;
}

// ---------- search ----------

const KINDS = ['mail', 'chat', 'document', 'transcript', 'event'];

function searchView(main, params) {
  const q = h('input', { type: 'search', id: 'search-q', class: 'grow', required: true, value: params.get('q') || '' });
  const kind = h('select', { id: 'search-kind' }, h('option', { value: '', text: t('search.any') }), KINDS.map((k) => h('option', { value: k, text: kindName(k) })));
  kind.value = params.get('kind') || '';
  const person = h('input', { id: 'search-person', value: params.get('person') || '', autocomplete: 'off' });
  const since = h('input', { id: 'search-since', type: 'date', value: params.get('since') || '' });
  const until = h('input', { id: 'search-until', type: 'date', value: params.get('until') || '' });
  const count = h('p', { id: 'search-count', role: 'status', class: 'muted' });
  const results = h('div', { id: 'search-results' });
  const run = async () => {
    const p = new URLSearchParams();
    for (const [k, el] of [['q', q], ['kind', kind], ['person', person], ['since', since], ['until', until]]) if (el.value.trim()) p.set(k, el.value.trim());
    history.replaceState(null, '', `#/search?${p}`);
    if (!q.value.trim()) return;
    results.replaceChildren(h('p', { class: 'muted', 'aria-busy': 'true', text: '…' }));
    count.textContent = '';
    try {
      const r = await api('/api/v1/search', { method: 'POST', json: { query: q.value.trim(), k: 30, kinds: kind.value ? [kind.value] : [],
        person: person.value.trim() || undefined, since: since.value || undefined, until: until.value || undefined } });
      count.textContent = r.results.length === 1 ? t('search.one') : t('search.count', { n: r.results.length });
      results.replaceChildren(...(r.results.length ? [h('ol', { class: 'results' }, r.results.map((x) => h('li', { class: 'result card' },
        h('a', { href: `#/source/${x.doc_id}/${x.chunk_id}`, class: 'title', onclick: (ev) => { ev.preventDefault(); openSource(x.doc_id, x.chunk_id); } }, x.title || baseName(x.path)),
        h('div', { class: 'meta muted' }, h('span', { class: 'badge', text: kindName(x.kind) }), ' ', levelBadge(x.sensitivity),
          x.author ? ` ${personName(x.author)}` : '', x.date ? ` · ${fmtDate(x.date)}` : '', x.locator && x.locator !== x.title ? ` · ${x.locator}` : ''),
        h('p', { class: 'snippet', text: x.snippet }))))]
        : [h('p', { id: 'search-none', text: t('search.none') })]),
      h('p', {}, h('button', { type: 'button', class: 'quiet', id: 'search-ask', onclick: () => { conversation = null; location.hash = '#/ask'; setTimeout(() => { const b = $('#question'); if (b) { b.value = q.value.trim(); b.focus(); } }, 0); }, text: t('search.ask') })));
    } catch (e) { results.replaceChildren(errorBox(e)); }
  };
  const form = h('form', { id: 'search-form', onsubmit: (ev) => { ev.preventDefault(); run(); } },
    h('div', { class: 'row' }, field('search-q', 'search.q', q, 'grow'), h('button', { type: 'submit', id: 'search-go', text: t('search.go') })),
    h('div', { class: 'row filters' }, field('search-kind', 'search.kind', kind), field('search-person', 'search.person', person),
      field('search-since', 'search.since', since), field('search-until', 'search.until', until)));
  main.append(h('h1', { text: t('search.title') }), form, count, results);
  q.focus();
  if (q.value.trim()) run();
}

// ---------- tools ----------

const TOOLS = ['thread', 'room', 'minutes', 'draft', 'translate', 'triage', 'brief'];
let focusTab = false;

function field(id, labelKey, input, cls) {
  input.id = id;
  return h('div', { class: cls || null }, h('label', { for: id, text: t(labelKey) }), input);
}
const LANGS = ['fr', 'en', 'de', 'es', 'it'];
const select = (opts, first) => h('select', {}, first ? h('option', { value: '', text: first }) : null,
  opts.map(([v, label]) => h('option', { value: v, text: label })));

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
  if (r.summary) out.push(h('h3', { text: t('r.summary') }), h('div', { class: 'md' }, markdown(r.summary, (l) => l)));
  if (kind === 'minutes') {
    out.push(list('r.decisions', r.decisions, (d) => `${d.decision}${d.source ? ` (cue ${d.source.cue}, ${d.source.time})` : ''}`));
    const items = r.action_items || [];
    out.push(h('h3', { text: t('r.actions') }));
    out.push(h('div', { class: 'table-wrap' }, h('table', { id: 'actions', class: 'stack' },
      h('thead', {}, h('tr', {}, ['r.owner', 'r.task', 'r.due', 'r.source'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      h('tbody', {}, items.map((a) => h('tr', {}, h('td', { 'data-label': t('r.owner'), text: a.owner || '' }), h('td', { 'data-label': t('r.task'), text: a.task }),
        h('td', { 'data-label': t('r.due'), text: a.due ? fmtDate(a.due) : a.due_text || '' }), h('td', { 'data-label': t('r.source'), text: a.source ? `cue ${a.source.cue}, ${a.source.time}` : '' })))))));
    out.push(h('div', { class: 'row' },
      h('button', { type: 'button', class: 'quiet', id: 'export-csv', onclick: () => download('action-items.csv', 'text/csv', toCsv(items)), text: t('r.csv') }),
      h('button', { type: 'button', class: 'quiet', id: 'export-ics', onclick: () => download('action-items.ics', 'text/calendar', toIcs(items, r.title)), text: t('r.ics') })));
  }
  if (kind === 'thread') {
    out.push(list('r.asked', r.asked, (a) => `${a.who}: ${a.what}${citeLabel(a.message)}`));
    out.push(list('r.decided', r.decided, (a) => `${a.what}${citeLabel(a.message)}`));
    out.push(list('r.open', r.open, (a) => `${a.what}${a.due ? ` (${fmtDate(a.due)})` : ''}${citeLabel(a.message)}`));
  }
  if (kind === 'room') {
    out.push(list('r.mentions', r.mentions, (m) => `${personName(m.from)} · ${fmtDate(m.date)}: ${m.text}`));
    for (const topic of r.topics || []) {
      out.push(h('h3', { text: topic.topic }), h('ul', {}, (topic.points || []).map((p) => h('li', { text: `${p.who}: ${p.what}${citeLabel(p.message)}` }))));
    }
  }
  if (kind === 'thread' || kind === 'room' || kind === 'draft') {
    out.push(list('r.messages', r.messages, (m) => `[${m.n}] ${personName(m.from)}, ${fmtDate(m.date)}`));
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
      x.deadlines && x.deadlines.length ? ` ${t('r.deadlines')}: ${x.deadlines.map((d) => fmtDate(d.date || d.due) || d.text || '').join(', ')}` : ''))) : h('p', { text: t('r.nothing') }));
  }
  if (kind === 'brief') {
    if (r.mail) out.push(renderResult('triage', r.mail));
    out.push(list('r.topics', r.rooms, (x) => `${x.room}: ${x.new_messages} (${(x.authors || []).map(personName).join(', ')})`));
    out.push(list('tools.minutes', r.meetings, (x) => `${x.title} ${fmtDate(x.date)}: ${(x.mentions || []).map((m) => `${m.time} ${m.text}`).join(' · ')}`));
  }
  const details = [];
  if (r.model) details.push(h('li', { text: t('ask.model', { model: r.model }) }));
  if (r.audit_id) details.push(h('li', { text: t('ask.audit', { id: r.audit_id }) }));
  const flat = out.flat(3).filter(Boolean);
  if (!flat.length) flat.push(h('p', { text: t('r.nothing') }));
  if (details.length) flat.push(h('details', { class: 'details' }, h('summary', { text: t('details') }), h('ul', {}, details)));
  return flat;
}

// A choice among what the caller may read (threads, rooms, transcripts),
// loaded from the server; `none` when there is nothing to choose.
function picker(load, noneKey) {
  const sel = h('select', { required: true }, h('option', { value: '', text: '…' }));
  load().then((opts) => {
    sel.replaceChildren(...(opts.length ? [h('option', { value: '', text: t('f.thread.pick') }), ...opts.map(([v, label]) => h('option', { value: v, text: label }))]
      : [h('option', { value: '', text: t(noneKey) })]));
    if (opts.length === 1) sel.value = opts[0][0];
    sel.dispatchEvent(new Event('loaded'));
  }).catch((e) => sel.replaceChildren(h('option', { value: '', text: e.message })));
  return sel;
}
const threadPicker = () => picker(async () => (await api('/api/v1/threads')).threads.map((x) =>
  [x.message_id, `${x.subject || '—'} · ${x.from}${x.date ? `, ${fmtDate(x.date)}` : ''}${x.messages > 1 ? ` (${t('f.messages', { n: x.messages })})` : ''}`]), 'f.thread.none');

function tabKeys(ev) {
  const i = TOOLS.indexOf(ev.target.dataset.tool);
  const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TOOLS.length - 1 }[ev.key];
  if (to === undefined || i < 0) return;
  ev.preventDefault();
  focusTab = true;
  location.hash = `#/tools/${TOOLS[(to + TOOLS.length) % TOOLS.length]}`;
}

async function toolsView(main, arg) {
  const tool = TOOLS.includes(arg) ? arg : 'thread';
  main.append(h('h1', { text: t('nav.tools') }));
  // Tabs are links to each tool's address; arrows move between them.
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('tools.label') }, TOOLS.map((k) => h('a', {
    href: `#/tools/${k}`, role: 'tab', id: `tab-${k}`, 'data-tool': k, 'aria-selected': String(k === tool), 'aria-controls': 'tool-panel',
    tabindex: k === tool ? '0' : '-1', onkeydown: tabKeys, text: t(`tools.${k}`) })));
  const result = h('div', { id: 'tool-result' });
  const panel = h('form', { id: 'tool-panel', role: 'tabpanel', 'aria-labelledby': `tab-${tool}` });
  let build;
  if (tool === 'thread') {
    const id = threadPicker();
    panel.append(field('f-mid', 'f.thread', id, 'wide'));
    build = () => ['/api/v1/summarize/thread', { message_id: id.value }];
  } else if (tool === 'room') {
    const room = picker(async () => (await api('/api/v1/rooms')).rooms.map((r) => [r, r]), 'f.room.none');
    const since = select([['last-read', t('since.last')], ['24h', t('since.24h')], ['7d', t('since.7d')], ['30d', t('since.30d')]]);
    since.value = '7d';
    panel.append(h('div', { class: 'row' }, field('f-room', 'f.room', room), field('f-since', 'f.since', since)));
    build = () => ['/api/v1/summarize/room', { room: room.value, since: since.value }];
  } else if (tool === 'minutes') {
    const path = picker(async () => (await api('/api/v1/files')).files
      .filter((x) => ['vtt', 'srt', 'webvtt'].includes(x.format.toLowerCase()) || /\.(vtt|srt)$/i.test(x.path))
      .map((f) => [f.path, f.title && f.title !== baseName(f.path) ? `${f.title} (${baseName(f.path)})` : baseName(f.path)]), 'f.transcript.none');
    const date = h('input', { type: 'date' });
    panel.append(field('f-path', 'f.transcript', path, 'wide'), field('f-date', 'f.date', date));
    build = () => ['/api/v1/minutes', { path: path.value, date: date.value || undefined }];
  } else if (tool === 'draft') {
    const id = threadPicker();
    const l = select(LANGS.map((x) => [x, t(`lang.${x}`)]), t('f.auto'));
    const tone = select(['neutral', 'formal', 'friendly'].map((x) => [x, t(`tone.${x}`)]));
    const points = h('textarea', { rows: 3 });
    panel.append(field('f-mid', 'f.thread', id, 'wide'), h('div', { class: 'row' }, field('f-lang', 'f.lang', l), field('f-tone', 'f.tone', tone)), field('f-points', 'f.points', points));
    build = () => ['/api/v1/draft-reply', { message_id: id.value, lang: l.value || undefined, tone: tone.value,
      points: points.value.split('\n').map((s) => s.trim()).filter(Boolean) }];
  } else if (tool === 'translate') {
    const text = h('textarea', { rows: 6, required: true });
    const to = select(LANGS.map((x) => [x, t(`lang.${x}`)]), t('f.auto'));
    const tone = select(['formal', 'neutral', 'friendly'].map((x) => [x, t(`tone.${x}`)]), t('tone.keep'));
    panel.append(field('f-text', 'f.text', text), h('div', { class: 'row' }, field('f-to', 'f.to', to), field('f-tone', 'f.tone', tone)));
    build = () => ['/api/v1/rewrite', { text: text.value, to: to.value || undefined, tone: tone.value || undefined }];
  } else if (tool === 'triage') {
    const since = h('input', { type: 'date' });
    panel.append(field('f-since', 'f.triage_since', since));
    build = () => ['/api/v1/triage', { since: since.value || undefined }];
  } else {
    const since = select([['24h', t('since.24h')], ['7d', t('since.7d')]], '—');
    panel.append(field('f-since', 'f.brief_since', since));
    build = () => ['/api/v1/brief', { since: since.value || undefined }];
  }
  const run = h('button', { type: 'submit', id: 'run', text: t('run') });
  const cancel = h('button', { type: 'button', id: 'cancel', class: 'danger', hidden: true, text: t('cancel') });
  panel.append(h('div', { class: 'row' }, run, cancel));
  const kind = tool;
  panel.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const [path, body] = build();
    const controller = new AbortController();
    run.disabled = true;
    cancel.hidden = false;
    cancel.onclick = () => controller.abort();
    // Tools answer in one piece: the time spent and the tokens the model
    // has written so far (the server's /api/v1/progress) show it works.
    const started = Date.now();
    const working = h('p', { 'aria-busy': 'true', id: 'working', text: t('working', { s: 0 }) });
    let tokens = 0;
    const tick = setInterval(async () => {
      const s = Math.round((Date.now() - started) / 1000);
      // Asked every other second: well within a user's requests a minute.
      if (s % 2 === 0) {
        const p = await api('/api/v1/progress').catch(() => null);
        if (p && p.running.length) tokens = Math.max(...p.running.map((x) => x.tokens));
      }
      if (working.isConnected) working.textContent = tokens ? t('working.tokens', { s, n: tokens }) : t('working', { s });
    }, 1000);
    result.replaceChildren(working);
    announce(t('working', { s: 0 }));
    try {
      result.replaceChildren(...renderResult(kind, await api(path, { method: 'POST', json: body, signal: controller.signal })));
      announce(t('ask.ready'));
    } catch (e) { result.replaceChildren(e.name === 'AbortError' ? h('p', { class: 'muted', text: t('r.cancelled') }) : errorBox(e)); }
    clearInterval(tick);
    run.disabled = false;
    cancel.hidden = true;
  });
  main.append(tabs, h('div', { class: 'card' }, panel), result);
  if (focusTab) { focusTab = false; $(`#tab-${tool}`).focus(); }
}

// ---------- sources ----------

async function upload(files, readers, status) {
  const form = new FormData();
  for (const f of files) form.append('file', f, f.name);
  if (readers.trim()) form.append('readers', readers.trim());
  const bar = h('progress', { max: files.length, value: 0, 'aria-label': t('src.uploading') });
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
  for (const f of job.failed) status.firstChild.append(h('p', { class: 'error', text: `${baseName(f.path)}: ${f.reason}` }));
  refreshFiles();
}

let filesCache = [];
function drawFiles() {
  const box = $('#files');
  if (!box) return;
  const q = ($('#filter') && $('#filter').value.toLowerCase()) || '';
  const fmt = ($('#format') && $('#format').value) || '';
  const rows = filesCache.filter((f) => (!fmt || f.format === fmt) && (!q || `${f.title} ${baseName(f.path)}`.toLowerCase().includes(q)));
  const mine = (f) => f.path.includes(`/uploads/${me.user}/`);
  const named = (f) => (f.title && f.title !== baseName(f.path) ? `${f.title} (${baseName(f.path)})` : baseName(f.path));
  box.replaceChildren(rows.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
    h('thead', {}, h('tr', {}, ['src.title', 'src.format', 'src.docs', 'src.ingested', 'src.delete'].map((k) => h('th', { scope: 'col', text: t(k) })))),
    h('tbody', {}, rows.map((f) => h('tr', {},
      h('td', { 'data-label': t('src.title') }, h('span', { text: f.title || baseName(f.path) }),
        f.title && f.title !== baseName(f.path) ? [h('br'), h('span', { class: 'muted', text: baseName(f.path) })] : null,
        mine(f) ? [' ', h('span', { class: 'badge', text: t('src.yours') })] : null),
      h('td', { 'data-label': t('src.format'), text: f.format }), h('td', { 'data-label': t('src.docs'), text: f.documents }),
      h('td', { 'data-label': t('src.ingested'), text: fmtTime(f.ingested_at) }),
      h('td', { 'data-label': t('src.delete') }, mine(f) ? h('button', { type: 'button', class: 'quiet delete-file', 'aria-label': `${t('src.delete')}: ${named(f)}`, onclick: async () => {
        if (!(await confirmDialog(t('confirm.file', { title: named(f) }), t('confirm.delete')))) return;
        try { await api(`/api/v1/files?path=${encodeURIComponent(f.path)}`, { method: 'DELETE' }); toast(t('deleted')); refreshFiles(); } catch (e) { toast(e.message); }
      }, text: t('src.delete') }) : null)))))) : h('p', { id: 'files-none', text: t(filesCache.length ? 'src.nomatch' : 'src.nofiles') }));
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
    box.replaceChildren(sources.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
      h('thead', {}, h('tr', {}, ['src.name', 'src.kind', 'src.status', 'src.items', 'src.lag'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      h('tbody', {}, sources.map((s) => h('tr', {},
        h('td', { 'data-label': t('src.name') }, h('strong', { text: s.name })),
        h('td', { 'data-label': t('src.kind'), text: s.kind }),
        h('td', { 'data-label': t('src.status') }, h('span', { class: `badge ${s.status === 'ok' ? 'ok' : s.status === 'failing' ? 'bad' : 'warn'}`, text: I18N.en[`status.${s.status}`] ? t(`status.${s.status}`) : s.status }),
          s.last_error ? h('div', { class: 'error', text: s.last_error }) : null,
          s.syncing ? h('div', {}, h('span', { class: 'muted', text: t('src.syncing', { place: s.syncing.place || '', done: s.syncing.items_done, total: s.syncing.items_total }) }),
            h('progress', { max: Math.max(1, s.syncing.items_total), value: s.syncing.items_done, 'aria-label': s.name })) : null),
        h('td', { 'data-label': t('src.items'), text: s.items }), h('td', { 'data-label': t('src.lag'), text: fmtTime(s.last_success) })))))) : h('p', { class: 'muted', text: t('src.noconn') }));
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

function table(headKeys, rows, id) {
  const heads = headKeys.map((k) => t(k));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'stack', id: id || null },
    h('thead', {}, h('tr', {}, heads.map((x) => h('th', { scope: 'col', text: x })))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => h('td', { 'data-label': heads[i] }, c ?? '')))))));
}

async function section(main, titleKey, load) {
  const box = h('section', { class: 'card', id: `admin-${titleKey.split('.')[1]}`, 'aria-labelledby': `h-${titleKey.split('.')[1]}` },
    h('h2', { id: `h-${titleKey.split('.')[1]}`, text: t(titleKey) }));
  main.append(box);
  try { box.append(...[await load()].flat().filter(Boolean)); } catch (e) { box.append(errorBox(e)); }
}

// A key just made: shown once, with a copy button, until the page changes.
let newKey = null;

async function adminView(main) {
  main.append(h('h1', { text: t('nav.admin') }));
  if (!me.admin) { main.append(h('p', { class: 'error', role: 'alert', id: 'forbidden', text: t('admin.forbidden') })); return; }
  const shownKey = newKey;
  newKey = null;
  await section(main, 'admin.users', async () => {
    const d = await api('/api/v1/admin/users');
    const out = h('div');
    const membership = (m) => `container=${encodeURIComponent(m.container)}&member=${encodeURIComponent(m.member)}&tenant=${encodeURIComponent(m.tenant)}`;
    const container = h('input', { id: 'member-container', placeholder: 'group:NAME', required: true });
    const member = h('input', { id: 'member-member', type: 'email', placeholder: 'name@example.org', required: true });
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
          if (!(await confirmDialog(t('confirm.member', { member: m.member, container: m.container }), t('confirm.remove')))) return;
          try { await api(`/api/v1/admin/memberships?${membership(m)}`, { method: 'DELETE' }); render(); } catch (e) { toast(e.message); }
        }, text: t('admin.remove') })])), form, out];
  });
  await section(main, 'admin.keys', async () => {
    const d = await api('/api/v1/admin/keys');
    const out = h('div');
    if (shownKey) {
      const value = h('input', { id: 'new-key', readonly: true, class: 'grow mono', value: shownKey.key, 'aria-label': t('admin.id') });
      out.append(h('div', { class: 'card new-key', role: 'status' }, h('p', { text: t('admin.newkey', { user: shownKey.user }) }),
        h('div', { class: 'row' }, value, h('button', { type: 'button', id: 'copy-key', onclick: async () => {
          await navigator.clipboard.writeText(shownKey.key).catch(() => { value.select(); });
          toast(t('admin.copied'));
        }, text: t('admin.copykey') }))));
    }
    const who = h('input', { id: 'key-user', type: 'email', placeholder: 'name@example.org', required: true });
    const label = h('input', { id: 'key-label' });
    const form = h('form', { class: 'row', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const k = await api('/api/v1/admin/keys', { method: 'POST', json: { user: who.value, label: label.value } });
        newKey = { key: k.key, user: who.value.trim().toLowerCase() };
        render();
      } catch (e) { out.replaceChildren(errorBox(e)); }
    } }, h('div', {}, h('label', { for: 'key-user', text: t('admin.user') }), who), h('div', {}, h('label', { for: 'key-label', text: t('admin.label') }), label),
    h('button', { type: 'submit', id: 'key-create', text: t('admin.create') }));
    return [out, table(['admin.id', 'admin.user', 'admin.label', 'admin.created', 'admin.lastused', 'src.status', 'admin.revoke'], d.keys.map((k) => [`#${k.id}`, k.user, k.label, fmtTime(k.created_at),
      k.last_used_at ? fmtTime(k.last_used_at) : t('admin.never'),
      h('span', { class: `badge ${k.revoked ? 'bad' : 'ok'}`, text: t(k.revoked ? 'admin.revoked' : 'admin.active') }),
      k.revoked ? '' : h('button', { type: 'button', class: 'quiet revoke', 'aria-label': `${t('admin.revoke')}: #${k.id} ${k.user}`, onclick: async () => {
        if (!(await confirmDialog(t('confirm.key', { label: k.label, user: k.user }), t('confirm.revoke')))) return;
        try { await api(`/api/v1/admin/keys/${k.id}`, { method: 'DELETE' }); render(); } catch (e) { toast(e.message); }
      }, text: t('admin.revoke') })]), 'keys'), form];
  });
  await section(main, 'admin.models', async () => {
    const d = await api('/api/v1/admin/models');
    return [h('p', { class: 'muted', text: `chat: ${d.chat} · embedding: ${d.embedding}` }),
      table(['admin.model', 'admin.where', 'admin.jurisdiction', 'admin.clearance', 'admin.pseudo'], d.models.map((m) => [m.name, m.where, m.jurisdiction, m.clearance, m.pseudonymised_clearance || '—']))];
  });
  await section(main, 'admin.access', async () => {
    const out = h('div');
    const who = h('input', { id: 'report-user', type: 'email', placeholder: 'name@example.org', required: true });
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
  await section(main, 'admin.feedback', async () => {
    const d = await api('/api/v1/admin/feedback');
    return [h('p', { id: 'feedback-counts', text: t('admin.counts', { up: d.up, down: d.down }) }),
      d.recent.length ? table(['admin.when', 'admin.user', 'admin.rating', 'admin.comment'], d.recent.map((r) => [fmtTime(r.at), r.user,
        h('span', { class: `badge ${r.rating > 0 ? 'ok' : 'bad'}`, text: t(r.rating > 0 ? 'fb.up' : 'fb.down') }), r.comment])) : null];
  });
  await section(main, 'admin.usage', async () => {
    const d = await api('/api/v1/admin/usage?days=14');
    const totals = d.days.map((x) => Object.entries(x.principals).filter(([p]) => !p.startsWith('group:') && !p.startsWith('key:')).reduce((s, [, u]) => s + u.tokens, 0));
    const max = Math.max(1, ...totals);
    const q = d.quotas;
    const num = (n) => Number(n).toLocaleString(lang);
    return [h('h3', { text: t('admin.tokens') }),
      h('p', { class: 'muted', id: 'usage-total', text: t('admin.total', { n: num(totals.reduce((a, b) => a + b, 0)), d: d.days.length }) }),
      h('div', { class: 'bars', role: 'img', 'aria-label': d.days.map((x, i) => `${fmtDate(x.day)}: ${num(totals[i])}`).join(', ') },
        totals.map((v, i) => h('div', { class: 'bar-col' }, h('span', { class: 'bar-value', text: v ? num(v) : '' }),
          h('div', { class: 'bar', style: `height:${Math.round((85 * v) / max)}%`, title: `${fmtDate(d.days[i].day)}: ${num(v)}` })))),
      h('div', { class: 'bars-labels' }, d.days.map((x) => h('span', { text: x.day.slice(5) }))),
      h('h3', { text: t('admin.quotas') }),
      h('p', { text: `${q.tokens_per_day ? num(q.tokens_per_day) : t('admin.nolimit')} ${t('admin.perday')} · ${q.cost_per_month || t('admin.nolimit')} ${t('admin.permonth')}` }),
      q.groups.length ? table(['admin.container', 'admin.tokens', 'admin.quotas'], q.groups.map((g) => [g.group, g.tokens_per_day, g.cost_per_month])) : null];
  });
}

// ---------- shell ----------

function applyStatic() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  $('#lang').textContent = t('lang.other');
  $('#lang').setAttribute('aria-label', t('lang.switch'));
  $('#lang').setAttribute('lang', lang === 'fr' ? 'en' : 'fr');
}

// The page's address: #/ask, #/c/ID, #/search?q=…, #/tools/NAME,
// #/sources, #/admin.
function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  const [view, arg] = path.split('/');
  const views = ['ask', 'c', 'search', 'tools', 'sources', 'admin'];
  return { view: views.includes(view) ? (view === 'c' ? 'ask' : view) : 'ask', arg: view === 'c' ? arg : view === 'tools' ? arg : undefined, params: new URLSearchParams(query || '') };
}

function switchLang() {
  lang = lang === 'fr' ? 'en' : 'fr';
  localStorage.setItem('twake.lang', lang);
  render();
}

function signedOut() {
  me = null;
  conversation = null;
  historyCache = [];
  if (generating) { generating.controller.abort(); generating = null; }
  render();
}

function render() {
  if (poller) { clearInterval(poller); poller = null; }
  applyStatic();
  const main = $('#main');
  main.replaceChildren();
  main.className = '';
  // Signed out, nothing tells who used the page.
  $('.top').hidden = !me;
  $('#user-name').textContent = me ? me.user : '';
  $('#nav-admin').hidden = !(me && me.admin);
  if (!me) { closeSource(); document.title = 'TwakeAI'; signInView(main); return; }
  const r = route();
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === r.view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = `${t(`nav.${r.view}`)} · TwakeAI`;
  ({ ask: askView, search: searchView, tools: toolsView, sources: sourcesView, admin: adminView })[r.view](main, r.view === 'search' ? r.params : r.arg);
  // "Ask" leads back to the conversation in hand.
  $('#nav a[data-view=ask]').setAttribute('href', conversation && conversation.id ? `#/c/${conversation.id}` : '#/ask');
}

async function start() {
  try { uiConfig = await (await fetch('/ui/config')).json(); } catch { uiConfig = { oidc: false }; }
  try { me = await api('/api/v1/me'); } catch { me = null; }
  render();
}

document.addEventListener('DOMContentLoaded', () => {
  $('#lang').addEventListener('click', switchLang);
  $('#sign-out').addEventListener('click', async () => {
    const r = await api('/ui/logout', { method: 'POST' }).catch(() => null);
    if (r && r.end_session) { me = null; location.href = r.end_session; return; }
    history.replaceState(null, '', '#/ask');
    signedOut();
  });
  $('#source-close').addEventListener('click', closeSource);
  // The skip link goes where the page's work is: the question, or the content.
  $('.skip').addEventListener('click', (ev) => { ev.preventDefault(); ($('#question') || $('#search-q') || $('#main')).focus(); });
  // Escape closes the passage beside the answer, else stops the answer.
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape' || document.querySelector('dialog[open]')) return;
    if (!closeSource() && generating) stopAnswer();
  });
  window.addEventListener('hashchange', () => { if (!location.hash.startsWith('#/source/')) render(); });
  start();
});
