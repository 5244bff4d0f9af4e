// The admin page: model versions with their metrics, which one is current, the
// selected version's learning curve, a rollback that asks for confirmation, the
// session store's activity and click-through per model version and strategy. Its
// data come from /v1/admin/... with an admin token (`reco token --admin`), kept in this
// tab's sessionStorage only.
const KEY = "reco.admin.token";
const $ = (id) => document.getElementById(id);

function el(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(KEY) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) {
    let message = r.status + " " + r.statusText;
    try {
      const j = await r.json();
      message = j.error.code + ": " + j.error.message;
    } catch (_) {
      /* not JSON */
    }
    throw new Error(message);
  }
  return r;
}

const fixed = (x, n = 4) => (typeof x === "number" ? x.toFixed(n) : "-");

async function curve(version) {
  $("curve-version").textContent = version;
  try {
    const blob = await (await api("GET", `/v1/admin/models/${encodeURIComponent(version)}/report.svg`)).blob();
    const img = el("img", undefined, { alt: "learning curve of " + version });
    img.src = URL.createObjectURL(blob);
    $("curve").replaceChildren(img);
  } catch (e) {
    $("curve").replaceChildren(el("p", "no learning curve: " + e.message, { class: "muted" }));
  }
}

async function activity() {
  try {
    const a = await (await api("GET", "/v1/admin/activity")).json();
    const s = a.sessions;
    const row = el("tr");
    for (const c of [s.active, s.quarantined, s.archived, s.awaiting_archive, s.archive_lag_secs + " s",
      s.views_last_minute, s.views_last_hour]) row.append(el("td", c));
    $("sessions").replaceChildren(row);
    $("activity-at").textContent = "at " + a.at;
    const rows = a.click_through.map((r) => {
      const tr = el("tr", undefined, { "data-strategy": r.strategy, "data-clicks": r.clicks });
      for (const c of [r.model_version, r.strategy, r.recommendations, r.impressions, r.clicks,
        (100 * r.click_through).toFixed(1) + " %"]) tr.append(el("td", c));
      return tr;
    });
    if (!rows.length) {
      const tr = el("tr");
      tr.append(el("td", "no impressions archived yet", { colspan: "6", class: "muted" }));
      rows.push(tr);
    }
    $("click-through").replaceChildren(...rows);
    $("activity").hidden = false;
  } catch (e) {
    $("activity").hidden = true;
    $("status").textContent += " (activity unavailable: " + e.message + ")";
  }
}

async function load() {
  const status = $("status");
  try {
    const models = await (await api("GET", "/v1/admin/models")).json();
    const rows = models.versions.map((v) => {
      const tr = el("tr", undefined, { "data-version": v.version });
      if (v.current) tr.className = "current";
      const m = v.metrics || {};
      const cells = [
        v.version + (v.current ? " (current)" : ""),
        v.created_at,
        fixed(m.precision_at_10),
        fixed(m.recall_at_10),
        fixed(m.auc),
        fixed(m.ndcg_at_10),
        fixed(v.baseline && v.baseline.popular ? v.baseline.popular.precision_at_10 : null),
        v.data ? v.data.users : "-",
        v.data ? v.data.items : "-",
        typeof v.fit_seconds === "number" ? v.fit_seconds.toFixed(1) + " s" : "-",
      ];
      for (const c of cells) tr.append(el("td", c));
      const action = el("td");
      if (!v.current) {
        const b = el("button", "roll back to this", { class: "rollback", type: "button" });
        b.addEventListener("click", async () => {
          if (!confirm(`Publish ${v.version} again in place of ${models.current}?`)) return;
          try {
            await api("POST", "/v1/admin/rollback", { to: v.version });
            await load();
          } catch (e) {
            status.textContent = "rollback failed: " + e.message;
          }
        });
        action.append(b);
      }
      tr.append(action);
      tr.addEventListener("click", (e) => {
        if (e.target.tagName !== "BUTTON") curve(v.version);
      });
      return tr;
    });
    $("versions").replaceChildren(...rows);
    $("models").hidden = false;
    status.textContent = models.current
      ? `current model ${models.current}; ${models.versions.length} version(s) published`
      : "no model published yet: run training";
    if (models.current) await curve(models.current);
    await activity();
  } catch (e) {
    $("models").hidden = true;
    status.textContent = "cannot read the models: " + e.message;
  }
  document.body.setAttribute("data-ready", String(Date.now()));
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $("token").value.trim());
  $("token").value = "";
  load();
});
if (sessionStorage.getItem(KEY)) load();
