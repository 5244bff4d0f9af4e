// The demo storefront: plain DOM and reco.js. Home shows "Recommended for you" and
// the popular items per category; a product page records the view and shows similar
// items and "Because you viewed ...". The visitor can log in as a generated customer
// part way (the session then gains the customer) and reset to a new session.
import { createReco } from "/reco.js";

const CUSTOMER_KEY = "reco.demo.customer";
const colours = ["#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#b7950b"];

const reco = createReco({
  endpoint: "",
  batchMs: 0, // the demo sends each view at once, so the next list reflects it
  token: async ({ sessionId, customerId }) => {
    const r = await fetch("/demo/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(customerId ? { session_id: sessionId, customer_id: customerId } : { session_id: sessionId }),
    });
    if (!r.ok) throw new Error("token: " + r.status);
    return (await r.json()).token;
  },
});

let catalogue = { products: [], customers: [] };
const byId = new Map();
let categories = [];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function name(itemId) {
  const p = byId.get(itemId);
  return p ? p.name : itemId;
}

function why(reason) {
  if (!reason) return "";
  if (reason.because_viewed) return "because you viewed " + name(reason.because_viewed);
  if (reason.similar_to) return "similar to " + name(reason.similar_to);
  if (reason.because_feature) return "liked by customers like you (" + reason.because_feature + ")";
  if (reason.because_history) return "from your history";
  if (reason.popular) return "popular";
  return "";
}

// A coloured dot per category (set through the CSSOM: the page's policy forbids
// inline style attributes).
function swatch(colour) {
  const s = el("span", { class: "swatch" });
  s.style.backgroundColor = colour;
  return s;
}

// The recommendation a product page was opened from, for click attribution.
let openedFrom = null;

function card(item, response) {
  const p = byId.get(item.item_id) || { name: item.item_id, category: "", price: 0 };
  const colour = colours[Math.max(0, categories.indexOf(p.category)) % colours.length];
  return el(
    "li",
    { class: "card", "data-item": item.item_id, "data-category": p.category },
    link(item.item_id, response && response.recommendation_id, swatch(colour), p.name),
    el("div", { class: "price", text: p.category + (p.price ? " · $" + p.price.toFixed(2) : "") }),
    el("div", { class: "why", text: why(item.reason) }),
  );
}

function link(itemId, recommendationId, ...children) {
  const a = el("a", { href: "#/item/" + encodeURIComponent(itemId) }, ...children);
  if (recommendationId) {
    a.dataset.recommendation = recommendationId;
    a.addEventListener("click", () => {
      openedFrom = { itemId, recommendationId };
    });
  }
  return a;
}

function section(id, title, response) {
  const list = el("ul", { class: "cards" });
  reco.render(list, response, card);
  const meta = response && response.strategy
    ? el("div", { class: "meta", text: `strategy ${response.strategy} · model ${String(response.model_version).slice(0, 12)}` })
    : el("div", { class: "meta", text: response && response.error ? "unavailable" : "" });
  const s = el("section", { id, "data-strategy": (response && response.strategy) || "" }, el("h2", { text: title }), meta, list);
  return s;
}

async function home(page) {
  const recommended = await reco.recommendations({ k: 8 });
  const popular = await Promise.all(categories.map((c) => reco.popular({ k: 4, category: c })));
  const grid = el("div", { class: "categories" });
  categories.forEach((c, i) => grid.append(section("popular-" + c, "Popular in " + c, popular[i])));
  page.replaceChildren(section("recommended", "Recommended for you", recommended), grid);
}

async function product(page, itemId) {
  const p = byId.get(itemId);
  if (!p) {
    page.replaceChildren(el("p", { text: "No such product: " + itemId }));
    return;
  }
  const from = openedFrom && openedFrom.itemId === itemId ? openedFrom.recommendationId : undefined;
  openedFrom = null;
  reco.trackView(itemId, { recommendationId: from });
  await reco.flush();
  const [similar, recommended] = await Promise.all([
    reco.similar(itemId, { k: 6 }),
    reco.recommendations({ k: 12 }),
  ]);
  const details = el("div", { class: "product", id: "product", "data-item": itemId },
    el("h1", { text: p.name }),
    el("div", { text: `${p.category} · ${p.style} · ${p.brand}` }),
    el("div", { class: "price", text: p.price ? "$" + p.price.toFixed(2) : "" }));
  // "Because you viewed X": the personalised list grouped by the view each item owes
  // most of its score to.
  const groups = new Map();
  for (const item of recommended.items || []) {
    const v = item.reason && item.reason.because_viewed;
    if (!v) continue;
    if (!groups.has(v)) groups.set(v, []);
    groups.get(v).push(item);
  }
  const because = [...groups.entries()].slice(0, 2).map(([v, items], i) =>
    section("because-" + i, "Because you viewed " + name(v), { ...recommended, items: items.slice(0, 6) }));
  page.replaceChildren(details, section("similar", "Similar items", similar), ...because);
}

async function show() {
  const page = document.getElementById("page");
  document.getElementById("session").textContent = reco.sessionId();
  const m = location.hash.match(/^#\/item\/(.+)$/);
  try {
    if (m) await product(page, decodeURIComponent(m[1]));
    else await home(page);
  } catch (e) {
    page.replaceChildren(el("p", { text: "Something went wrong: " + e }));
  }
  page.setAttribute("data-ready", String(Date.now()));
}

async function start() {
  try {
    const r = await fetch("/demo/catalogue.json");
    catalogue = await r.json();
  } catch (e) {
    console.warn("reco demo: no catalogue", e);
  }
  for (const p of catalogue.products) byId.set(p.item_id, p);
  categories = [...new Set(catalogue.products.map((p) => p.category))].filter(Boolean).sort();
  const login = document.getElementById("login");
  for (const c of catalogue.customers.slice(0, 50)) login.append(el("option", { value: c, text: c }));
  const saved = localStorage.getItem(CUSTOMER_KEY);
  if (saved && catalogue.customers.includes(saved)) {
    login.value = saved;
    reco.setCustomer(saved);
  }
  login.addEventListener("change", () => {
    reco.setCustomer(login.value);
    if (login.value) localStorage.setItem(CUSTOMER_KEY, login.value);
    else localStorage.removeItem(CUSTOMER_KEY);
    show();
  });
  document.getElementById("reset").addEventListener("click", () => {
    reco.reset();
    localStorage.removeItem(CUSTOMER_KEY);
    login.value = "";
    location.hash = "#/";
    show();
  });
  window.addEventListener("hashchange", show);
  show();
}

start();
