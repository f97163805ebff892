// riskwatch web console: plain JavaScript over the audit API. The token lives in sessionStorage
// (this tab only) and travels as a bearer header, never in a URL. Every text from the API is put
// in the page as text (never as markup): event and finding content is hostile input.
"use strict";

const TOKEN_KEY = "riskwatch.token";
const SVG = "http://www.w3.org/2000/svg";
const SEVERITIES = ["info", "low", "medium", "high", "critical"];
const STATUSES = ["open", "acknowledged", "resolved", "false_positive"];
const CATEGORIES = {
  technical: ["model_reliability", "security", "technology_update"],
  commercial: ["market_demand", "competition", "cost_control"],
  legal: ["data_privacy", "ethics", "regulation"],
};
const SUBCATEGORIES = Object.values(CATEGORIES).flat();

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) if (c) el.append(c);
  return el;
}

const label = (name) => String(name).replaceAll("_", " ");
const when = (iso) => (iso ? iso.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, " UTC") : "—");
const fmt = (v, digits = 3) =>
  v === null || v === undefined
    ? "—"
    : Number(v).toLocaleString("en", { maximumSignificantDigits: digits, useGrouping: false });

function sevBadge(sev) {
  return sev ? h("span", { class: `sev sev-${sev}` }, sev) : h("span", { class: "muted" }, "—");
}
function statusBadge(st) {
  return h("span", { class: `status status-${st}`, "data-status": st }, label(st));
}

// ---------------------------------------------------------------- API

const token = () => sessionStorage.getItem(TOKEN_KEY);

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function apiUrl(path, params) {
  const url = new URL(`..${path}`, document.baseURI);
  for (const [k, v] of Object.entries(params || {})) if (v) url.searchParams.set(k, v);
  return url;
}

async function api(path, { params, method = "GET", body, raw = false, auth } = {}) {
  const headers = { Authorization: `Bearer ${auth || token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(apiUrl(path, params), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (!resp.ok) {
    let detail = resp.statusText;
    try {
      const data = await resp.json();
      detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    } catch (_) {
      /* not JSON */
    }
    if (resp.status === 401 && !auth) signOut(`Signed out: ${detail}.`);
    throw new ApiError(resp.status, detail);
  }
  return raw ? resp : resp.json();
}

function explain(err) {
  if (err instanceof ApiError && err.status === 403) {
    return `Not allowed: ${err.message}. Ask for an operator token to act on incidents.`;
  }
  if (err instanceof ApiError) return `The API answered ${err.status}: ${err.message}`;
  return `The API could not be reached: ${err.message}`;
}

// ---------------------------------------------------------------- sign in

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn(message || "");
}

function showSignIn(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("page").replaceChildren();
  document.getElementById("signin-page").hidden = false;
  document.getElementById("signin-error").textContent = message || "";
  document.getElementById("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = document.getElementById("token");
  const candidate = input.value.trim();
  const error = document.getElementById("signin-error");
  error.textContent = "";
  try {
    // the cheapest call every role may make: it proves the token before it is kept
    await api("/incidents", { auth: candidate, params: { limit: "1" } });
  } catch (err) {
    error.textContent =
      err instanceof ApiError && err.status === 401
        ? "That token was refused: it is unknown, expired or revoked."
        : explain(err);
    input.select();
    return;
  }
  input.value = "";
  sessionStorage.setItem(TOKEN_KEY, candidate);
  document.getElementById("signin-page").hidden = true;
  route();
}

// ---------------------------------------------------------------- charts (inline SVG)

function sparkline(values, { width = 120, height = 24, title = "" } = {}) {
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - ((height - 4) * v) / max).toFixed(1)}`);
  return s(
    "svg",
    { class: "spark", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title },
    s("title", {}, document.createTextNode(title)),
    s("polyline", { points: pts.join(" "), fill: "none", class: "spark-line" }),
  );
}

// A line chart of one or more series over the period's bins; null values leave gaps.
function lineChart(title, labels, series, { limit = null, limitLabel = "", bars = false, unit = "" } = {}) {
  const W = 560, H = 180, L = 48, R = 10, T = 10, B = 26;
  const values = series.flatMap((x) => x.values).filter((v) => v !== null && v !== undefined);
  if (limit !== null) values.push(limit);
  const max = values.length ? Math.max(...values) * 1.1 || 1 : 1;
  const n = Math.max(labels.length, 1);
  const x = (i) => L + ((W - L - R) * (i + 0.5)) / n;
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = s("svg", {
    class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, "data-chart": title,
  });
  svg.append(s("title", {}, document.createTextNode(title)));
  for (const f of [0, 0.5, 1]) {
    svg.append(s("line", { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), class: "grid" }));
    svg.append(s("text", { x: L - 4, y: y(max * f) + 4, class: "axis", "text-anchor": "end" },
      document.createTextNode(fmt(max * f, 2) + unit)));
  }
  const every = Math.ceil(n / 6);
  labels.forEach((lab, i) => {
    if (i % every === 0) {
      const anchor = i + every >= n && i > 0 ? "end" : "middle";
      svg.append(s("text", { x: x(i), y: H - 8, class: "axis", "text-anchor": anchor }, document.createTextNode(lab)));
    }
  });
  series.forEach((ser, k) => {
    if (bars) {
      const bw = Math.max(1, ((W - L - R) / n) * 0.7);
      ser.values.forEach((v, i) => {
        if (v) svg.append(s("rect", { x: x(i) - bw / 2, y: y(v), width: bw, height: y(0) - y(v), class: `c${k}` }));
      });
      return;
    }
    let d = "";
    let pen = false;
    ser.values.forEach((v, i) => {
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      pen = true;
      svg.append(s("circle", { cx: x(i), cy: y(v), r: 2, class: `c${k}` }));
    });
    if (d) svg.append(s("path", { d, class: `line c${k}` }));
  });
  if (limit !== null) {
    svg.append(s("line", { x1: L, x2: W - R, y1: y(limit), y2: y(limit), class: "limit" }));
    svg.append(s("text", { x: W - R, y: y(limit) - 4, class: "axis limit-text", "text-anchor": "end" },
      document.createTextNode(limitLabel)));
  }
  const legend = h("ul", { class: "legend" },
    series.map((ser, k) => h("li", { class: `c${k}` }, ser.name)),
    limit !== null ? h("li", { class: "limit" }, limitLabel) : null);
  return h("figure", { class: "chart-box" }, h("figcaption", {}, title), svg, legend);
}

// ---------------------------------------------------------------- pages

function heading(text, ...rest) {
  return h("div", { class: "page-head" }, h("h1", {}, text), ...rest);
}

function table(headers, rows, attrs = {}) {
  return h("table", attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => (x instanceof Node ? x : h("th", { scope: "col" }, x))))),
    h("tbody", {}, rows));
}

async function overviewPage() {
  const data = await api("/models");
  const p = data.period;
  const head1 = h("tr", {},
    h("th", { scope: "col", rowspan: 2 }, "Model"),
    h("th", { scope: "col", rowspan: 2 }, "Open incidents"),
    h("th", { scope: "col", rowspan: 2 }, "Findings"),
    h("th", { scope: "col", rowspan: 2 }, `Trend (per ${duration(p.bin_seconds)})`),
    Object.entries(CATEGORIES).map(([cat, subs]) => h("th", { scope: "colgroup", colspan: subs.length, class: "cat" }, cat)));
  const head2 = h("tr", {}, SUBCATEGORIES.map((sub) => h("th", { scope: "col", class: "sub" }, label(sub))));
  const rows = data.models.map((m) =>
    h("tr", { "data-model": m.model_id },
      h("th", { scope: "row" }, h("a", { href: `#/model/${encodeURIComponent(m.model_id)}` }, m.model_id)),
      h("td", { class: "num" }, m.open_incidents),
      h("td", { class: "num" }, m.findings),
      h("td", {}, sparkline(m.trend, { title: `${m.model_id}: findings per ${duration(p.bin_seconds)}` })),
      SUBCATEGORIES.map((sub) => {
        const cell = m.subcategories[sub];
        if (!cell.open) return h("td", { class: "cell ok", "data-subcategory": sub }, h("span", { class: "muted" }, "0"));
        return h("td", { class: `cell sev-bg-${cell.worst_severity}`, "data-subcategory": sub },
          h("a", { href: `#/incidents?model=${encodeURIComponent(m.model_id)}&subcategory=${sub}`,
            title: `${cell.open} open, worst ${cell.worst_severity}` },
            `${cell.open} · ${cell.worst_severity}`));
      })));
  return [
    heading("Overview"),
    h("p", { class: "muted" }, `Period ${when(p.since)} to ${when(p.until)}. Each cell: open or acknowledged incidents and their worst severity.`),
    h("table", { id: "overview", class: "grid-table" }, h("thead", {}, head1, head2), h("tbody", {}, rows)),
    data.models.length ? null : h("p", {}, "No model has sent events yet."),
  ];
}

function duration(seconds) {
  for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
    if (seconds % size === 0) return seconds === size ? unit : `${seconds / size} ${unit}s`;
  }
  return `${seconds} s`;
}

function select(id, text, options, value) {
  return h("label", { for: id }, text,
    h("select", { id },
      h("option", { value: "" }, "any"),
      options.map((o) => h("option", { value: o, selected: o === value }, label(o)))));
}

async function incidentsPage(query) {
  const params = Object.fromEntries(["status", "model", "category", "subcategory", "offset"].map((k) => [k, query.get(k) || ""]));
  const [list, models] = await Promise.all([
    api("/incidents", { params: { ...params, limit: "50" } }),
    api("/models"),
  ]);
  const form = h("form", { id: "filters", class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const k of ["status", "model", "category", "subcategory"]) {
      const v = document.getElementById(`f-${k}`).value;
      if (v) q.set(k, v);
    }
    location.hash = `#/incidents?${q}`;
  } },
  select("f-status", "Status", STATUSES, params.status),
  select("f-model", "Model", models.models.map((m) => m.model_id), params.model),
  select("f-category", "Category", Object.keys(CATEGORIES), params.category),
  select("f-subcategory", "Subcategory", SUBCATEGORIES, params.subcategory),
  h("button", { type: "submit" }, "Apply filters"),
  h("a", { href: "#/incidents", class: "button-link" }, "Clear"));
  const rows = list.items.map((i) =>
    h("tr", { "data-incident": i.incident_id },
      h("td", {}, h("a", { href: `#/incident/${i.incident_id}` }, i.title)),
      h("td", { class: "nowrap" }, i.model_id),
      h("td", {}, label(i.subcategory)),
      h("td", {}, sevBadge(i.severity)),
      h("td", {}, statusBadge(i.status)),
      h("td", { class: "num" }, i.count),
      h("td", {}, when(i.first_seen)),
      h("td", {}, when(i.last_seen)),
      h("td", {}, i.report_deadline ? h("strong", {}, when(i.report_deadline)) : "—")));
  const offset = Number(params.offset || 0);
  const pager = h("p", { class: "pager" },
    `${list.count} incident${list.count === 1 ? "" : "s"}` + (list.count > list.items.length ? `, showing ${offset + 1}–${offset + list.items.length}` : ""),
    offset + list.items.length < list.count
      ? h("a", { href: `#/incidents?${new URLSearchParams({ ...clean(params), offset: offset + list.items.length })}` }, "Next page")
      : null);
  return [
    heading("Incidents"),
    form,
    pager,
    table(["Incident", "Model", "Subcategory", "Severity", "Status", "Findings", "First seen", "Last seen", "Art. 73 deadline"], rows, { id: "incidents" }),
  ];
}

const clean = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v));

function dl(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

async function incidentPage(id) {
  const inc = await api(`/incidents/${encodeURIComponent(id)}`);
  const refs = [...new Set(inc.findings.flatMap((f) => f.regulation_refs))];
  const remediation = [...new Set(inc.findings.map((f) => f.remediation).filter(Boolean))];
  const message = h("p", { id: "action-message", role: "status" });
  const error = h("p", { id: "action-error", class: "error", role: "alert" });
  const reason = h("textarea", { id: "reason", rows: 2, maxlength: 2000, required: true });
  const act = (action, verb) => async () => {
    error.textContent = "";
    message.textContent = "";
    if (!reason.value.trim()) {
      error.textContent = "Give a reason: it is chained with the state change.";
      reason.focus();
      return;
    }
    try {
      const done = await api(`/incidents/${encodeURIComponent(id)}/${action}`, { method: "POST", body: { reason: reason.value } });
      await render(() => incidentPage(id));
      document.getElementById("action-message").textContent =
        `${verb} by ${done.event.actor}: now ${label(done.status)} (state change #${done.event.id}, chained).`;
    } catch (err) {
      error.textContent = explain(err);
    }
  };
  const closed = inc.status === "resolved" || inc.status === "false_positive";
  const actions = h("section", { class: "actions", "aria-labelledby": "act-h" },
    h("h2", { id: "act-h" }, "Act (operator role)"),
    closed ? h("p", {}, `This incident is ${label(inc.status)}; a new breach opens a new incident.`) : [
      h("label", { for: "reason" }, "Reason (recorded in the audit chain)"), reason,
      h("div", { class: "buttons" },
        inc.status === "open" ? h("button", { type: "button", id: "acknowledge", onclick: act("acknowledge", "Acknowledged") }, "Acknowledge") : null,
        h("button", { type: "button", id: "resolve", onclick: act("resolve", "Resolved") }, "Resolve"),
        h("button", { type: "button", id: "false-positive", onclick: act("false-positive", "Marked false positive") }, "False positive")),
    ],
    message, error);
  const history = table(["When", "Change", "By", "Reason", "Severity", "Findings"],
    inc.events.map((e) => h("tr", {}, h("td", {}, when(e.at)), h("td", {}, label(e.event)), h("td", {}, e.actor), h("td", {}, e.reason), h("td", {}, sevBadge(e.severity)), h("td", { class: "num" }, e.count))),
    { id: "history" });
  const findings = inc.findings.map((f, i) =>
    h("details", { class: "finding", open: i === 0, "data-finding": f.finding_id },
      h("summary", {}, sevBadge(f.severity), " ", when(f.detected_at), " — ", f.title),
      dl([
        ["Finding", h("code", {}, f.finding_id)],
        ["Detector / rule", `${f.detector} / ${f.rule_id} (${f.pack} ${f.pack_version})`],
        ["Event", f.event_id ? h("code", {}, f.event_id) : "—"],
        ["Kafka", h("span", { class: "kafka" }, f.source_topic ? `topic ${f.source_topic}, partition ${f.source_partition}, offset ${f.source_offset}` : "—")],
        ["Regulation", f.regulation_refs.join("; ") || "—"],
        ["Remediation", f.remediation || "—"],
      ]),
      h("h4", {}, "Evidence"),
      h("pre", { class: "evidence" }, JSON.stringify(f.evidence, null, 2))));
  return [
    heading(inc.title, statusBadge(inc.status), " ", sevBadge(inc.severity), inc.escalated ? h("span", { class: "tag" }, "escalated") : null),
    dl([
      ["Incident", h("code", {}, inc.incident_id)],
      ["Model", h("a", { href: `#/model/${encodeURIComponent(inc.model_id)}` }, inc.model_id)],
      ["Risk", `${label(inc.category)} / ${label(inc.subcategory)}`],
      ["Rule", `${inc.rule_id}${Object.keys(inc.key).length ? ` (${Object.entries(inc.key).map(([k, v]) => `${k}=${v}`).join(", ")})` : ""}`],
      ["Findings", `${inc.count} (first ${when(inc.first_seen)}, last ${when(inc.last_seen)})`],
      ["Opened / closed", `${when(inc.opened_at)} / ${when(inc.closed_at)}`],
      inc.serious ? ["EU AI Act Art. 73", h("strong", {}, `${label(inc.serious)}: report by ${when(inc.report_deadline)}`)] : null,
      ["Regulation references", refs.length ? h("ul", { id: "refs" }, refs.map((r) => h("li", {}, r))) : "—"],
      ["Remediation", remediation.length ? h("ul", {}, remediation.map((r) => h("li", {}, r))) : "—"],
    ]),
    actions,
    h("h2", {}, "History"), history,
    h("h2", {}, `Findings (${inc.findings.length} of ${inc.count})`), findings,
  ];
}

async function modelPage(id) {
  const m = await api(`/models/${encodeURIComponent(id)}/metrics`);
  const labels = m.period.labels;
  const per = duration(m.period.bin_seconds);
  const charts = [
    lineChart(`Events per ${per}`, labels, [{ name: "events", values: m.events }], { bars: true }),
    lineChart("Error rate", labels, [{ name: "errors / events", values: m.error_rate }]),
    lineChart("Latency (ms)", labels, [
      { name: "mean", values: m.latency_mean_ms },
      { name: "p95", values: m.latency_p95_ms },
    ]),
    lineChart(`Cost per ${per} (USD)`, labels, [{ name: "cost", values: m.cost_usd }], {
      bars: true,
      limit: m.bin_budget_usd,
      limitLabel: m.daily_budget_usd === null ? "" : `budget (${fmt(m.daily_budget_usd)} USD/day pro rata)`,
    }),
    lineChart("PII entities per event", labels, [{ name: "PII rate", values: m.pii_rate }]),
  ];
  const drift = m.drift.map((d) =>
    lineChart(`Drift: ${d.feature} (${label(d.score_kind)})`, labels, [{ name: d.feature, values: d.values }], {
      limit: d.threshold, limitLabel: d.threshold === null ? "" : `threshold ${fmt(d.threshold)}`,
    }));
  const fairness = m.fairness.map((f) => h("div", { class: "fair" },
    lineChart(`Fairness: ${label(f.metric)} by ${f.attribute}`, labels, [{ name: label(f.metric), values: f.values }], {
      limit: f.threshold, limitLabel: f.threshold === null ? "" : `threshold ${fmt(f.threshold)}`,
    }),
    table(["Group", "n", "Selection rate", "TPR", "FPR"], Object.entries(f.groups).map(([g, r]) =>
      h("tr", {}, h("th", { scope: "row" }, g), h("td", { class: "num" }, fmt(r.n, 6)), h("td", { class: "num" }, fmt(r.selection_rate)), h("td", { class: "num" }, fmt(r.tpr)), h("td", { class: "num" }, fmt(r.fpr)))),
    { class: "groups" })));
  return [
    heading(m.model_id,
      h("a", { href: `#/incidents?model=${encodeURIComponent(m.model_id)}`, class: "button-link" }, "Incidents"),
      h("a", { href: `#/reports?model=${encodeURIComponent(m.model_id)}&since=${encodeURIComponent(m.period.since)}&until=${encodeURIComponent(m.period.until)}`, class: "button-link" }, "Report")),
    h("p", { class: "muted" }, `Period ${when(m.period.since)} to ${when(m.period.until)}, bins of ${per}.`),
    h("h2", {}, "Traffic, latency and cost"), h("div", { class: "charts" }, charts),
    h("h2", {}, "Drift per feature"), drift.length ? h("div", { class: "charts" }, drift) : h("p", {}, "No drift findings in the period."),
    h("h2", {}, "Fairness"), fairness.length ? h("div", { class: "charts" }, fairness) : h("p", {}, "No fairness findings in the period."),
    Object.keys(m.pii_entities).length
      ? [h("h2", {}, "PII entities found"), table(["Entity", "Count"], Object.entries(m.pii_entities).map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, v))))]
      : null,
  ];
}

async function chainPage() {
  const c = await api("/chain/verify");
  return [
    heading("Audit chain"),
    h("p", { id: "chain-state", class: c.ok ? "ok-box" : "error-box", "data-ok": String(c.ok) },
      c.ok ? "Verified: every link and every signed checkpoint holds." : "BROKEN: the chain or its checkpoints do not verify."),
    dl([
      ["Entries", String(c.entries)],
      ["Head", h("code", {}, `#${c.head.seq} ${c.head.entry_hash}`)],
      ["First break", c.broken ? h("pre", {}, JSON.stringify(c.broken, null, 2)) : "none"],
      ["Signed checkpoints", `${c.checkpoints.checkpoints} (${c.checkpoints.witnessed} witnessed)`],
      ["Latest checkpoint", c.checkpoints.latest ? h("pre", {}, JSON.stringify(c.checkpoints.latest, null, 2)) : "—"],
      c.checkpoints.problem ? ["Checkpoint problem", c.checkpoints.problem] : null,
    ]),
    h("button", { type: "button", onclick: () => render(chainPage) }, "Verify again"),
  ];
}

async function removalsPage() {
  const r = await api("/removals", { params: { limit: "200" } });
  return [
    heading("Erasure and retention records"),
    h("p", { class: "muted" }, "GDPR Art. 17 erasures and retention purges, newest first; each is chained."),
    r.items.length ? table(["When", "Kind", "By", "Reason", "Subject (hash)", "Cutoff", "Events", "Findings", "Feedback"],
      r.items.map((x) => h("tr", {}, h("td", {}, when(x.at)), h("td", {}, x.kind), h("td", {}, x.requested_by), h("td", {}, x.reason),
        h("td", {}, x.user_ref_hash ? h("code", {}, x.user_ref_hash.slice(0, 16) + "…") : "—"), h("td", {}, when(x.cutoff)),
        h("td", { class: "num" }, x.events), h("td", { class: "num" }, x.findings), h("td", { class: "num" }, x.feedback))),
      { id: "removals" }) : h("p", {}, "No erasure or retention purge has been recorded."),
  ];
}

const toLocal = (iso) => (iso ? iso.slice(0, 16) : "");

async function reportsPage(query) {
  const models = await api("/models");
  const p = models.period;
  const model = query.get("model") || (models.models[0] || {}).model_id || "";
  const error = h("p", { class: "error", role: "alert", id: "report-error" });
  const note = h("p", { role: "status", id: "report-note" });
  const download = (format) => async () => {
    error.textContent = "";
    note.textContent = "Building the report…";
    const since = document.getElementById("r-since").value;
    const until = document.getElementById("r-until").value;
    const chosen = document.getElementById("r-model").value;
    try {
      const resp = await api("/reports", {
        raw: true,
        params: { model: chosen, since: `${since}:00Z`, until: until ? `${until}:00Z` : "", format },
      });
      const blob = await resp.blob();
      const a = h("a", { href: URL.createObjectURL(blob), download: `riskwatch-report-${chosen}.${format}` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      note.textContent = `Downloaded the ${format.toUpperCase()} report of ${chosen}.`;
    } catch (err) {
      note.textContent = "";
      error.textContent = explain(err);
    }
  };
  const since = toLocal(query.get("since") || p.since);
  let until = query.get("until") || p.until;
  // round the end up to the next minute: the form's inputs have minutes
  until = toLocal(new Date(Math.ceil(Date.parse(until) / 60000) * 60000).toISOString());
  return [
    heading("Reports"),
    h("p", {}, "The compliance report of one model over a period (times in UTC), as a self-contained HTML page or a PDF."),
    h("form", { class: "filters", id: "report-form", onsubmit: (e) => e.preventDefault() },
      h("label", { for: "r-model" }, "Model", h("select", { id: "r-model" }, models.models.map((m) => h("option", { value: m.model_id, selected: m.model_id === model }, m.model_id)))),
      h("label", { for: "r-since" }, "Since (UTC)", h("input", { id: "r-since", type: "datetime-local", value: since, required: true })),
      h("label", { for: "r-until" }, "Until (UTC)", h("input", { id: "r-until", type: "datetime-local", value: until })),
      h("button", { type: "button", id: "download-html", onclick: download("html") }, "Download HTML"),
      h("button", { type: "button", id: "download-pdf", onclick: download("pdf") }, "Download PDF")),
    note, error,
  ];
}

// ---------------------------------------------------------------- router

const ROUTES = [
  [/^#?\/?$/, () => overviewPage()],
  [/^#\/incidents$/, (_, q) => incidentsPage(q)],
  [/^#\/incident\/([^/]+)$/, (m) => incidentPage(decodeURIComponent(m[1]))],
  [/^#\/model\/([^/]+)$/, (m) => modelPage(decodeURIComponent(m[1]))],
  [/^#\/chain$/, () => chainPage()],
  [/^#\/removals$/, () => removalsPage()],
  [/^#\/reports$/, (_, q) => reportsPage(q)],
];

async function render(build) {
  const page = document.getElementById("page");
  page.setAttribute("aria-busy", "true");
  try {
    page.replaceChildren(...[await build()].flat(Infinity).filter(Boolean));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    page.replaceChildren(h("p", { class: "error", role: "alert" }, explain(err)));
  } finally {
    page.removeAttribute("aria-busy");
  }
}

function route() {
  if (!token()) {
    showSignIn("");
    return;
  }
  document.getElementById("signin-page").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  const [path, qs] = (location.hash || "#/").split("?");
  const query = new URLSearchParams(qs || "");
  for (const a of document.querySelectorAll("#nav a")) {
    const target = a.getAttribute("href");
    a.toggleAttribute("aria-current", target === path || (target === "#/incidents" && path.startsWith("#/incident")));
  }
  for (const [pattern, build] of ROUTES) {
    const m = path.match(pattern);
    if (m) {
      render(() => build(m, query)).then(() => {
        document.title = `${document.querySelector("#page h1")?.textContent || "riskwatch"} — riskwatch console`;
      });
      return;
    }
  }
  render(async () => [heading("Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the overview"))]);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signin").addEventListener("submit", signIn);
  document.getElementById("signout").addEventListener("click", () => signOut("Signed out."));
  window.addEventListener("hashchange", () => {
    route();
    // a keyboard or screen-reader user starts reading the new page from its top
    document.getElementById("main").focus({ preventScroll: false });
  });
  // a printed incident shows every finding, not only the expanded ones
  window.addEventListener("beforeprint", () => {
    for (const d of document.querySelectorAll("details")) d.open = true;
  });
  route();
});
