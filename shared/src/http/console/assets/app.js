// scimlink web console (docs/CONSOLE.md). Plain script, no framework, nothing from
// elsewhere. Everything an IdP or an admin controls is inserted as text (el() turns
// strings into text nodes); this file never assigns markup to an element.
'use strict';

(function () {
  const KEY = 'scimlink.key';
  const ORG = 'scimlink.org';
  const PAGES = ['login', 'diagnose', 'conflicts'];

  // --- DOM helpers --------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  // el('td', {className: 'num'}, 'text', otherNode): only the properties in ATTRS are set
  // (never an event handler, never markup); children that are not nodes become text nodes.
  const ATTRS = ['id', 'className', 'type', 'title', 'hidden'];
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'dataset') Object.assign(node.dataset, v);
      else if (ATTRS.includes(k)) node[k] = v;
      else throw new Error('el: property ' + k + ' not allowed');
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // A value from the API as text: strings as they are, null as a dash, anything else as JSON.
  function text(v) {
    if (v === null || v === undefined || v === '') return '—';
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (Array.isArray(v)) return v.length ? v.map(text).join(', ') : '—';
    if (typeof v === 'object' && typeof v.name === 'string') return v.name;
    return JSON.stringify(v);
  }

  function managedBy(m) {
    if (m === 'admin') return 'admin';
    if (m && typeof m === 'object' && m.directory) return 'directory ' + m.directory;
    return text(m);
  }

  function table(headers, rows, id) {
    const t = el('table', id ? { id } : {});
    t.append(el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))));
    const body = el('tbody');
    for (const r of rows) {
      body.append(el('tr', {}, r.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : el('td', {}, c)))));
    }
    t.append(body);
    return t;
  }

  function status(msg, isError) {
    const s = $('status');
    s.textContent = msg || '';
    s.className = isError ? 'error' : '';
  }

  // --- session ------------------------------------------------------------------------

  function session() {
    const key = sessionStorage.getItem(KEY);
    const org = sessionStorage.getItem(ORG);
    return key && org ? { key, org } : null;
  }

  function signOut(msg) {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ORG);
    show('login');
    status(msg || '', Boolean(msg));
  }

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  // A call to the admin API of the signed-in org: `path` below /admin/v1/orgs/{o}.
  async function api(path, options, creds) {
    const s = creds || session();
    if (!s) throw new ApiError(401, 'Not signed in.');
    const url = '/admin/v1/orgs/' + encodeURIComponent(s.org) + path;
    const res = await fetch(url, {
      method: (options && options.method) || 'GET',
      headers: { Authorization: 'Bearer ' + s.key, Accept: 'application/json' },
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null;
    }
    if (!res.ok) {
      const detail = body && typeof body.detail === 'string' ? body.detail : res.statusText;
      throw new ApiError(res.status, 'HTTP ' + res.status + ': ' + detail);
    }
    return body;
  }

  // An error of a page: a 401 (or a 404 of the org itself) ends the session.
  function failed(e) {
    if (e instanceof ApiError && e.status === 401) {
      signOut('The key was refused; sign in again.');
      return;
    }
    status(e.message || String(e), true);
  }

  // --- navigation ---------------------------------------------------------------------

  function show(page) {
    for (const p of PAGES) $('page-' + p).hidden = p !== page;
    const s = session();
    $('nav').hidden = page === 'login' || !s;
    for (const b of document.querySelectorAll('nav button[data-page]')) {
      b.classList.toggle('active', b.dataset.page === page);
    }
    $('who').textContent = s ? 'org ' + s.org : '';
    status('');
    if (page === 'conflicts') loadConflicts();
    if (page === 'login') $('login-org').focus();
    if (page === 'diagnose') $('diagnose-email').focus();
  }

  async function login(ev) {
    ev.preventDefault();
    const org = $('login-org').value.trim();
    const key = $('login-key').value.trim();
    $('login-key').value = '';
    if (!org || !key) return;
    status('Signing in…');
    try {
      await api('', {}, { org, key });
    } catch (e) {
      status(e.status === 401 || e.status === 404 ? 'Unknown organization or wrong key.' : e.message, true);
      return;
    }
    sessionStorage.setItem(ORG, org);
    sessionStorage.setItem(KEY, key);
    show('diagnose');
  }

  // --- Diagnose -----------------------------------------------------------------------

  async function diagnose(ev) {
    ev.preventDefault();
    const email = $('diagnose-email').value.trim();
    const out = $('diagnose-result');
    clear(out);
    if (!email) return;
    status('Diagnosing…');
    let d;
    try {
      d = await api('/diagnose?email=' + encodeURIComponent(email));
    } catch (e) {
      failed(e);
      return;
    }
    status('');
    renderDiagnosis(out, d);
  }

  function renderDiagnosis(out, d) {
    out.append(
      el('div', { className: 'verdict', id: 'diagnose-verdict' },
        el('p', { className: 'verdict-text' }, text(d.verdict)),
        el('p', { className: 'next' }, 'Next step: ', text(d.nextStep))),
      el('p', {}, 'Email ', el('span', { className: 'mono' }, text(d.email)), ' — ', text(d.kind)));

    out.append(el('h3', {}, 'Account'));
    const a = d.account;
    if (!a) {
      out.append(el('p', { className: 'empty' }, 'No account has this email.'));
    } else {
      const linked = a.linkedUser;
      out.append(table(['field', 'value'], [
        ['id', a.id],
        ['email', a.email],
        ['origin', a.origin],
        ['kind', a.kind],
        ['managed by', managedBy(a.managedBy)],
        ['status', a.status],
        ['display name', a.profile && a.profile.displayName],
        ['linked SCIM user', linked ? linked.directoryId + ' / ' + linked.id + ' (' + text(linked.userName) + ')' : null],
        ['synced groups', a.syncedGroups],
        ['admin groups', a.adminGroups],
        ['created', a.created],
        ['last modified', a.lastModified],
      ], 'diagnose-account'));
    }

    out.append(el('h3', {}, 'SCIM users'));
    const users = d.scimUsers || [];
    if (!users.length) out.append(el('p', { className: 'empty' }, 'No SCIM user has this email.'));
    else out.append(table(
      ['directory', 'id', 'userName', 'externalId', 'email', 'active', 'account', 'primary'],
      users.map((u) => [u.directoryId, u.id, text(u.userName), text(u.externalId), text(u.email),
        u.active ? 'yes' : 'no', text(u.accountId), u.primary ? 'yes' : 'no']),
      'diagnose-users'));

    out.append(el('h3', {}, 'Recent events'));
    const events = d.recentEvents || [];
    if (!events.length) out.append(el('p', { className: 'empty' }, 'No event for this email.'));
    else out.append(table(
      ['time', 'directory', 'source', 'operation', 'outcome', 'message'],
      events.map((e) => [e.time, text(e.directoryId), text(e.idp), e.operation, e.outcome, e.message]),
      'diagnose-events'));
  }

  // --- Conflicts ----------------------------------------------------------------------

  async function loadConflicts() {
    const out = $('conflicts-result');
    clear(out);
    status('Loading conflicts…');
    let r;
    try {
      r = await api('/conflicts');
    } catch (e) {
      failed(e);
      return;
    }
    status('');
    out.append(el('p', { id: 'conflicts-total' }, String(r.total), r.total === 1 ? ' held group' : ' held groups'));
    if (!r.conflicts.length) return;
    out.append(table(
      ['group', 'directory', 'product access', 'sites', 'added', 'removed', 'unchanged', 'unlinked', 'held since', 'state'],
      r.conflicts.map((c) => [
        el('td', { className: 'group-name' }, c.name),
        c.directoryId,
        text(c.roles),
        text(c.sites),
        el('td', { className: 'num added' }, '+' + c.added),
        el('td', { className: 'num removed' }, '−' + c.removed),
        el('td', { className: 'num' }, String(c.unchanged)),
        el('td', { className: 'num' }, String(c.unlinkedMembers)),
        c.since,
        c.rejected ? 'rejected' : c.canSync ? 'can sync' : 'blocked: ' + text(c.blockedBecause),
      ]),
      'conflicts-table'));
  }

  // --- start --------------------------------------------------------------------------

  function start() {
    $('login-form').addEventListener('submit', login);
    $('diagnose-form').addEventListener('submit', diagnose);
    $('conflicts-reload').addEventListener('click', loadConflicts);
    $('logout').addEventListener('click', () => signOut(''));
    for (const b of document.querySelectorAll('nav button[data-page]')) {
      b.addEventListener('click', () => show(b.dataset.page));
    }
    show(session() ? 'diagnose' : 'login');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
