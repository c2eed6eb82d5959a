// scimlink web console (docs/CONSOLE.md). Plain script, no framework, nothing from
// elsewhere. Everything an IdP or an admin controls is inserted as text (el() turns
// strings into text nodes); this file never assigns markup to an element.
'use strict';

(function () {
  const KEY = 'scimlink.key';
  const ORG = 'scimlink.org';
  // Set while "Sync all" runs: a reload finds it and offers to resume (each call resumes).
  const SYNC_ALL = 'scimlink.syncAll';
  const PAGES = ['login', 'directories', 'accounts', 'diagnose', 'conflicts', 'log', 'safeguard', 'subscriptions'];
  const REVIEW_PAGE = 50;

  // --- DOM helpers --------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  // el('td', {className: 'num'}, 'text', otherNode): only the properties in ATTRS are set
  // (never an event handler, never markup); children that are not nodes become text nodes.
  const ATTRS = ['id', 'className', 'type', 'title', 'hidden', 'value', 'readOnly', 'name', 'open', 'disabled'];
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

  // A button that runs `action` on click; its errors go to the status line.
  function button(label, action, attrs) {
    const b = el('button', Object.assign({ type: 'button' }, attrs || {}), label);
    b.addEventListener('click', () => {
      Promise.resolve()
        .then(action)
        .catch(failed);
    });
    return b;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  // A value from the API as text: strings as they are, null as a dash, anything else as JSON.
  function text(v) {
    if (v === null || v === undefined || v === '') return '—';
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (Array.isArray(v)) return v.length ? v.map(text).join(', ') : '—';
    if (typeof v === 'object' && typeof v.name === 'string') return v.name;
    if (typeof v === 'object' && typeof v.role === 'string') return v.role;
    return JSON.stringify(v);
  }

  // Who manages an account: the admin, or a directory (the lock: the IdP owns it, L-rules).
  function managedBy(m) {
    if (m && typeof m === 'object' && m.directory) {
      return el('span', { className: 'locked', title: 'managed by directory ' + m.directory },
        el('span', { className: 'lock' }), 'directory ' + m.directory);
    }
    if (m === 'admin') return 'admin';
    return text(m);
  }

  function table(headers, rows, id) {
    const t = el('table', id ? { id } : {});
    t.append(el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))));
    const body = el('tbody');
    for (const r of rows) {
      const tr = r instanceof Node ? r : el('tr', {}, r.map(cell));
      body.append(tr);
    }
    t.append(body);
    return t;
  }

  function cell(c) {
    if (c instanceof Node && c.tagName === 'TD') return c;
    return el('td', {}, c instanceof Node ? c : text(c));
  }

  function status(msg, isError) {
    const s = $('status');
    s.textContent = msg || '';
    s.className = isError ? 'error' : '';
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
    }
    const s = q.toString();
    return s ? '?' + s : '';
  }

  const enc = encodeURIComponent;

  // --- session ------------------------------------------------------------------------

  function session() {
    const key = sessionStorage.getItem(KEY);
    const org = sessionStorage.getItem(ORG);
    return key && org ? { key, org } : null;
  }

  function signOut(msg) {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(ORG);
    sessionStorage.removeItem(SYNC_ALL);
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
  // Answers the body; `withStatus` answers {status, body} (Sync all's 202).
  async function api(path, options, creds) {
    const o = options || {};
    const s = creds || session();
    if (!s) throw new ApiError(401, 'Not signed in.');
    const url = '/admin/v1/orgs/' + enc(s.org) + path;
    const headers = { Authorization: 'Bearer ' + s.key, Accept: 'application/json' };
    const init = {
      method: o.method || 'GET',
      headers,
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    };
    if (o.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(o.body);
    }
    const res = await fetch(url, init);
    let body = null;
    if (res.status !== 204) {
      try {
        body = await res.json();
      } catch (_) {
        body = null;
      }
    }
    if (!res.ok) {
      const detail = body && typeof body.detail === 'string' ? body.detail : res.statusText;
      throw new ApiError(res.status, 'HTTP ' + res.status + ': ' + detail);
    }
    return o.withStatus ? { status: res.status, body } : body;
  }

  // An error of a page: a 401 ends the session.
  function failed(e) {
    if (e instanceof ApiError && e.status === 401) {
      signOut('The key was refused; sign in again.');
      return;
    }
    status(e.message || String(e), true);
  }

  // --- confirmation and secrets (in the page: never window.confirm/alert) --------------

  // Shows `content` (what the dry run said) with Confirm / Cancel; resolves true on Confirm.
  function confirmPanel(title, content, confirmLabel) {
    const panel = $('confirm');
    clear(panel);
    return new Promise((resolve) => {
      const done = (ok) => {
        panel.hidden = true;
        clear(panel);
        resolve(ok);
      };
      const ok = el('button', { type: 'button', id: 'confirm-ok', className: 'primary' }, confirmLabel || 'Confirm');
      const cancel = el('button', { type: 'button', id: 'confirm-cancel' }, 'Cancel');
      ok.addEventListener('click', () => done(true));
      cancel.addEventListener('click', () => done(false));
      panel.append(el('h3', {}, title), el('div', { id: 'confirm-body' }, content), el('p', {}, ok, ' ', cancel));
      panel.hidden = false;
      panel.scrollIntoView({ block: 'nearest' });
    });
  }

  // A new secret, shown once in a read-only field: never stored; closing the panel clears it.
  function showSecret(title, secret, note) {
    const panel = $('secret');
    clear(panel);
    const field = el('input', { id: 'secret-value', readOnly: true, value: secret, type: 'text' });
    const copy = button('Copy', async () => {
      field.select();
      await navigator.clipboard.writeText(field.value);
      status('Copied.');
    });
    const close = button('Close', () => {
      field.value = '';
      clear(panel);
      panel.hidden = true;
    }, { id: 'secret-close' });
    panel.append(el('h3', {}, title), el('p', { className: 'note' }, note || 'Shown only now: copy it before closing.'),
      el('p', {}, field, ' ', copy, ' ', close));
    panel.hidden = false;
  }

  // --- navigation ---------------------------------------------------------------------

  const LOADERS = {
    directories: () => loadDirectories(),
    accounts: () => loadAccounts(null),
    conflicts: () => loadConflicts(),
    log: () => loadLog(null),
    safeguard: () => loadDirectoryChoice('safeguard-directory', loadSafeguard),
    subscriptions: () => loadSubscriptions(),
  };

  function show(page) {
    for (const p of PAGES) $('page-' + p).hidden = p !== page;
    const s = session();
    $('nav').hidden = page === 'login' || !s;
    for (const b of document.querySelectorAll('nav button[data-page]')) {
      b.classList.toggle('active', b.dataset.page === page);
    }
    $('who').textContent = s ? 'org ' + s.org : '';
    $('confirm').hidden = true;
    status('');
    if (LOADERS[page]) LOADERS[page]().catch(failed);
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

  // --- Directories and tokens -----------------------------------------------------------

  async function loadDirectories() {
    const out = clear($('directories-result'));
    status('Loading directories…');
    const [dirs, conflicts] = await Promise.all([api('/directories'), api('/conflicts')]);
    const list = dirs.directories || [];
    out.append(el('p', { id: 'directories-total' }, String(list.length), list.length === 1 ? ' directory' : ' directories'));
    for (const d of list) {
      const [tokens, guard] = await Promise.all([
        api('/directories/' + enc(d.id) + '/tokens'),
        api('/directories/' + enc(d.id) + '/safeguard').catch(() => null),
      ]);
      const held = conflicts.conflicts.filter((c) => c.directoryId === d.id).length;
      const box = el('div', { className: 'card directory', dataset: { directory: d.id } });
      box.append(
        el('h3', {}, d.name, ' ', el('span', { className: 'mono dim' }, d.id)),
        table(['IdP', 'SCIM base URL', 'created', 'tokens', 'held groups', 'held accounts'], [[
          d.idp,
          el('span', { className: 'mono scim-url' }, new URL(d.scimBaseUrl, location.origin).href),
          d.created,
          el('td', { className: 'num token-count' }, String(tokens.tokens.length)),
          el('td', { className: 'num' }, String(held)),
          el('td', { className: 'num' }, guard ? String(guard.held) : '—'),
        ]]),
        table(['token', 'created', ''], tokens.tokens.map((t) => [
          el('span', { className: 'mono token-id' }, t.id),
          t.created,
          el('td', {},
            button('Rotate', () => rotateToken(d, t), { className: 'rotate', dataset: { token: t.id } }), ' ',
            button('Revoke', () => revokeToken(d, t), { className: 'revoke', dataset: { token: t.id } })),
        ]), 'tokens-' + d.id),
        el('p', {}, button('New token', () => newToken(d), { className: 'new-token' })));
      out.append(box);
    }
    status('');
  }

  async function newToken(d) {
    const dry = await api('/directories/' + enc(d.id) + '/tokens?dryRun=true', { method: 'POST' });
    if (!(await confirmPanel('New SCIM token for ' + d.name, describe(dry), 'Create token'))) return;
    const t = await api('/directories/' + enc(d.id) + '/tokens', { method: 'POST' });
    await loadDirectories();
    showSecret('New SCIM token ' + t.id, t.token, t.note);
  }

  // Rotate = create a new token, then revoke the old one (the IdP must get the new one).
  async function rotateToken(d, old) {
    const path = '/directories/' + enc(d.id) + '/tokens';
    const dry = await api(path + '/' + enc(old.id) + '?dryRun=true', { method: 'DELETE' });
    const ok = await confirmPanel('Rotate token ' + old.id,
      [el('p', {}, 'A new token is created, then ', el('span', { className: 'mono' }, old.id),
        ' is revoked: the IdP stops working until it has the new one.'), describe(dry)], 'Rotate');
    if (!ok) return;
    const t = await api(path, { method: 'POST' });
    await api(path + '/' + enc(old.id), { method: 'DELETE' });
    await loadDirectories();
    showSecret('New SCIM token ' + t.id + ' (replaces ' + old.id + ')', t.token, t.note);
    status('Token ' + old.id + ' revoked; ' + t.id + ' created.');
  }

  async function revokeToken(d, t) {
    const path = '/directories/' + enc(d.id) + '/tokens/' + enc(t.id);
    const dry = await api(path + '?dryRun=true', { method: 'DELETE' });
    if (!(await confirmPanel('Revoke token ' + t.id, describe(dry), 'Revoke'))) return;
    await api(path, { method: 'DELETE' });
    await loadDirectories();
    status('Token ' + t.id + ' revoked.');
  }

  // A dry run's answer as a field/value table (nested values as text).
  function describe(v) {
    if (!v || typeof v !== 'object') return el('p', {}, text(v));
    return table(['field', 'value'], Object.entries(v).map(([k, x]) => [k, text(x)]));
  }

  // --- Accounts -------------------------------------------------------------------------

  async function loadAccounts(cursor) {
    const out = clear($('accounts-result'));
    status('Loading accounts…');
    const r = await api('/accounts' + query({ limit: 50, cursor }));
    status('');
    out.append(table(['email', 'origin', 'kind', 'managed by', 'status', 'linked SCIM user', ''],
      r.accounts.map((a) => [
        a.email, a.origin, a.kind, managedBy(a.managedBy), a.status,
        a.link ? a.link.directoryId + ' / ' + a.link.userId : '—',
        el('td', {}, button('Open', () => openAccount('/accounts/' + enc(a.id)))),
      ]), 'accounts-table'));
    const nav = el('p', {});
    if (cursor) nav.append(button('First page', () => loadAccounts(null)), ' ');
    if (r.nextCursor) nav.append(button('Next page', () => loadAccounts(r.nextCursor)));
    out.append(nav);
  }

  async function searchAccount(ev) {
    ev.preventDefault();
    const email = $('accounts-email').value.trim();
    if (!email) return loadAccounts(null);
    return openAccount('/links' + query({ email }));
  }

  async function openAccount(path) {
    const out = clear($('account-detail'));
    status('Loading the account…');
    const a = await api(path);
    const access = await api('/accounts/' + enc(a.id) + '/access');
    status('');
    out.append(
      el('h3', {}, a.email),
      accountTable(a, 'account-fields'),
      el('h4', {}, 'Access'),
      access.sources && access.sources.length
        ? table(['role', 'from'], access.sources.map((s) => [s.role, text(s.from)]), 'account-access')
        : el('p', { className: 'empty', id: 'account-access' }, 'No access.'));
  }

  // An account (AccountDetail) as a field/value table: who manages it, its link, its groups.
  function accountTable(a, id) {
    const linked = a.linkedUser;
    return table(['field', 'value'], [
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
    ], id);
  }

  // --- Diagnose -----------------------------------------------------------------------

  async function diagnose(ev) {
    ev.preventDefault();
    const email = $('diagnose-email').value.trim();
    const out = clear($('diagnose-result'));
    if (!email) return;
    status('Diagnosing…');
    const d = await api('/diagnose' + query({ email }));
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
      out.append(accountTable(a, 'diagnose-account'));
    }

    out.append(el('h3', {}, 'SCIM users'));
    const users = d.scimUsers || [];
    if (!users.length) out.append(el('p', { className: 'empty' }, 'No SCIM user has this email.'));
    else out.append(table(
      ['directory', 'id', 'userName', 'externalId', 'email', 'active', 'account', 'primary'],
      users.map((u) => [u.directoryId, u.id, u.userName, u.externalId, u.email,
        u.active ? 'yes' : 'no', u.accountId, u.primary ? 'yes' : 'no']),
      'diagnose-users'));

    out.append(el('h3', {}, 'Recent events'));
    const events = d.recentEvents || [];
    if (!events.length) out.append(el('p', { className: 'empty' }, 'No event for this email.'));
    else out.append(eventTable(events, 'diagnose-events'));
  }

  function eventTable(events, id) {
    return table(
      ['time', 'directory', 'source', 'operation', 'email', 'outcome', 'message'],
      events.map((e) => [e.time, e.directoryId, e.idp, e.operation, e.email,
        el('td', { className: 'outcome' }, e.outcome), e.message]),
      id);
  }

  // --- Conflicts ----------------------------------------------------------------------

  async function loadConflicts() {
    const out = clear($('conflicts-result'));
    status('Loading conflicts…');
    const r = await api('/conflicts');
    status('');
    out.append(el('p', { id: 'conflicts-total' }, String(r.total), r.total === 1 ? ' held group' : ' held groups'));
    if (sessionStorage.getItem(SYNC_ALL)) {
      out.append(el('p', { className: 'warning' }, 'A "Sync all" was interrupted. ',
        button('Resume sync all', () => runSyncAll(false), { id: 'sync-all-resume' })));
    }
    if (!r.conflicts.length) return;
    out.append(table(
      ['group', 'directory', 'product access', 'sites', 'added', 'removed', 'unchanged', 'unlinked', 'held since', 'state', ''],
      r.conflicts.map((c) => el('tr', { className: 'conflict', dataset: { directory: c.directoryId, group: c.groupId } },
        el('td', { className: 'group-name' }, c.name),
        cell(c.directoryId),
        cell(c.roles),
        cell(c.sites),
        el('td', { className: 'num added' }, '+' + c.added),
        el('td', { className: 'num removed' }, '−' + c.removed),
        el('td', { className: 'num' }, String(c.unchanged)),
        el('td', { className: 'num' }, String(c.unlinkedMembers)),
        cell(c.since),
        cell(c.rejected ? 'rejected' : c.canSync ? 'can sync' : 'blocked: ' + text(c.blockedBecause)),
        el('td', {}, button('Review', () => openReview(c.directoryId, c.groupId, 0), { className: 'review' })))),
      'conflicts-table'));
  }

  function conflictPath(d, g) {
    return '/conflicts/' + enc(d) + '/' + enc(g);
  }

  async function openReview(d, g, offset) {
    const out = clear($('conflict-review'));
    status('Loading the review…');
    const r = await api(conflictPath(d, g) + query({ offset, limit: REVIEW_PAGE }));
    status('');
    out.hidden = false;
    out.append(
      el('h3', {}, 'Group ', el('span', { className: 'group-name', id: 'review-name' }, r.name)),
      el('p', { className: 'note' }, 'In the admin API: ', el('span', { className: 'mono' }, text(r.review))),
      table(['directory', 'org group', 'product access', 'sites', 'added', 'removed', 'unchanged', 'unlinked', 'state'], [[
        r.directoryId, r.orgGroup, r.roles, r.sites,
        el('td', { className: 'num added', id: 'review-added-count' }, String(r.added)),
        el('td', { className: 'num removed', id: 'review-removed-count' }, String(r.removed)),
        el('td', { className: 'num' }, String(r.unchanged)),
        el('td', { className: 'num' }, String(r.unlinkedMembers)),
        r.rejected ? 'rejected' : r.canSync ? 'can sync' : 'blocked: ' + text(r.blockedBecause),
      ]]),
      el('h4', {}, 'Accounts added'),
      changeList(r.accountsAdded, 'review-added', 'gains'),
      el('h4', {}, 'Accounts removed'),
      changeList(r.accountsRemoved, 'review-removed', 'loses'));
    const pager = el('p', { className: 'pager' }, 'Accounts ', String(offset + 1), '–',
      String(offset + Math.max(r.accountsAdded.length, r.accountsRemoved.length)), ' ');
    if (offset > 0) pager.append(button('Previous', () => openReview(d, g, Math.max(0, offset - REVIEW_PAGE))), ' ');
    if (r.nextOffset !== null && r.nextOffset !== undefined) pager.append(button('Next', () => openReview(d, g, r.nextOffset), { id: 'review-next' }));
    out.append(pager, el('p', {},
      button('Sync', () => syncConflict(r), { id: 'review-sync', className: 'primary', disabled: !r.canSync }), ' ',
      button('Reject', () => rejectConflict(r), { id: 'review-reject', disabled: r.rejected }), ' ',
      button('Close', () => { clear(out); out.hidden = true; })));
    out.scrollIntoView({ block: 'nearest' });
  }

  // Accounts with their access change: each one expands to what it gains or loses and keeps.
  function changeList(changes, id, verb) {
    const list = el('ul', { id, className: 'changes' });
    if (!changes || !changes.length) return el('p', { id, className: 'empty' }, 'None.');
    for (const c of changes) {
      const delta = c[verb] || [];
      list.append(el('li', { dataset: { account: c.accountId } }, el('details', {},
        el('summary', {}, el('span', { className: 'email' }, c.email),
          c.status === 'suspended' ? ' (suspended)' : '', ' — ', verb, ' ', String(delta.length)),
        el('dl', {},
          el('dt', {}, verb), el('dd', { className: verb }, text(delta)),
          el('dt', {}, 'keeps'), el('dd', { className: 'keeps' }, (c.keeps || []).map((k) => text(k.role) + ' (' + text(k.from) + ')').join('; ') || '—')))));
    }
    return list;
  }

  async function syncConflict(r) {
    const path = conflictPath(r.directoryId, r.groupId);
    status('Dry run…');
    const dry = await api(path + '/sync?dryRun=true', { method: 'POST' });
    status('');
    const ok = await confirmPanel('Sync "' + r.name + '"', [
      el('p', {}, 'The IdP\'s membership replaces the org group\'s; the directory manages it from now on. ',
        String(dry.writes), ' writes.'),
      el('p', {}, el('span', { id: 'confirm-added-count' }, String(dry.accountsAdded.length)), ' accounts added, ',
        el('span', { id: 'confirm-removed-count' }, String(dry.accountsRemoved.length)), ' removed:'),
      el('h4', {}, 'Added'), changeList(dry.accountsAdded, 'confirm-added', 'gains'),
      el('h4', {}, 'Removed'), changeList(dry.accountsRemoved, 'confirm-removed', 'loses'),
    ], 'Sync');
    if (!ok) return;
    await api(path + '/sync', { method: 'POST' });
    clear($('conflict-review')).hidden = true;
    await loadConflicts();
    status('Synced "' + r.name + '".');
  }

  async function rejectConflict(r) {
    const path = conflictPath(r.directoryId, r.groupId) + '/reject';
    const dry = await api(path + '?dryRun=true', { method: 'POST' });
    const ok = await confirmPanel('Reject "' + r.name + '"',
      [el('p', {}, 'The group stays held and "Sync all" skips it.'), describe(dry)], 'Reject');
    if (!ok) return;
    await api(path, { method: 'POST' });
    clear($('conflict-review')).hidden = true;
    await loadConflicts();
    status('Rejected "' + r.name + '": it stays held.');
  }

  let stopSyncAll = false;

  async function syncAll() {
    const include = $('sync-all-rejected').checked;
    status('Dry run…');
    const dry = await api('/conflicts/sync-all' + query({ dryRun: 'true', includeRejected: include || null }), { method: 'POST' });
    status('');
    const ok = await confirmPanel('Sync all held groups', [
      el('p', {}, String(dry.total), ' held; ', String(dry.synced), ' would sync, ', String(dry.refused.length),
        ' refused, ', String(dry.skipped.length), ' skipped', dry.remaining ? ', ' + dry.remaining + ' not yet checked' : '', '.'),
      table(['group', 'added', 'removed', 'writes'], dry.syncedGroups.map((g) => [
        g.name, (g.accountsAdded || []).map((a) => a.email), (g.accountsRemoved || []).map((a) => a.email), g.writes,
      ])),
      dry.refused.length ? table(['refused', 'why'], dry.refused.map((g) => [g.name, g.reason])) : null,
      dry.skipped.length ? table(['skipped', 'why'], dry.skipped.map((g) => [g.name, g.reason])) : null,
    ], 'Sync all');
    if (ok) await runSyncAll(include);
  }

  // Calls sync-all until it answers 200: a 202 is progress ("call again to resume").
  async function runSyncAll(include) {
    stopSyncAll = false;
    sessionStorage.setItem(SYNC_ALL, '1');
    const progress = clear($('sync-all-progress'));
    progress.hidden = false;
    const line = el('span', { id: 'sync-all-line' }, 'Syncing…');
    progress.append(line, ' ', button('Stop', () => { stopSyncAll = true; }));
    let synced = 0;
    for (;;) {
      const r = await api('/conflicts/sync-all' + query({ includeRejected: include || null }), { method: 'POST', withStatus: true });
      synced += r.body.synced;
      line.textContent = synced + ' synced so far; ' + r.body.remaining + ' left' +
        (r.body.refused.length ? '; ' + r.body.refused.length + ' refused' : '');
      if (r.status !== 202) break;
      if (stopSyncAll) {
        line.textContent += ' (stopped: "Resume sync all" continues)';
        return;
      }
    }
    sessionStorage.removeItem(SYNC_ALL);
    progress.hidden = true;
    await loadConflicts();
    status('Sync all done: ' + synced + ' groups synced.');
  }

  // --- Log ------------------------------------------------------------------------------

  async function loadLog(cursor) {
    const out = clear($('log-result'));
    const f = $('log-form');
    status('Loading the log…');
    const r = await api('/events' + query({
      email: f.elements.email.value.trim(),
      outcome: f.elements.outcome.value,
      since: f.elements.since.value,
      until: f.elements.until.value,
      limit: 50,
      cursor,
    }));
    status('');
    out.append(r.events.length ? eventTable(r.events, 'log-table') : el('p', { className: 'empty' }, 'No event.'));
    const nav = el('p', {});
    if (cursor) nav.append(button('Newest', () => loadLog(null)), ' ');
    if (r.nextCursor) nav.append(button('Older', () => loadLog(r.nextCursor), { id: 'log-older' }));
    out.append(nav);
  }

  // --- Safeguard ------------------------------------------------------------------------

  // Fills a <select> with the org's directories, then calls `load` with the chosen one.
  async function loadDirectoryChoice(selectId, load) {
    const select = $(selectId);
    const previous = select.value;
    const r = await api('/directories');
    clear(select);
    for (const d of r.directories) select.append(el('option', { value: d.id }, d.name + ' (' + d.id + ')'));
    if (previous && r.directories.some((d) => d.id === previous)) select.value = previous;
    if (select.value) await load(select.value);
  }

  async function loadSafeguard(d) {
    const out = clear($('safeguard-result'));
    const path = '/directories/' + enc(d) + '/safeguard';
    const [g, holds] = await Promise.all([api(path), api(path + '/holds')]);
    const form = el('form', { id: 'safeguard-form' },
      el('label', {}, el('span', {}, 'enabled'), checkbox('enabled', g.enabled)),
      numberField('sharePercent', g.sharePercent), numberField('minCount', g.minCount),
      numberField('windowMinutes', g.windowMinutes),
      el('button', { type: 'submit' }, 'Save'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      saveSafeguard(d, form).catch(failed);
    });
    const w = g.window;
    // append() would insert null as the text "null": the optional parts are filtered out.
    out.append(...[
      el('p', {}, g.tripped ? el('strong', { className: 'error' }, 'Tripped: ' + text(g.tripped)) : 'Not tripped.',
        ' ', String(g.held), ' accounts held.'),
      form,
      el('p', { className: 'note' }, 'Recommended: ', text(JSON.stringify(g.recommended)),
        w ? '. Window since ' + text(w.start) + ': ' + w.counted + ' of ' + w.baselineUsers + ' counted, threshold ' + w.threshold : ''),
      el('h3', {}, 'Held accounts (', String(holds.total), ')'),
      holds.holds.length ? table(['email', 'since', 'suspension held', 'would lose', 'keeps', 'why'], holds.holds.map((h) => [
        h.email, h.since, h.suspensionHeld ? 'yes' : 'no', h.wouldLose, h.keptRoles, h.reasons,
      ]), 'holds-table') : el('p', { className: 'empty' }, 'Nothing held.'),
      holds.holds.length ? el('p', {},
        button('Approve all', () => decideHolds(d, 'approve')), ' ',
        button('Release all', () => decideHolds(d, 'release'))) : null,
    ].filter(Boolean));
  }

  function checkbox(name, checked) {
    const c = el('input', { type: 'checkbox', name });
    c.checked = Boolean(checked);
    return c;
  }

  function numberField(name, value) {
    return el('label', {}, name, el('input', { type: 'number', name, value: String(value) }));
  }

  async function saveSafeguard(d, form) {
    const body = {
      enabled: form.elements.enabled.checked,
      sharePercent: Number(form.elements.sharePercent.value),
      minCount: Number(form.elements.minCount.value),
      windowMinutes: Number(form.elements.windowMinutes.value),
    };
    const path = '/directories/' + enc(d) + '/safeguard';
    const dry = await api(path + '?dryRun=true', { method: 'PUT', body });
    if (!(await confirmPanel('Change the safeguard', describe(dry), 'Save'))) return;
    await api(path, { method: 'PUT', body });
    await loadSafeguard(d);
    status('Safeguard saved.');
  }

  async function decideHolds(d, decision) {
    const path = '/directories/' + enc(d) + '/safeguard/holds/' + decision;
    const dry = await api(path + '?dryRun=true', { method: 'POST' });
    const ok = await confirmPanel(decision === 'approve' ? 'Approve every hold' : 'Release every hold', [
      el('p', {}, String(dry.decided), ' accounts; ', String(dry.accountsLosingAccess), ' lose access.'),
      table(['email', 'suspension held', 'revoked'], dry.holds.map((h) => [h.email, h.suspensionHeld ? 'yes' : 'no', h.revoked])),
    ], decision === 'approve' ? 'Approve' : 'Release');
    if (!ok) return;
    let r;
    do {
      r = await api(path, { method: 'POST', withStatus: true });
      status(decision + ': ' + r.body.decided + ' decided, ' + r.body.remaining + ' left');
    } while (r.status === 202);
    await loadSafeguard(d);
  }

  // --- Event subscriptions --------------------------------------------------------------

  async function loadSubscriptions() {
    const out = clear($('subscriptions-result'));
    const r = await api('/subscriptions');
    out.append(r.subscriptions.length ? table(
      ['name', 'delivery', 'events', 'status', 'backlog', 'last success', 'last failure', ''],
      r.subscriptions.map((s) => {
        const p = '/subscriptions/' + enc(s.id);
        const ds = s.deliveryState || {};
        return [
          s.name,
          s.delivery.method === 'push' ? 'push ' + s.delivery.url : 'poll ' + s.pollUrl,
          s.allEvents ? 'all' : s.events,
          s.status, String(s.backlog), ds.lastSuccess, ds.lastFailure ? ds.lastFailure + ' ' + text(ds.lastError) : null,
          el('td', {},
            s.status === 'active'
              ? button('Pause', () => subscriptionAction(p + '/pause', 'Pause "' + s.name + '"'))
              : button('Resume', () => subscriptionAction(p + '/resume', 'Resume "' + s.name + '"')), ' ',
            button('Rotate secret', () => subscriptionAction(p + '/rotate-secret', 'Rotate the signing secret of "' + s.name + '"')), ' ',
            button('Delete', () => subscriptionAction(p, 'Delete "' + s.name + '"', 'DELETE'))),
        ];
      }), 'subscriptions-table') : el('p', { className: 'empty' }, 'No subscription.'));
  }

  async function subscriptionAction(path, title, method) {
    const m = method || 'POST';
    const dry = await api(path + '?dryRun=true', { method: m });
    if (!(await confirmPanel(title, describe(dry)))) return;
    const r = await api(path, { method: m });
    await loadSubscriptions();
    if (r && r.signingSecret) showSecret('New signing secret of ' + r.name, r.signingSecret, r.note);
    else status(title + ': done.');
  }

  async function createSubscription(ev) {
    ev.preventDefault();
    const f = $('subscription-form');
    const url = f.elements.url.value.trim();
    const body = {
      name: f.elements.name.value.trim(),
      delivery: url ? { method: 'push', url } : { method: 'poll' },
      events: f.elements.events.value.split(',').map((s) => s.trim()).filter(Boolean),
    };
    const dry = await api('/subscriptions?dryRun=true', { method: 'POST', body });
    if (!(await confirmPanel('New subscription "' + body.name + '"', describe(dry), 'Create'))) return;
    const s = await api('/subscriptions', { method: 'POST', body });
    f.reset();
    await loadSubscriptions();
    const secrets = 'signing secret: ' + s.signingSecret + (s.receiverToken ? '  receiver token: ' + s.receiverToken : '');
    showSecret('Subscription ' + s.name, secrets, s.note);
  }

  // --- start --------------------------------------------------------------------------

  // A form whose submit runs `action` (never posts: the script handles it).
  function onSubmit(id, action) {
    $(id).addEventListener('submit', (ev) => {
      Promise.resolve(action(ev)).catch(failed);
    });
  }

  function start() {
    $('login-form').addEventListener('submit', login);
    onSubmit('diagnose-form', diagnose);
    onSubmit('accounts-form', searchAccount);
    onSubmit('log-form', (ev) => {
      ev.preventDefault();
      return loadLog(null);
    });
    onSubmit('subscription-form', createSubscription);
    $('conflicts-reload').addEventListener('click', () => loadConflicts().catch(failed));
    $('sync-all').addEventListener('click', () => syncAll().catch(failed));
    $('safeguard-directory').addEventListener('change', (ev) => loadSafeguard(ev.target.value).catch(failed));
    $('logout').addEventListener('click', () => signOut(''));
    for (const b of document.querySelectorAll('nav button[data-page]')) {
      b.addEventListener('click', () => show(b.dataset.page));
    }
    show(session() ? 'diagnose' : 'login');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
