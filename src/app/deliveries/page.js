'use strict';
// Recent deliveries: polls deliveries.json for what is new and updates the table in place.
// Every value from a request is attacker-controlled: it only ever enters the DOM as text.
(function () {
  const REFRESH_MS = 2000;
  const rows = document.getElementById('rows');
  const routeSelect = document.getElementById('route');
  const outcomeSelect = document.getElementById('outcome');
  const live = document.getElementById('live');
  const status = document.getElementById('status');
  const updated = document.getElementById('updated');
  const empty = document.getElementById('empty');
  const LABELS = ['Time', 'Route', 'Outcome', 'Status', 'Source', 'Sender ids', 'Body',
    'Verify', 'App', 'Request id'];

  let lastId = 0;
  let generation = 0;
  let timer = null;
  let inFlight = false;
  const shown = [];  // newest first: { id, row, detail }

  const params = new URLSearchParams(window.location.search);
  if (params.get('route')) addOption(routeSelect, params.get('route'));
  routeSelect.value = params.get('route') || '';
  if (params.get('outcome')) {
    outcomeSelect.value = params.get('outcome');
    if (outcomeSelect.value !== params.get('outcome')) outcomeSelect.value = '';
  }

  function node(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = String(text);
    return element;
  }

  function addOption(select, value) {
    for (const option of select.options) if (option.value === value) return;
    const option = node('option', null, value);
    option.value = value;
    select.appendChild(option);
  }

  function millis(value) {
    if (value === null || value === undefined) return '—';
    if (value < 1) return value.toFixed(2) + ' ms';
    if (value < 100) return value.toFixed(1) + ' ms';
    return Math.round(value) + ' ms';
  }

  function bytes(value) {
    if (value === null || value === undefined) return '—';
    if (value < 1024) return value + ' B';
    if (value < 1024 * 1024) return (value / 1024).toFixed(1) + ' KiB';
    return (value / 1024 / 1024).toFixed(1) + ' MiB';
  }

  function clock(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    const pad = (n, width) => String(n).padStart(width, '0');
    return pad(date.getHours(), 2) + ':' + pad(date.getMinutes(), 2) + ':' +
      pad(date.getSeconds(), 2) + '.' + pad(date.getMilliseconds(), 3);
  }

  function cell(row, label, content) {
    const td = node('td');
    td.dataset.label = label;
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    row.appendChild(td);
    return td;
  }

  function detailRow(delivery) {
    const tr = node('tr', 'detail');
    tr.id = 'delivery-' + delivery.id;
    const td = node('td');
    td.colSpan = LABELS.length;
    td.appendChild(node('h2', null, 'Headers of request ' + delivery.request_id));
    td.appendChild(node('p', 'muted', delivery.method + ' ' + delivery.path + ' · from ' +
      delivery.source + ' · ' + millis(delivery.total_ms) + ' in hookwall'));
    const table = node('table', 'headers');
    const head = node('thead');
    const headRow = node('tr');
    for (const title of ['Header', 'Value']) {
      const th = node('th', null, title);
      th.scope = 'col';
      headRow.appendChild(th);
    }
    head.appendChild(headRow);
    table.appendChild(head);
    const body = node('tbody');
    for (const header of delivery.headers) {
      const row = node('tr');
      const name = node('th', null, header.name);
      name.scope = 'row';
      row.appendChild(name);
      const value = node('td', header.value === '[masked]' ? 'masked' : null, header.value);
      row.appendChild(value);
      body.appendChild(row);
    }
    table.appendChild(body);
    td.appendChild(table);
    if (delivery.headers_omitted > 0) {
      td.appendChild(node('p', 'muted', delivery.headers_omitted +
        ' more header(s) not kept (the page keeps at most 40 and 4 KiB per request).'));
    }
    if (typeof delivery.body_preview === 'string') {
      td.appendChild(node('h3', null, 'Body preview (embedded development default only)'));
      td.appendChild(node('pre', 'preview', delivery.body_preview));
    }
    tr.appendChild(td);
    return tr;
  }

  function toggle(entry) {
    const button = entry.row.querySelector('button.open');
    if (entry.detail) {
      entry.detail.remove();
      entry.detail = null;
      button.setAttribute('aria-expanded', 'false');
    } else {
      entry.detail = detailRow(entry.delivery);
      entry.row.after(entry.detail);
      button.setAttribute('aria-expanded', 'true');
    }
  }

  function deliveryRow(delivery) {
    const tr = node('tr', 'delivery');
    tr.dataset.id = String(delivery.id);
    tr.dataset.outcome = delivery.outcome;
    tr.dataset.accepted = String(delivery.accepted);
    const open = node('button', 'open', clock(delivery.time));
    open.type = 'button';
    open.title = delivery.time;
    open.setAttribute('aria-expanded', 'false');
    open.setAttribute('aria-controls', 'delivery-' + delivery.id);
    open.setAttribute('aria-label', 'Headers of the delivery at ' + delivery.time);
    cell(tr, LABELS[0], open);
    cell(tr, LABELS[1], delivery.route);
    const outcome = node('span');
    outcome.appendChild(node('span', 'badge ' + (delivery.accepted ? 'ok' : 'bad'),
      delivery.outcome.replace(/_/g, ' ')));
    if (delivery.reason) outcome.appendChild(node('span', 'reason', delivery.reason));
    cell(tr, LABELS[2], outcome);
    cell(tr, LABELS[3], delivery.status);
    cell(tr, LABELS[4], delivery.source);
    const ids = node('span', 'ids');
    for (const id of delivery.sender_ids) {
      const line = node('span');
      line.appendChild(node('b', null, id.name.replace(/^x-vwd-/, '') + ': '));
      line.appendChild(document.createTextNode(id.value));
      ids.appendChild(line);
    }
    cell(tr, LABELS[5], delivery.sender_ids.length ? ids : '—');
    cell(tr, LABELS[6], bytes(delivery.body_bytes));
    cell(tr, LABELS[7], millis(delivery.verify_ms));
    cell(tr, LABELS[8], millis(delivery.app_ms));
    cell(tr, LABELS[9], node('code', null, delivery.request_id));
    const entry = { id: delivery.id, delivery: delivery, row: tr, detail: null };
    tr.addEventListener('click', function (event) {
      if (event.target.closest('button') !== open && window.getSelection().toString()) return;
      if (event.target.closest('tr.detail')) return;
      toggle(entry);
    });
    open.addEventListener('click', function (event) {
      event.stopPropagation();
      toggle(entry);
    });
    return entry;
  }

  function apply(data) {
    for (const route of data.routes) addOption(routeSelect, route);
    const fresh = data.deliveries.map(deliveryRow);
    const fragment = document.createDocumentFragment();
    for (const entry of fresh) fragment.appendChild(entry.row);
    rows.insertBefore(fragment, rows.firstChild);
    shown.unshift(...fresh);
    if (fresh.length) lastId = Math.max(lastId, fresh[0].id);
    // Rows the server no longer keeps go too, so the page never outgrows the ring.
    while (shown.length && (shown.length > data.capacity ||
        (data.oldest_id !== null && shown[shown.length - 1].id < data.oldest_id))) {
      const gone = shown.pop();
      gone.row.remove();
      if (gone.detail) gone.detail.remove();
    }
    empty.hidden = shown.length > 0;
    status.textContent = shown.length + ' shown · ' + data.recorded +
      ' recorded since start · the last ' + data.capacity + ' kept';
    updated.textContent = 'Updated ' + clock(new Date().toISOString());
  }

  function query() {
    const q = new URLSearchParams();
    if (routeSelect.value) q.set('route', routeSelect.value);
    if (outcomeSelect.value) q.set('outcome', outcomeSelect.value);
    return q;
  }

  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    const asked = generation;
    const q = query();
    if (lastId) q.set('after', String(lastId));
    try {
      const response = await fetch('deliveries.json?' + q.toString(),
        { cache: 'no-store', headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error('HTTP ' + response.status);
      const data = await response.json();
      if (asked === generation) apply(data);
    } catch (error) {
      status.textContent = 'Could not load deliveries: ' + error.message;
    } finally {
      inFlight = false;
      schedule();
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (live.checked && !document.hidden) timer = setTimeout(refresh, REFRESH_MS);
  }

  function restart() {
    generation += 1;
    lastId = 0;
    shown.length = 0;
    rows.replaceChildren();
    const q = query().toString();
    window.history.replaceState(null, '', q ? '?' + q : window.location.pathname);
    inFlight = false;
    refresh();
  }

  routeSelect.addEventListener('change', restart);
  outcomeSelect.addEventListener('change', restart);
  live.addEventListener('change', function () { if (live.checked) refresh(); else schedule(); });
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && live.checked) refresh();
  });
  refresh();
}());
