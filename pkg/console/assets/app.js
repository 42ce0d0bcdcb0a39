// p4ctl console: four read-only pages over the console's JSON and
// server-sent events (docs/console.md). No framework, nothing loaded from
// elsewhere; every value from the controller is put in the page as text.
'use strict';

const SVGNS = 'http://www.w3.org/2000/svg';

// h builds an element: h('td', {class: 'num'}, 'text', child, ...).
function h(tag, attrs, ...kids) {
  const el = tag.startsWith('svg:') ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids.flat()) {
    if (k === undefined || k === null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

const $ = (sel) => document.querySelector(sel);

// put replaces el's children, leaving out null and false.
function put(el, ...kids) {
  el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

// fill puts rows in tbody, or one row saying none.
function fill(tbody, rows, none) {
  if (!rows.length && none) {
    const cols = tbody.parentElement.querySelectorAll('thead th').length || 1;
    rows = [h('tr', {class: 'none'}, h('td', {colspan: cols, class: 'hint'}, none))];
  }
  put(tbody, rows);
}

async function getJSON(url) {
  const r = await fetch(url, {headers: {Accept: 'application/json'}});
  let body;
  try { body = await r.json(); } catch (e) { body = {error: r.status + ' ' + r.statusText}; }
  if (!r.ok) throw new Error(body.error || (r.status + ' ' + r.statusText));
  return body;
}

function showError(err) {
  const el = $('#error');
  if (!err) { el.hidden = true; return; }
  el.textContent = String(err.message || err);
  el.hidden = false;
}

function plural(n, what) { return n + ' ' + what + (n === 1 ? '' : 's'); }

function yesno(b) { return h('span', {class: b ? 'yes' : 'no'}, b ? 'yes' : 'no'); }

function ago(ms) {
  if (!ms) return '-';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + 's ago';
  if (s < 3600) return Math.round(s / 60) + 'm ago';
  return new Date(ms).toLocaleString();
}

function labelText(l) {
  const ks = Object.keys(l || {}).sort();
  return ks.length ? ks.map((k) => k + '=' + l[k]).join(', ') : '';
}

// Streams: EventSource reconnects by itself (the server asks for 1s),
// sending the last event id; the badge says whether updates flow.
const streams = {};
function openStream(name, url, handlers) {
  closeStream(name);
  const es = new EventSource(url);
  streams[name] = es;
  es.onopen = () => setLive();
  es.onerror = () => setLive();
  es.addEventListener('error', (ev) => {
    if (ev.data) {
      try { showError('live updates: ' + JSON.parse(ev.data).error + ' (reconnecting)'); } catch (e) { /* not ours */ }
    }
  });
  for (const [ev, fn] of Object.entries(handlers)) {
    es.addEventListener(ev, (m) => { showError(null); fn(JSON.parse(m.data), m); });
  }
  return es;
}
function closeStream(name) {
  if (streams[name]) { streams[name].close(); delete streams[name]; }
  setLive();
}
function setLive() {
  const all = Object.values(streams);
  const open = all.length > 0 && all.every((s) => s.readyState === EventSource.OPEN);
  const el = $('#live');
  el.textContent = open ? 'live' : (all.length ? 'reconnecting' : 'idle');
  el.classList.toggle('off', !open);
}

// ---- Fabric ----

let fabric = null;
let selectedDevice = null;

function deviceState(d) {
  if (!d.connected || d.last_error) return 'bad';
  return d.in_sync ? 'ok' : 'warn';
}

function renderFabric(v) {
  fabric = v;
  const members = v.members.map((m) => m.id + (m.leader ? ' (leader)' : '') + (m.down ? ' (down)' : '')).join(', ');
  $('#fabric-summary').textContent = `${plural(v.devices.length, 'device')}, ${plural(v.links.length, 'link')}, ${plural(v.hosts.length, 'host')}; ` +
    `model revision ${v.revision}; answered by ${v.node}; members: ${members || '-'}`;
  $('#where').textContent = 'node ' + v.node + (v.leader ? ' · leader ' + v.leader : '');
  renderGraph(v);
  fill($('#devices tbody'), v.devices.map((d) => h('tr', {'data-device': d.name, class: d.name === selectedDevice ? 'selected' : null,
    onclick: () => showDevice(d.name)},
    h('td', {}, h('strong', {}, d.name), h('span', {class: 'labels'}, d.address)),
    h('td', {}, d.target), h('td', {}, d.master || '-'),
    h('td', {}, yesno(d.connected)), h('td', {}, yesno(d.primary)), h('td', {}, yesno(d.in_sync), !d.in_sync && d.queued && ' (queued)'),
    h('td', {class: 'num'}, d.entries.toLocaleString()),
    h('td', {}, d.denial_log || '-'),
    h('td', {class: 'err'}, d.last_error || ''))));
  fill($('#links tbody'), v.links.map((l) => h('tr', {'data-link': `${l.a}/${l.a_port}-${l.b}/${l.b_port}`}, h('td', {}, l.a), h('td', {class: 'num'}, l.a_port),
    h('td', {}, l.b), h('td', {class: 'num'}, l.b_port), h('td', {}, l.source + (l.both_ways ? ', both ways' : ', one way')),
    h('td', {}, ago(l.last_seen_unix_ms)))),
  'No switch-to-switch link learned (LLDP through the pipeline).');
  fill($('#hosts tbody'), v.hosts.map((x) => h('tr', {'data-host': x.host}, h('td', {}, x.host), h('td', {}, x.device), h('td', {class: 'num'}, x.port),
    h('td', {}, x.interface), h('td', {}, x.source), h('td', {}, ago(x.last_seen_unix_ms)))),
  'No host seen on a device port (LLDP, gNMI neighbors).');
  if (selectedDevice) showDevice(selectedDevice, true);
}

// renderGraph draws devices on an ellipse, links between them and hosts
// fanned out below their device.
function renderGraph(v) {
  const svg = $('#fabric-graph');
  const W = 900, H = 360, cx = W / 2, cy = 150;
  const n = v.devices.length;
  const pos = {};
  v.devices.forEach((d, i) => {
    if (n === 1) { pos[d.name] = [cx, cy]; return; }
    if (n === 2) { pos[d.name] = [cx + (i ? 200 : -200), cy]; return; }
    const a = -Math.PI / 2 + 2 * Math.PI * i / n;
    pos[d.name] = [cx + 320 * Math.cos(a) * (n > 2 ? 1 : 0.6), cy + 100 * Math.sin(a)];
  });
  const kids = [];
  for (const l of v.links) {
    if (!pos[l.a] || !pos[l.b]) continue;
    const [x1, y1] = pos[l.a], [x2, y2] = pos[l.b];
    kids.push(h('svg:line', {class: 'link' + (l.both_ways ? '' : ' oneway'), x1, y1, x2, y2}, h('svg:title', {}, `${l.a}:${l.a_port} - ${l.b}:${l.b_port} (${l.source})`)));
    kids.push(h('svg:text', {x: x1 + (x2 - x1) * 0.2, y: y1 + (y2 - y1) * 0.2 - 8, class: 'small'}, String(l.a_port)));
    kids.push(h('svg:text', {x: x1 + (x2 - x1) * 0.8, y: y1 + (y2 - y1) * 0.8 - 8, class: 'small'}, String(l.b_port)));
  }
  const byDev = {};
  for (const x of v.hosts) (byDev[x.device] = byDev[x.device] || []).push(x);
  for (const [dev, hosts] of Object.entries(byDev)) {
    if (!pos[dev]) continue;
    const [dx, dy] = pos[dev];
    hosts.forEach((x, i) => {
      const hx = dx + (i - (hosts.length - 1) / 2) * 70, hy = Math.min(H - 30, dy + 120);
      kids.push(h('svg:line', {class: 'hostlink', x1: dx, y1: dy + 20, x2: hx, y2: hy - 10}));
      kids.push(h('svg:g', {class: 'host'},
        h('svg:circle', {cx: hx, cy: hy, r: 9}),
        h('svg:text', {x: hx, y: hy + 24, class: 'small'}, `${x.host} @${x.port}`),
        h('svg:title', {}, `${x.host} on ${x.device} port ${x.port} (${x.source})`)));
    });
  }
  for (const d of v.devices) {
    const [x, y] = pos[d.name];
    const state = deviceState(d);
    kids.push(h('svg:g', {class: `device ${state}` + (d.name === selectedDevice ? ' selected' : ''), 'data-device': d.name,
      transform: `translate(${x - 70},${y - 22})`, onclick: () => showDevice(d.name)},
      h('svg:rect', {width: 140, height: 44}),
      h('svg:text', {x: 70, y: 18}, d.name),
      h('svg:text', {x: 70, y: 34, class: 'small'}, `${d.target} · ${d.entries} entries`),
      h('svg:title', {}, `${d.name} (${d.address}): ${d.connected ? 'connected' : 'not connected'}, ` +
        `${d.primary ? 'primary' : 'not primary'}, ${d.in_sync ? 'in sync' : 'not in sync'}, master ${d.master || '-'}` +
        (d.last_error ? `; last error: ${d.last_error}` : ''))));
  }
  if (n === 0) kids.push(h('svg:text', {x: cx, y: cy}, 'no devices in the model'));
  put(svg, kids);
}

async function showDevice(name, quiet) {
  selectedDevice = name;
  document.querySelectorAll('#devices tbody tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.device === name));
  document.querySelectorAll('#fabric-graph .device').forEach((g) => g.classList.toggle('selected', g.dataset.device === name));
  const box = $('#device-detail');
  try {
    const d = await getJSON('/api/v1/devices/' + encodeURIComponent(name));
    const used = d.tables.filter((t) => t.entries > 0 || t.size > 0);
    put(box,
      h('h2', {}, `Tables of ${d.name} `, h('span', {class: 'sub'}, `${d.target}, pipeline ${d.pipeline_cookie || '-'}, model index ${d.model_index}`)),
      d.pipeline_error ? h('p', {class: 'error'}, 'table sizes unknown: ' + d.pipeline_error) : null,
      h('table', {class: 'grid', id: 'device-tables'},
        h('thead', {}, h('tr', {}, h('th', {}, 'table'), h('th', {class: 'num'}, 'entries'), h('th', {class: 'num'}, 'size'), h('th', {}, 'fill'))),
        h('tbody', {}, used.map((t) => {
          const bar = h('span', {});
          bar.style.width = Math.min(100, 100 * t.fill).toFixed(2) + '%';
          return h('tr', {}, h('td', {}, t.table), h('td', {class: 'num'}, t.entries.toLocaleString()),
            h('td', {class: 'num'}, t.size ? t.size.toLocaleString() : '?'),
            h('td', {}, h('div', {class: 'fill' + (t.fill > 0.8 ? ' high' : ''), title: (100 * t.fill).toFixed(2) + '%'}, bar),
              h('span', {class: 'labels'}, (100 * t.fill).toFixed(3) + '%')));
        }))));
    box.hidden = false;
  } catch (e) {
    if (!quiet) showError(e);
  }
}

async function loadFabric() {
  renderFabric(await getJSON('/api/v1/fabric'));
  openStream('events', '/api/v1/events?fabric=1', {
    fabric: renderFabric,
    model: () => {},
  });
}

// ---- Segments ----

let segments = null;

function renderSegments(v) {
  segments = v;
  const sel = $('#service-filter');
  const want = sel.value;
  const labels = [...new Set(v.segments.flatMap((s) => s.services.map((x) => x.label)))];
  put(sel, h('option', {value: ''}, 'every service'), labels.map((l) => h('option', {value: l, selected: l === want}, l)));
  const only = sel.value;
  put($('#segments'), v.segments.map((s) => renderSegment(s, only)));
}

function decisionEl(seg, cell, d, svc) {
  const cls = 'decision ' + (d.default ? 'default ' : '') + d.verdict;
  return h('span', {class: cls, 'data-service': svc.label, 'data-verdict': d.verdict, 'data-policy': d.policy || '',
    'data-default': d.default ? 'true' : 'false', 'data-reply': d.reply ? 'true' : null,
    title: d.reply ? 'allowed as the reply of the reverse direction\'s allow rule; click to trace' : 'click to trace a packet of this service',
    onclick: (ev) => { ev.stopPropagation(); traceCell(seg, cell, svc); }},
  `${svc.label} ${d.verdict} `, h('span', {class: 'policy'}, d.default ? 'default' : d.policy + (d.reply ? ' (reply)' : '')));
}

function renderSegment(s, only) {
  const ids = s.identities;
  const head = h('tr', {}, h('th', {}, 'from \\ to'), ids.map((id) => h('th', {'data-identity': id.key},
    id.key || '(no labels)', h('span', {class: 'eps'}, `${id.endpoints.length} endpoint${id.endpoints.length === 1 ? '' : 's'}`))));
  const rows = ids.map((a, i) => h('tr', {}, h('th', {'data-identity': a.key}, a.key || '(no labels)',
    h('span', {class: 'eps'}, a.endpoints.join(', '))),
  ids.map((b, j) => {
    const cell = s.matrix[i * ids.length + j];
    const ds = cell.decisions.map((d) => [d, s.services[d.service]]);
    let shown;
    if (only) {
      shown = ds.filter(([, svc]) => svc.label === only);
    } else {
      // Every service a rule decides, then what the rest gets.
      shown = ds.filter(([d, svc]) => !d.default || svc.label === 'other');
    }
    const dflt = shown.every(([d]) => d.default);
    return h('td', {class: dflt ? 'default' : null, 'data-from': a.key, 'data-to': b.key},
      shown.map(([d, svc]) => decisionEl(s, cell, d, svc)));
  })));
  const acl = s.acl.length ? h('div', {}, h('h3', {}, 'Infrastructure rules ', h('span', {class: 'sub'}, 'CIDR policies: the ACL, consulted before the identity policy')),
    h('table', {class: 'grid'}, h('thead', {}, h('tr', {}, h('th', {}, 'policy'), h('th', {}, 'from'), h('th', {}, 'to'), h('th', {}, 'rules'))),
      h('tbody', {}, s.acl.map((a) => h('tr', {}, h('td', {}, a.policy), h('td', {}, a.from), h('td', {}, a.to), h('td', {}, a.rules.join('; '))))))) : null;
  return h('div', {class: 'card segment', 'data-segment': s.name},
    h('h2', {}, `Segment ${s.name}`, h('span', {class: 'sub'}, `id ${s.id}, default ${s.default}, ${s.ports} ports, ${ids.length} identities`)),
    s.truncated ? h('p', {class: 'hint'}, `More than the console draws (${ids.length} identities): use p4ctl trace.`) :
      ids.length ? h('table', {class: 'matrix'}, h('thead', {}, head), h('tbody', {}, rows)) : h('p', {class: 'hint'}, 'No endpoints.'),
    acl);
}

async function traceCell(seg, cell, svc) {
  const a = seg.identities[cell.from], b = seg.identities[cell.to];
  const q = new URLSearchParams({from: a.key, to: b.key, service: svc.label});
  const box = $('#trace');
  box.hidden = false;
  put(box, h('h2', {}, 'Trace'), h('p', {class: 'hint'}, 'tracing...'));
  try {
    const t = await getJSON(`/api/v1/segments/${encodeURIComponent(seg.name)}/trace?` + q);
    const p = t.packet;
    const exp = t.expected;
    put(box,
      h('h2', {}, `Trace: ${a.key || '(no labels)'} → ${b.key || '(no labels)'}, ${svc.label}`),
      h('p', {}, `${p.src_endpoint} (${p.src}) → ${p.dst_endpoint} (${p.dst}), ${p.proto}` + (p.dport ? `/${p.dport}` : '') +
        `, on ${p.device} port ${p.in_port}`),
      h('p', {id: 'trace-verdict'}, 'verdict ', h('span', {class: 'verdict-' + t.verdict}, t.verdict), `: ${t.reason}`,
        t.policy ? h('span', {}, ' — policy ', h('strong', {}, t.policy)) : null,
        t.ports.length ? ` — out of port ${t.ports.join(', ')}` : ''),
      exp ? h('p', {class: t.agrees ? 'hint' : 'error'}, t.agrees ? 'The trace agrees with the matrix.' :
        `The matrix says ${exp.verdict} (${exp.default ? 'segment default' : exp.policy}); the packet's way differs (ports' PVLAN roles, ACL or placement).`) : null,
      t.note ? h('p', {class: 'hint'}, t.note) : null,
      h('table', {class: 'grid'}, h('thead', {}, h('tr', {}, h('th', {}, 'table'), h('th', {}, 'entry'), h('th', {}, 'from'))),
        h('tbody', {id: 'trace-entries'}, t.entries.map((e) => h('tr', {}, h('td', {}, e.table), h('td', {}, h('code', {}, e.entry)), h('td', {}, e.from.join(', ')))))));
    box.scrollIntoView({block: 'nearest'});
  } catch (e) {
    put(box, h('h2', {}, 'Trace'), h('p', {class: 'error'}, String(e.message || e)));
  }
}

async function loadSegments() {
  renderSegments(await getJSON('/api/v1/segments'));
  openStream('events', '/api/v1/events', {
    model: async (m) => { if (!segments || m.index !== segments.revision) renderSegments(await getJSON('/api/v1/segments')); },
  });
}

// ---- Traffic ----

const denials = new Map();
let countersView = null, zero = null;

function denialRow(d, fresh) {
  return h('tr', {class: fresh ? 'fresh' : null, 'data-key': d.key, 'data-src': d.src_endpoint, 'data-dst': d.dst_endpoint, 'data-policy': d.policy},
    h('td', {}, ago(d.last_unix_ms)), h('td', {}, d.device, h('span', {class: 'labels'}, `port ${d.in_port}, ${d.segment}`)),
    h('td', {}, d.src_endpoint || d.src, h('span', {class: 'labels'}, d.src + (labelText(d.src_labels) ? ' · ' + labelText(d.src_labels) : ''))),
    h('td', {}, d.dst_endpoint || d.dst, h('span', {class: 'labels'}, d.dst + (labelText(d.dst_labels) ? ' · ' + labelText(d.dst_labels) : ''))),
    h('td', {}, d.proto + (d.dport ? '/' + d.dport : '')), h('td', {}, d.denied_by),
    h('td', {}, d.policy || (d.denied_by === 'default' ? 'segment default' : '-')),
    h('td', {class: 'num'}, d.count), h('td', {class: d.trace_disagrees ? 'err' : null}, d.trace));
}

function renderDenials(freshKey) {
  const rows = [...denials.values()].sort((a, b) => b.last_unix_ms - a.last_unix_ms);
  fill($('#denials tbody'), rows.map((d) => denialRow(d, d.key === freshKey)));
  $('#denials-empty').hidden = rows.length > 0;
}

// formQuery is a filter form's fields as a query, leaving out empty ones.
function formQuery(form) {
  const f = new FormData(form);
  const q = new URLSearchParams();
  for (const [k, v] of f.entries()) if (String(v).trim()) q.set(k, String(v).trim());
  return q;
}

function denialQuery() { return formQuery($('#denial-filter')); }

async function startDenials() {
  const q = denialQuery();
  const err = $('#denial-error');
  denials.clear();
  try {
    // The snapshot first: a bad filter is refused here with its reason.
    const v = await getJSON('/api/v1/denials?' + q);
    err.hidden = true;
    let since = 0;
    for (const d of v.denials) { denials.set(d.key, d); since = Math.max(since, d.last_unix_ms); }
    renderDenials();
    if (since) q.set('since', String(since));
    openStream('denials', '/api/v1/denials/stream?' + q, {
      denial: (d) => { denials.set(d.key, d); renderDenials(d.key); },
    });
  } catch (e) {
    closeStream('denials');
    renderDenials();
    err.textContent = String(e.message || e);
    err.hidden = false;
  }
}

// The flow log: allowed and denied flow starts, newest first; the page
// shows the newest FLOW_ROWS and keeps at most FLOW_KEEP.
const flows = new Map();
const FLOW_ROWS = 200, FLOW_KEEP = 2000;

function flowRow(f, fresh) {
  const deciding = f.policy ? h('span', {}, f.policy) :
    f.decided_by === 'acl' ? h('span', {}, 'acl') : h('span', {class: 'default-mark'}, 'default');
  return h('tr', {class: fresh ? 'fresh' : null, 'data-key': f.key, 'data-src': f.src_endpoint, 'data-dst': f.dst_endpoint,
    'data-verdict': f.verdict, 'data-policy': f.policy},
    h('td', {}, ago(f.last_unix_ms)), h('td', {}, f.device, h('span', {class: 'labels'}, `port ${f.in_port}, ${f.segment}`)),
    h('td', {}, f.src_endpoint || f.src, h('span', {class: 'labels'}, f.src + (labelText(f.src_labels) ? ' · ' + labelText(f.src_labels) : ''))),
    h('td', {}, f.dst_endpoint || f.dst, h('span', {class: 'labels'}, f.dst + (labelText(f.dst_labels) ? ' · ' + labelText(f.dst_labels) : ''))),
    h('td', {}, f.proto + (f.dport ? '/' + f.dport : '')),
    h('td', {class: 'flow-verdict'}, h('span', {class: 'verdict-' + f.verdict}, f.verdict),
      h('span', {class: 'labels'}, 'switch: ' + (f.decided_by === 'default' ? 'segment default' : f.decided_by))),
    h('td', {class: 'flow-policy'}, deciding, f.reply ? ' (reply)' : null,
      f.model_disagrees ? h('span', {class: 'labels err'}, 'the model now decides otherwise') : null),
    h('td', {class: 'flow-staged' + (f.would_be && f.staged_verdict !== f.verdict ? ' err' : '')}, f.would_be || ''),
    h('td', {class: 'num'}, f.count));
}

function renderFlows(freshKey) {
  let rows = [...flows.values()].sort((a, b) => b.last_unix_ms - a.last_unix_ms);
  if (rows.length > FLOW_KEEP) {
    for (const f of rows.slice(FLOW_KEEP)) flows.delete(f.key);
    rows = rows.slice(0, FLOW_KEEP);
  }
  fill($('#flows tbody'), rows.slice(0, FLOW_ROWS).map((f) => flowRow(f, f.key === freshKey)));
  $('#flows-empty').hidden = rows.length > 0;
  const note = $('#flows-note');
  note.hidden = rows.length <= FLOW_ROWS;
  note.textContent = `The newest ${FLOW_ROWS} of ${rows.length} flows shown; filter for the others.`;
}

async function startFlows() {
  const q = formQuery($('#flow-filter'));
  const err = $('#flow-error');
  flows.clear();
  try {
    // The snapshot first: a bad filter is refused here with its reason.
    const snap = new URLSearchParams(q);
    snap.set('limit', String(FLOW_KEEP));
    const v = await getJSON('/api/v1/flows?' + snap);
    err.hidden = true;
    let since = 0;
    for (const f of v.flows) { flows.set(f.key, f); since = Math.max(since, f.last_unix_ms); }
    renderFlows();
    if (since) q.set('since', String(since));
    openStream('flows', '/api/v1/flows/stream?' + q, {
      flow: (f) => { flows.set(f.key, f); renderFlows(f.key); },
    });
  } catch (e) {
    closeStream('flows');
    renderFlows();
    err.textContent = String(e.message || e);
    err.hidden = false;
  }
}

function renderCounters(v) {
  countersView = v;
  const devs = v.devices.map((d) => d.device);
  const pols = [...new Set(v.devices.flatMap((d) => d.policies.map((p) => p.policy)))].sort();
  const get = (view, dev, pol) => {
    const d = view && view.devices.find((x) => x.device === dev);
    const p = d && d.policies.find((x) => x.policy === pol);
    return p ? p.packets : 0;
  };
  const val = (dev, pol) => Math.max(0, get(v, dev, pol) - (zero ? get(zero, dev, pol) : 0));
  const thead = $('#counters thead');
  put(thead, h('tr', {}, h('th', {}, 'policy'), devs.map((d) => h('th', {class: 'num'}, d + ' packets')), h('th', {class: 'num'}, 'total')));
  fill($('#counters tbody'), pols.length ? pols.map((p) => h('tr', {'data-policy': p}, h('td', {}, p),
    devs.map((d) => h('td', {class: 'num'}, val(d, p).toLocaleString())),
    h('td', {class: 'num'}, devs.reduce((n, d) => n + val(d, p), 0).toLocaleString()))) :
    [h('tr', {}, h('td', {colspan: devs.length + 2, class: 'hint'}, 'No policy has counted hits yet.'))]);
  fill($('#resets tbody'), v.devices.map((d) => h('tr', {}, h('td', {}, d.device), h('td', {}, ago(d.read_at_unix_ms)),
    h('td', {class: 'num'}, d.resets), h('td', {}, ago(d.last_reset_unix_ms)), h('td', {class: 'num'}, d.reset_entries), h('td', {class: 'err'}, d.error))));
  $('#counters-note').textContent = zero ? 'hits since you zeroed this view (the switches\' counters are untouched)' : 'hits since the entries were written';
}

async function readCounters() {
  try {
    renderCounters(await getJSON('/api/v1/counters?refresh=1'));
  } catch (e) {
    showError(e);
  }
}

async function loadTraffic() {
  if (fabric === null) {
    try { fabric = await getJSON('/api/v1/fabric'); } catch (e) { /* the filter lists no device */ }
  }
  for (const sel of document.querySelectorAll('#denial-filter select[name=device], #flow-filter select[name=device]')) {
    const cur = sel.value;
    put(sel, h('option', {value: ''}, 'every device'),
      (fabric ? fabric.devices : []).map((d) => h('option', {value: d.name, selected: d.name === cur}, d.name)));
  }
  await Promise.all([startDenials(), startFlows()]);
  openStream('counters', '/api/v1/counters/stream', {counters: renderCounters});
}

// ---- History ----

async function loadHistory() {
  const render = async () => {
    const v = await getJSON('/api/v1/history');
    fill($('#history tbody'), v.revisions.map((r) => h('tr', {'data-revision': r.index},
      h('td', {class: 'num'}, r.index), h('td', {}, new Date(r.time_unix_ms).toLocaleString()), h('td', {}, r.client || '-'),
      h('td', {}, r.summary),
      h('td', {}, r.added.map((x) => h('span', {class: 'chg chg-added'}, '+ ' + x)),
        r.changed.map((x) => h('span', {class: 'chg chg-changed'}, '~ ' + x)),
        r.removed.map((x) => h('span', {class: 'chg chg-removed'}, '- ' + x))))));
  };
  await render();
  openStream('events', '/api/v1/events', {model: render});
}

// ---- Routing ----

const pages = {fabric: loadFabric, segments: loadSegments, traffic: loadTraffic, history: loadHistory};

async function route() {
  const page = (location.hash.replace(/^#\//, '') || 'fabric').split('?')[0];
  const name = pages[page] ? page : 'fabric';
  for (const s of Object.keys(streams)) closeStream(s);
  document.querySelectorAll('.page').forEach((p) => { p.hidden = p.id !== 'page-' + name; });
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === name));
  showError(null);
  document.body.dataset.page = name;
  document.body.dataset.ready = '';
  try {
    await pages[name]();
  } catch (e) {
    showError(e);
  }
  document.body.dataset.ready = name;
}

$('#service-filter').addEventListener('change', () => { if (segments) renderSegments(segments); });
$('#denial-filter').addEventListener('submit', (ev) => { ev.preventDefault(); startDenials(); });
$('#denial-filter').addEventListener('reset', () => setTimeout(startDenials, 0));
$('#flow-filter').addEventListener('submit', (ev) => { ev.preventDefault(); startFlows(); });
$('#flow-filter').addEventListener('reset', () => setTimeout(startFlows, 0));
$('#counters-read').addEventListener('click', readCounters);
$('#counters-zero').addEventListener('click', () => {
  zero = countersView; $('#counters-zero').hidden = true; $('#counters-unzero').hidden = false;
  if (countersView) renderCounters(countersView);
});
$('#counters-unzero').addEventListener('click', () => {
  zero = null; $('#counters-zero').hidden = false; $('#counters-unzero').hidden = true;
  if (countersView) renderCounters(countersView);
});
window.addEventListener('hashchange', route);
route();
