// The twinflow console: what the token may see of the engine, drawn from the same API any
// client uses (JSON reads, the compact WebSocket encoding). No build step, no dependency.
"use strict";

// Every error a page of the console meets, for people (the banner) and for tests.
window.__twinflowErrors = [];
window.addEventListener("error", (event) => window.__twinflowErrors.push(String(event.message)));
window.addEventListener("unhandledrejection", (event) => window.__twinflowErrors.push(String(event.reason)));

const $ = (selector) => document.querySelector(selector);
const tokenKey = "twinflow-token";
const state = { token: sessionStorage.getItem(tokenKey) || "", timer: null, socket: null, history: [] };

function showError(message) {
  $("#error").textContent = message || "";
}

async function api(path) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  const response = await fetch(path, { headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.error || `${path}: ${response.status}`);
  }
  return body;
}

/** Every row of a view matching `query` (the pages followed). */
async function rows(view, query = "") {
  const all = [];
  let cursor = "";
  for (;;) {
    const page = await api(`/v1/views/${view}?limit=100000${query}${cursor}`);
    all.push(...page.rows);
    if (!page.next) return all;
    cursor = `&cursor=${encodeURIComponent(page.next)}`;
  }
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  return td;
}

function fill(table, items, columns) {
  const body = table.querySelector("tbody");
  body.replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    tr.append(...columns.map((column) => cell(typeof column === "function" ? column(item) : item[column])));
    return tr;
  }));
}

function sparkline(svg, values) {
  const width = 160, height = 32;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const max = Math.max(1, ...values), min = Math.min(0, ...values);
  const points = values.map((v, i) => {
    const x = values.length > 1 ? (i * width) / (values.length - 1) : 0;
    const y = height - ((v - min) / (max - min || 1)) * (height - 2) - 1;
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  svg.innerHTML = `<polyline points="${points.join(" ")}"/>`;
}

// ---- Overview: polled every two seconds; the last five minutes in the sparklines.

async function overview() {
  const [status, catalog] = await Promise.all([api("/v1/status"), api("/v1/views")]);
  const total = catalog.views.reduce((sum, v) => sum + v.rows, 0);
  const changes = status.counters ? status.counters.changes_applied_total : null;
  state.history.push({ at: Date.now(), asOf: status.as_of, lag: status.lag_ms, rows: total, changes });
  state.history = state.history.slice(-150);
  const h = state.history;
  const rate = h.slice(1).map((p, i) => {
    const seconds = Math.max(0.001, (p.at - h[i].at) / 1000);
    const delta = p.changes !== null && h[i].changes !== null ? p.changes - h[i].changes : p.asOf - h[i].asOf;
    return delta / seconds;
  });
  $("#as-of").textContent = status.as_of;
  $("#lag").textContent = `${status.lag_ms} ms`;
  $("#rows").textContent = total.toLocaleString();
  $("#rate").textContent = rate.length ? Math.round(rate[rate.length - 1]).toLocaleString() : "–";
  sparkline($("#spark-as-of"), h.map((p) => p.asOf));
  sparkline($("#spark-lag"), h.map((p) => p.lag));
  sparkline($("#spark-rows"), h.map((p) => p.rows));
  sparkline($("#spark-rate"), rate);
  fill($("#views"), catalog.views, ["name", "rows", "changed_at"]);
  const operator = Array.isArray(status.connectors);
  $("#operator-only").hidden = !operator;
  if (operator) {
    fill($("#connectors"), status.connectors, ["name", "kind", "state",
      (c) => Math.round(c.changes_per_s || 0), "lag_ms", "dead_letters"]);
    $("#dead-letters").textContent = `${status.dead_letters} dead letters`;
    const c = status.checkpoints;
    $("#checkpoints").textContent = c ? `${c.written} checkpoints written, ${c.failed} failed` : "no data directory: no checkpoints";
  }
}

// ---- Occupancy: company → building → floor; the floor's desks live over a WebSocket.

let buildings = [];

async function occupancy() {
  buildings = await rows("occupancy_by_building");
  const companies = [...new Set(buildings.map((b) => b.company_id))].sort((a, b) => a - b);
  const wanted = new URLSearchParams(location.hash.split("?")[1] || "");
  options($("#company"), companies.map((c) => [c, `company ${c}`]), wanted.get("company"));
  await pickCompany(wanted.get("building"), wanted.get("floor"));
}

function options(select, items, wanted) {
  select.replaceChildren(...items.map(([value, label]) => new Option(label, value)));
  if (wanted !== null && items.some(([value]) => String(value) === String(wanted))) {
    select.value = wanted;
  }
}

async function pickCompany(wantedBuilding = null, wantedFloor = null) {
  const company = Number($("#company").value);
  const mine = buildings.filter((b) => b.company_id === company);
  options($("#building"), mine.map((b) => [b.building_id, b.building_name]), wantedBuilding);
  await pickBuilding(wantedFloor);
}

async function pickBuilding(wantedFloor = null) {
  const building = $("#building").value;
  if (!building) return;
  const floors = await rows("occupancy_by_floor", `&building_id=${building}`);
  floors.sort((a, b) => a.level - b.level);
  options($("#floor"), floors.map((f) => [f.floor_id, `${f.floor_name} (level ${f.level})`]), wantedFloor);
  pickFloor();
}

/** The floor's desks, by table_id; its rooms' rows, by room_id; what its subscription
 * received (bytes, since `since`), shown with the floor and read by the benchmark. */
const floor = { desks: new Map(), columns: [], fixed: {}, rooms: new Map(), id: null, bytes: 0, since: 0 };
window.__twinflowFloor = floor;

function pickFloor() {
  if (state.socket) state.socket.close();
  const id = $("#floor").value;
  floor.id = id;
  floor.desks.clear();
  floor.bytes = 0;
  floor.since = Date.now();
  if (!id) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const token = state.token ? `&access_token=${encodeURIComponent(state.token)}` : "";
  // The floor's company and building are named too: compact rows then leave out all three.
  const where = `company_id=${$("#company").value}&building_id=${$("#building").value}&floor_id=${id}`;
  const socket = new WebSocket(`${scheme}://${location.host}/v1/views/desk_occupancy/subscribe?${where}&encoding=compact${token}`);
  state.socket = socket;
  socket.onmessage = (event) => {
    floor.bytes += event.data.length;
    onDesks(JSON.parse(event.data), socket);
  };
  socket.onclose = (event) => {
    if (state.socket === socket && event.code !== 1000) {
      $("#floor-status").textContent = `subscription closed: ${event.reason || event.code}`;
    }
  };
  refreshRooms();
}

function desk(values) {
  const row = { ...floor.fixed };
  floor.columns.forEach((name, i) => { row[name] = values[i]; });
  return row;
}

function onDesks(message, socket) {
  if (socket !== state.socket) return;
  if (message.type === "snapshot") {
    floor.columns = message.columns;
    floor.fixed = message.fixed || {};
    floor.desks.clear();
    for (const values of message.rows) {
      const row = desk(values);
      floor.desks.set(row.table_id, row);
    }
  } else if (message.type === "changes") {
    for (const values of message.upserts || []) {
      const row = desk(values);
      floor.desks.set(row.table_id, row);
    }
    for (const key of message.deletes || []) floor.desks.delete(key[0]);
    refreshRooms();
  }
  if (message.type !== "progress") drawFloor();
  const seconds = Math.max(1, (Date.now() - floor.since) / 1000);
  $("#floor-status").textContent =
    `as_of ${message.as_of}, ${floor.desks.size} desks, ${(floor.bytes / seconds / 1024).toFixed(1)} kB/s received`;
}

async function refreshRooms() {
  const id = floor.id;
  const rooms = await rows("occupancy", `&floor_id=${id}`);
  if (id !== floor.id) return;
  floor.rooms = new Map(rooms.map((r) => [r.room_id, r]));
  fill($("#rooms"), rooms, ["room_name", "kind", "desks", "seats", "assigned",
    (r) => (r.seats ? `${Math.round((100 * r.assigned) / r.seats)} %` : "–")]);
  drawFloor();
}

function occupancyClass(d) {
  return d.assigned === 0 ? "free" : d.assigned <= d.seats ? "used" : "over";
}

function drawFloor() {
  const svg = $("#floor-map");
  const desks = [...floor.desks.values()];
  const xs = desks.map((d) => d.pos_x), ys = desks.map((d) => d.pos_y);
  const minX = Math.min(...xs, 0), maxX = Math.max(...xs, 1), minY = Math.min(...ys, 0), maxY = Math.max(...ys, 1);
  const pad = 20, size = 10;
  svg.setAttribute("viewBox", `${minX - pad} ${minY - pad} ${maxX - minX + 2 * pad + size} ${maxY - minY + 2 * pad + size}`);
  const byRoom = new Map();
  for (const d of desks) {
    if (!byRoom.has(d.room_id)) byRoom.set(d.room_id, []);
    byRoom.get(d.room_id).push(d);
  }
  const ns = "http://www.w3.org/2000/svg";
  const parts = [];
  for (const [roomId, roomDesks] of byRoom) {
    const rx = Math.min(...roomDesks.map((d) => d.pos_x)) - 4, ry = Math.min(...roomDesks.map((d) => d.pos_y)) - 4;
    const rw = Math.max(...roomDesks.map((d) => d.pos_x)) - rx + size + 4;
    const rh = Math.max(...roomDesks.map((d) => d.pos_y)) - ry + size + 4;
    const rect = document.createElementNS(ns, "rect");
    Object.entries({ x: rx, y: ry, width: rw, height: rh, class: "room", "data-room-id": roomId })
      .forEach(([k, v]) => rect.setAttribute(k, v));
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", rx + 2);
    label.setAttribute("y", ry - 2);
    const room = floor.rooms.get(roomId);
    label.textContent = room ? room.room_name : `room ${roomId}`;
    parts.push(rect, label);
  }
  for (const d of desks) {
    const rect = document.createElementNS(ns, "rect");
    Object.entries({ x: d.pos_x, y: d.pos_y, width: size, height: size, class: occupancyClass(d), "data-table-id": d.table_id })
      .forEach(([k, v]) => rect.setAttribute(k, v));
    rect.addEventListener("mouseenter", (event) => tooltip(event, d));
    rect.addEventListener("mouseleave", () => { $("#tooltip").hidden = true; });
    parts.push(rect);
  }
  svg.replaceChildren(...parts);
}

function tooltip(event, d) {
  const tip = $("#tooltip");
  tip.textContent = `${d.label}: ${d.assigned} assigned of ${d.seats} seats, ${d.reserved_jobs} reserving jobs`;
  tip.style.left = `${event.offsetX + 12}px`;
  tip.style.top = `${event.offsetY + 12}px`;
  tip.hidden = false;
}

// ---- Staffing by Function (sortable) and skill coverage (largest gaps first).

let functions = [];
let sortKey = "vacancies";
let sortDescending = true;

async function staffing() {
  functions = await rows("staffing_by_function");
  drawFunctions();
}

function drawFunctions() {
  const sorted = [...functions].sort((a, b) => {
    const order = a[sortKey] < b[sortKey] ? -1 : a[sortKey] > b[sortKey] ? 1 : 0;
    return sortDescending ? -order : order;
  });
  fill($("#functions"), sorted, ["function_name", "jobs", "planned", "filled", "vacancies", "overstaffed"]);
}

async function skills() {
  const coverage = await rows("skill_coverage");
  coverage.sort((a, b) => b.gap - a.gap);
  fill($("#coverage"), coverage, ["skill_name", "category", "holders", "tasks_requiring", "tasks_covered", "gap"]);
}

// ---- Tabs, sign-in.

const tabs = { overview, occupancy, staffing, skills };

async function show() {
  const name = (location.hash.slice(1).split("?")[0]) || "overview";
  const tab = tabs[name] ? name : "overview";
  document.querySelectorAll(".tab").forEach((s) => s.classList.toggle("active", s.id === tab));
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.tab === tab));
  clearInterval(state.timer);
  if (tab !== "occupancy" && state.socket) {
    state.socket.close();
    state.socket = null;
  }
  try {
    showError("");
    await tabs[tab]();
    if (tab === "overview") state.timer = setInterval(() => overview().catch((e) => showError(e.message)), 2000);
  } catch (error) {
    showError(error.message);
  }
}

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("#token").value.trim();
  sessionStorage.setItem(tokenKey, state.token);
  $("#token").value = "";
  signedIn();
  show();
});
$("#sign-out").addEventListener("click", () => {
  state.token = "";
  sessionStorage.removeItem(tokenKey);
  signedIn();
  show();
});
$("#company").addEventListener("change", () => pickCompany().catch((e) => showError(e.message)));
$("#building").addEventListener("change", () => pickBuilding().catch((e) => showError(e.message)));
$("#floor").addEventListener("change", () => pickFloor());
document.querySelectorAll("#functions th[data-key]").forEach((th) => th.addEventListener("click", () => {
  sortDescending = sortKey === th.dataset.key ? !sortDescending : true;
  sortKey = th.dataset.key;
  drawFunctions();
}));
window.addEventListener("hashchange", show);

function signedIn() {
  $("#who").textContent = state.token ? "signed in" : "not signed in";
  $("#sign-out").hidden = !state.token;
}

signedIn();
show();
