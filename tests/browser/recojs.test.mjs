// reco.js's behaviour against a scripted `fetch` (node --test): batching, the token
// function, retries with backoff, and that nothing throws into the page.
//   node --test tests/browser/recojs.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { createReco, render } from "../../local/assets/reco.js";

// Answers each request with the next scripted response (an Error is thrown as a
// network failure) and records what was asked.
function script(...answers) {
  const calls = [];
  globalThis.fetch = async (url, init = {}) => {
    calls.push({ url, method: init.method, headers: init.headers, body: init.body, keepalive: init.keepalive });
    const next = answers.length > 1 ? answers.shift() : answers[0];
    if (next instanceof Error) throw next;
    const [status, body, headers] = next;
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...(headers || {}) } });
  };
  return calls;
}

const ok = [200, { accepted: 1 }];
const list = [200, { recommendation_id: "ab", model_version: "v1", strategy: "session", items: [{ item_id: "x", score: 1, reason: { popular: true } }] }];

function quiet() {
  const warnings = [];
  console.warn = (...a) => warnings.push(a.join(" "));
  return warnings;
}

test("views are batched into one request with the session's token", async () => {
  const calls = script(ok);
  let asked = 0;
  const reco = createReco({ batchMs: 50, storage: null, token: async ({ sessionId }) => { asked++; return "t-" + sessionId; } });
  reco.trackView("a");
  reco.trackView("b");
  reco.trackView("c");
  assert.equal(calls.length, 0, "nothing is sent at once");
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(calls.length, 1);
  const sid = reco.sessionId();
  assert.ok(calls[0].url.endsWith(`/v1/sessions/${sid}/views`));
  assert.equal(calls[0].headers.Authorization, "Bearer t-" + sid);
  assert.deepEqual(JSON.parse(calls[0].body).views.map((v) => v.item_id), ["a", "b", "c"]);
  assert.equal(asked, 1);
});

test("a list sends the queued views first and names the customer once logged in", async () => {
  const calls = script(ok, list);
  const reco = createReco({ batchMs: 10_000, storage: null, token: async () => "t" });
  reco.setCustomer("c-1");
  reco.trackView("a");
  const r = await reco.recommendations({ k: 3, category: "shoes" });
  assert.equal(r.strategy, "session");
  assert.equal(calls.length, 2);
  assert.equal(JSON.parse(calls[0].body).customer_id, "c-1");
  const url = new URL(calls[1].url, "http://x");
  assert.equal(url.pathname, "/v1/recommendations");
  assert.equal(url.searchParams.get("customer_id"), "c-1");
  assert.equal(url.searchParams.get("k"), "3");
  assert.equal(url.searchParams.get("category"), "shoes");
});

test("5xx and network errors are retried with backoff, then the views go through", async () => {
  const warnings = quiet();
  const calls = script([503, { error: { code: "unavailable", message: "later" } }], new Error("offline"), ok);
  const reco = createReco({ batchMs: 0, storage: null, token: async () => "t" });
  reco.trackView("a");
  await reco.flush();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(calls.length, 3);
  assert.equal(warnings.length, 0, warnings.join("; "));
});

test("a 401 asks the site for a fresh token once", async () => {
  const calls = script([401, { error: { code: "unauthorized", message: "expired" } }], list);
  let asked = 0;
  const reco = createReco({ storage: null, token: async () => `t${++asked}` });
  const r = await reco.popular({ k: 2 });
  assert.equal(r.items.length, 1);
  assert.equal(asked, 2);
  assert.equal(calls[1].headers.Authorization, "Bearer t2");
});

test("API down, bad tokens and bad input never throw: empty lists and warnings", async () => {
  const warnings = quiet();
  script(new Error("connection refused"));
  const reco = createReco({ storage: null, token: async () => "t" });
  const r = await reco.recommendations();
  assert.deepEqual(r.items, []);
  assert.equal(r.strategy, null);
  const failing = createReco({ storage: null, token: async () => { throw new Error("no backend"); } });
  assert.deepEqual((await failing.similar("x")).items, []);
  reco.trackView(42);
  reco.trackView("");
  assert.ok(warnings.length >= 4, warnings.join("; "));
  script([403, { error: { code: "forbidden", message: "not your session" } }]);
  assert.deepEqual((await reco.popular()).items, []);
});

test("the session id is kept in storage and renewed after the idle timeout", async () => {
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
  const a = createReco({ storage, token: async () => "t" });
  const b = createReco({ storage, token: async () => "t" });
  const id = a.sessionId();
  assert.match(id, /^s-[a-z0-9]{20}$/);
  assert.equal(b.sessionId(), id, "tabs share the session");
  const s = JSON.parse(store.get("reco.session"));
  store.set("reco.session", JSON.stringify({ ...s, at: Date.now() - 31 * 60 * 1000 }));
  assert.notEqual(a.sessionId(), id, "renewed after 30 idle minutes");
  a.reset();
  assert.equal(store.has("reco.session"), false);
});

test("a view opened from a recommendation carries its recommendation_id; a bad one is dropped", async () => {
  const warnings = quiet();
  const calls = script(ok);
  const reco = createReco({ batchMs: 10_000, storage: null, token: async () => "t" });
  const rid = "0123456789abcdef0123456789abcdef";
  reco.trackView("a", { recommendationId: rid });
  reco.trackView("b", { recommendationId: "not-an-id" });
  await reco.flush();
  const views = JSON.parse(calls[0].body).views;
  assert.equal(views[0].recommendation_id, rid);
  assert.equal("recommendation_id" in views[1], false);
  assert.equal(warnings.length, 1);
});

test("a shown list is recorded as an impression, after the views, at most 10 per request", async () => {
  const calls = script(ok);
  const reco = createReco({ batchMs: 10_000, storage: null, token: async () => "t" });
  const rid = (d) => String(d).repeat(32);
  const response = (d, ids) => ({
    recommendation_id: rid(d),
    model_version: "v1",
    strategy: "session",
    items: ids.map((item_id) => ({ item_id, score: 1, reason: { popular: true } })),
  });
  reco.trackView("a");
  reco.shown(response(1, ["x", "y"]));
  reco.shown(response(2, ["x", "y", "z"]), ["z"]);
  for (let i = 0; i < 9; i++) reco.shown(response(3, ["w"]));
  reco.shown({ items: [{ item_id: "q" }] }); // no recommendation_id: nothing to attribute
  reco.shown(response(4, [])); // nothing shown
  await reco.flush();
  assert.deepEqual(calls.map((c) => c.url.split("/").pop()), ["views", "impressions", "impressions"]);
  const first = JSON.parse(calls[1].body).impressions;
  assert.equal(first.length, 10);
  assert.deepEqual(first[0].item_ids, ["x", "y"]);
  assert.equal(first[0].recommendation_id, rid(1));
  assert.equal(first[0].strategy, "session");
  assert.deepEqual(first[1].item_ids, ["z"], "only what the page showed");
  assert.equal(JSON.parse(calls[2].body).impressions.length, 1);
});

test("an instance's render draws the list and records it; the module's render only draws", async () => {
  const calls = script(ok);
  const reco = createReco({ batchMs: 10_000, storage: null, token: async () => "t" });
  const container = { replaceChildren: (...n) => (container.children = n) };
  globalThis.Node = class {};
  globalThis.document = { createElement: () => ({}) };
  const r = { recommendation_id: "f".repeat(32), model_version: "v1", strategy: "popular", items: [{ item_id: "p" }] };
  reco.render(container, r);
  assert.equal(container.children.length, 1);
  await reco.flush();
  assert.equal(calls.length, 1);
  assert.deepEqual(JSON.parse(calls[0].body).impressions[0].item_ids, ["p"]);
  render(container, r);
  await reco.flush();
  assert.equal(calls.length, 1, "the module's render records nothing");
  delete globalThis.Node;
  delete globalThis.document;
});
