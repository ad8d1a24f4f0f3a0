// tonegate's live monitor page. Data comes from three endpoints, all with the event
// streams' credentials (a bearer token kept in this tab's sessionStorage, sent as the
// `access_token` parameter where EventSource cannot send headers):
//   /v1/monitor/calls                    the live calls (polled each second)
//   /v1/events                           every call's events (digits, play, operations)
//   /v1/monitor/calls/{id}/features      16-byte records per 4 ms block of one call
'use strict';

const TONES_HZ = [697, 770, 852, 941, 1209, 1336, 1477, 1633];
const REASONS = ['frequency offset', 'level', 'twist', 'energy share', 'harmonics', 'too short'];
// The colours tonegate's plots use for each rejection reason, and for a digit.
const REASON_COLOURS = ['rgb(230,160,20)', 'rgb(130,130,130)', 'rgb(190,60,190)',
  'rgb(20,160,150)', 'rgb(240,90,40)', 'rgb(120,80,30)'];
const DIGIT_COLOUR = 'rgb(40,110,220)';
const RECORD_LEN = 16;
const OUTBOUND = 255;       // participant byte of an outbound frame's record
const ROW = 16;             // canvas pixels per tone row (and the broadband row)
const VERDICT_ROW = 12;     // canvas pixels of the verdict row
const TOKEN_KEY = 'tonegate.token';

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  calls: [],
  selected: null,
  perCall: new Map(),
  events: null,
  features: null,
  lagged: 0,
};

const $ = (id) => document.getElementById(id);

function setStatus(text, refused) {
  const status = $('status');
  status.textContent = text;
  status.classList.toggle('refused', Boolean(refused));
}

function headers() {
  return state.token ? { Authorization: 'Bearer ' + state.token } : {};
}

function withToken(url) {
  if (!state.token) return url;
  return url + (url.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(state.token);
}

function call(id) {
  if (!state.perCall.has(id)) state.perCall.set(id, { digits: [], operations: new Map() });
  return state.perCall.get(id);
}

// The spectrogram's colour for a level in dB: black, blue, red, orange, pale yellow.
function heat(db) {
  const stops = [[0, 0, 0], [40, 40, 160], [190, 40, 90], [250, 150, 40], [255, 250, 200]];
  const t = Math.min(Math.max((db + 90) / 90, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(t), stops.length - 2);
  const f = t - i;
  const mix = (k) => Math.round(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f);
  return `rgb(${mix(0)},${mix(1)},${mix(2)})`;
}

function formatDuration(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// ---- calls --------------------------------------------------------------------------

async function refreshCalls() {
  let response;
  try {
    response = await fetch('/v1/monitor/calls', { headers: headers(), cache: 'no-store' });
  } catch (error) {
    setStatus('Server unreachable');
    return;
  }
  if (response.status === 401) {
    setStatus('Access refused (401): enter the event token', true);
    stopStreams();
    state.calls = [];
    renderCalls();
    return;
  }
  if (!response.ok) {
    setStatus(`Error ${response.status}`);
    return;
  }
  state.calls = await response.json();
  setStatus(`Connected: ${state.calls.length} live call(s)`);
  startEvents();
  const live = state.calls.some((c) => c.callId === state.selected);
  if (!live && state.calls.length > 0 && (!state.selected || !state.features)) {
    select(state.calls[0].callId);
  }
  renderCalls();
}

function renderCalls() {
  const body = $('calls').tBodies[0];
  body.replaceChildren();
  for (const c of state.calls) {
    const row = body.insertRow();
    row.dataset.callId = c.callId;
    row.classList.toggle('selected', c.callId === state.selected);
    const ops = [...call(c.callId).operations.entries()].map(([k, v]) => `${k}: ${v}`).join(', ');
    const cells = [c.callId, c.dialect, `${c.sampleRate} Hz ${c.encoding}`,
      c.participants.length || 1, formatDuration(c.durationMs), ops || '-'];
    for (const text of cells) row.insertCell().textContent = text;
    row.addEventListener('click', () => select(c.callId));
  }
  $('no-calls').hidden = state.calls.length > 0;
}

// ---- events -------------------------------------------------------------------------

function startEvents() {
  if (state.events) return;
  const events = new EventSource(withToken('/v1/events'));
  state.events = events;
  const on = (name, handle) => events.addEventListener(name, (e) => {
    const event = JSON.parse(e.data);
    handle(event, call(event.callId));
    if (event.callId === state.selected) renderCall();
    renderCalls();
  });
  on('dtmf', (event, c) => {
    c.digits.push({
      digit: event.digit,
      latencyMs: event.detectedMs - event.startMs,
      source: event.source,
      shownAt: Date.now(),
    });
  });
  on('playStarted', (event, c) => c.operations.set('play', 'playing'));
  on('playCompleted', (event, c) => c.operations.set('play', 'completed'));
  on('playCanceled', (event, c) => c.operations.set('play', 'canceled'));
  on('operation', (event, c) => {
    const name = String(event.event);
    const kind = name.startsWith('Play') ? 'play'
      : name.startsWith('Recognize') ? 'recognize'
        : name.startsWith('Continuous') ? 'continuous dtmf'
          : name.startsWith('SendDtmf') ? 'send dtmf' : 'hold';
    c.operations.set(kind, name.replace(/^(Play|Recognize|ContinuousDtmfRecognition|SendDtmfTones|Hold)/, '').toLowerCase());
  });
  on('ended', (event, c) => c.operations.set('stream', 'ended'));
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) state.events = null;
  };
}

function stopStreams() {
  if (state.events) state.events.close();
  if (state.features) state.features.close();
  state.events = null;
  state.features = null;
}

// ---- one call -----------------------------------------------------------------------

function select(callId) {
  if (state.features) state.features.close();
  state.selected = callId;
  state.lagged = 0;
  $('call-id').textContent = callId;
  clearCanvas();
  const url = withToken(`/v1/monitor/calls/${encodeURIComponent(callId)}/features`);
  const features = new EventSource(url);
  state.features = features;
  features.addEventListener('features', (e) => drawRecords(e.data));
  features.addEventListener('lagged', (e) => {
    state.lagged += Number(e.data);
    $('lagged').textContent = `(${state.lagged} messages skipped: the page fell behind)`;
  });
  features.onerror = () => {
    // The call ended (the stream closes) or the server is gone: stop retrying.
    features.close();
    if (state.features === features) state.features = null;
  };
  renderCall();
  renderCalls();
}

function renderCall() {
  const c = call(state.selected);
  const list = $('digits');
  list.replaceChildren();
  for (const d of c.digits) {
    const item = document.createElement('li');
    item.dataset.digit = d.digit;
    item.dataset.shownAt = d.shownAt;
    item.append(d.digit + ' ');
    const detail = document.createElement('span');
    detail.textContent = `${d.latencyMs.toFixed(0)} ms after onset` + (d.source === 'inband' ? '' : ` (${d.source})`);
    item.append(detail);
    list.append(item);
  }
  const ops = $('operations');
  ops.replaceChildren();
  for (const [kind, what] of c.operations) {
    const item = document.createElement('li');
    item.textContent = `${kind}: ${what}`;
    ops.append(item);
  }
}

function clearCanvas() {
  const canvas = $('spectrogram');
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

// Scrolls the canvas left by one column per block of the first participant and draws
// the new columns at the right edge.
function drawRecords(base64) {
  const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
  const records = [];
  let outbound = null;
  for (let at = 0; at + RECORD_LEN <= bytes.length; at += RECORD_LEN) {
    if (bytes[at] === 0) records.push(bytes.subarray(at, at + RECORD_LEN));
    if (bytes[at] === OUTBOUND) outbound = bytes.subarray(at, at + RECORD_LEN);
  }
  if (outbound) showOutboundLevel(outbound[13] - 120);
  if (records.length === 0) return;
  const canvas = $('spectrogram');
  const ctx = canvas.getContext('2d');
  const n = Math.min(records.length, canvas.width);
  ctx.drawImage(canvas, n, 0, canvas.width - n, canvas.height, 0, 0, canvas.width - n, canvas.height);
  records.slice(-n).forEach((record, k) => {
    const x = canvas.width - n + k;
    for (let lane = 0; lane < 8; lane++) {
      ctx.fillStyle = heat(record[5 + lane] - 120);
      ctx.fillRect(x, (7 - lane) * ROW, 1, ROW);
    }
    ctx.fillStyle = heat(record[13] - 120);
    ctx.fillRect(x, 8 * ROW + 4, 1, ROW);
    const kind = record[14] & 3;
    ctx.fillStyle = kind === 1 || kind === 2 ? DIGIT_COLOUR
      : kind === 3 ? REASON_COLOURS[(record[14] >> 2) % REASONS.length] : '#000';
    ctx.fillRect(x, 9 * ROW + 8, 1, VERDICT_ROW);
  });
  showLevels(records[records.length - 1]);
}

function showLevels(record) {
  const meters = $('meters');
  if (meters.childElementCount === 0) {
    for (const name of [...TONES_HZ.map((hz) => `${hz} Hz`), 'broadband']) {
      const label = document.createElement('span');
      label.textContent = name;
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.append(document.createElement('div'));
      const value = document.createElement('span');
      meters.append(label, bar, value);
    }
  }
  const levels = [...record.subarray(5, 14)].map((q) => q - 120);
  levels.forEach((db, i) => {
    const bar = meters.children[3 * i + 1].firstChild;
    bar.style.width = `${Math.max(0, Math.min(100, (db + 80) / 0.8))}%`;
    meters.children[3 * i + 2].textContent = `${db} dB`;
  });
}

// The level of the last outbound frame (what the call plays), in dB re full scale.
function showOutboundLevel(db) {
  const meter = $('outbound-meter');
  meter.dataset.db = String(db);
  meter.querySelector('.bar > div').style.width = `${Math.max(0, Math.min(100, (db + 80) / 0.8))}%`;
  meter.querySelector('.value').textContent = `${db} dB`;
}

// ---- start --------------------------------------------------------------------------

function start() {
  $('token').value = state.token;
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('token').value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    stopStreams();
    state.selected = null;
    refreshCalls();
  });
  clearCanvas();
  refreshCalls();
  setInterval(refreshCalls, 1000);
}

start();
