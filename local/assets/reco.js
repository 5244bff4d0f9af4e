// reco.js: record product views and show recommendations. One ES module, no
// dependencies, no eval, no inline code (works under a strict Content-Security-Policy).
// It never throws into the page: API down, bad token or offline resolve to an empty
// list and a console warning.
//
//   import { createReco } from "/reco.js";
//   const reco = createReco({
//     endpoint: "https://api.example.com",          // the API's base URL ("" = this origin)
//     token: async ({ sessionId, customerId }) => (await fetch("/my/token", ...)).text(),
//   });
//   reco.trackView("sku-1");
//   reco.render(el, await reco.recommendations({ k: 8 }), (item) => myCard(item));

const SESSION_KEY = "reco.session";
const ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789";

function warn(...args) {
  try {
    console.warn("reco:", ...args);
  } catch (_) {
    /* no console */
  }
}

function randomId() {
  const bytes = new Uint8Array(20);
  (globalThis.crypto || {}).getRandomValues
    ? crypto.getRandomValues(bytes)
    : bytes.forEach((_, i) => (bytes[i] = Math.floor(Math.random() * 256)));
  return "s-" + Array.from(bytes, (b) => ID_CHARS[b % ID_CHARS.length]).join("");
}

function empty(error) {
  return { recommendation_id: null, model_version: null, strategy: null, items: [], error };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function createReco(options = {}) {
  const endpoint = String(options.endpoint || "").replace(/\/+$/, "");
  const idleMs = 1000 * (options.sessionTimeoutSecs || 1800);
  const storage = options.storage === undefined ? safeStorage() : options.storage;
  const batchMs = options.batchMs === undefined ? 1000 : options.batchMs;
  const getToken = typeof options.token === "function" ? options.token : null;
  let customerId = options.customerId || null;
  let memorySession = null;
  let queue = [];
  let shownQueue = [];
  let timer = null;
  let sending = null;
  let cachedToken = null;

  function safeStorage() {
    try {
      const s = globalThis.localStorage;
      s.setItem("reco.probe", "1");
      s.removeItem("reco.probe");
      return s;
    } catch (_) {
      return null;
    }
  }

  // One session per browser profile and origin (shared by its tabs), renewed after
  // the server's idle timeout.
  function session(touch) {
    const now = Date.now();
    let s = memorySession;
    try {
      if (storage) s = JSON.parse(storage.getItem(SESSION_KEY) || "null");
    } catch (_) {
      s = null;
    }
    if (!s || typeof s.id !== "string" || now - (s.at || 0) > idleMs) {
      s = { id: randomId(), at: now };
    }
    if (touch) s.at = now;
    memorySession = s;
    try {
      if (storage) storage.setItem(SESSION_KEY, JSON.stringify(s));
    } catch (_) {
      /* storage full or denied: the session lives in memory */
    }
    return s.id;
  }

  async function token(fresh) {
    const sessionId = session(false);
    const key = sessionId + "|" + (customerId || "");
    if (!fresh && cachedToken && cachedToken.key === key && cachedToken.until > Date.now()) {
      return cachedToken.value;
    }
    if (!getToken) throw new Error("no token function given");
    const value = String(await getToken({ sessionId, customerId }));
    cachedToken = { key, value, until: Date.now() + 5 * 60 * 1000 };
    return value;
  }

  async function call(method, path, body, { keepalive = false, retries = 0 } = {}) {
    let fresh = false;
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        const headers = { Authorization: "Bearer " + (await token(fresh)) };
        if (body !== undefined) headers["Content-Type"] = "application/json";
        response = await fetch(endpoint + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          keepalive,
          credentials: "omit",
        });
      } catch (e) {
        if (attempt < retries) {
          await sleep(250 * 2 ** attempt);
          continue;
        }
        throw e;
      }
      if (response.status === 401 && !fresh) {
        fresh = true; // the token may have expired: ask the site once more
        continue;
      }
      if ((response.status >= 500 || response.status === 429) && attempt < retries) {
        const after = Number(response.headers.get("retry-after"));
        await sleep(after > 0 ? Math.min(after, 30) * 1000 : 250 * 2 ** attempt);
        continue;
      }
      let json = null;
      try {
        json = await response.json();
      } catch (_) {
        /* not JSON */
      }
      if (!response.ok) {
        const code = json && json.error ? json.error.code : response.status;
        const message = json && json.error ? json.error.message : response.statusText;
        throw new Error(code + ": " + message);
      }
      return json;
    }
  }

  async function send(path, body, keepalive, what) {
    sending = call("POST", "/v1/sessions/" + encodeURIComponent(session(true)) + path, body, {
      keepalive,
      retries: keepalive ? 0 : 3,
    });
    try {
      await sending;
    } catch (e) {
      warn(what + " not recorded:", e.message || e);
    } finally {
      sending = null;
    }
  }

  // Sends queued views (at most 25 per request), then, unless `viewsOnly`, queued
  // impressions (at most 10 per request).
  async function flush(keepalive = false, viewsOnly = false) {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (sending) await sending.catch(() => {});
    if (queue.length) {
      const views = queue.splice(0, 25);
      await send("/views", customerId ? { views, customer_id: customerId } : { views }, keepalive, "views");
    } else if (shownQueue.length && !viewsOnly) {
      await send("/impressions", { impressions: shownQueue.splice(0, 10) }, keepalive, "impressions");
    } else return;
    return flush(keepalive, viewsOnly);
  }

  function schedule() {
    if (queue.length >= 20 || batchMs === 0) {
      flush();
    } else if (!timer) {
      timer = setTimeout(() => flush(), batchMs);
    }
  }

  // Records that `response`'s list was shown (its items, or `itemIds` when the page
  // showed only some), for click-through per model version and strategy. The
  // instance's render() calls it.
  function shown(response, itemIds) {
    try {
      if (!response || !response.recommendation_id) return;
      const ids = (itemIds || (response.items || []).map((i) => i.item_id)).slice(0, 100);
      if (!ids.length) return;
      shownQueue.push({
        recommendation_id: response.recommendation_id,
        model_version: response.model_version,
        strategy: response.strategy,
        item_ids: ids,
        shown_at: new Date().toISOString(),
      });
      schedule();
    } catch (e) {
      warn(e);
    }
  }

  // `recommendationId`: the `recommendation_id` of the list the visitor opened the
  // item from, which attributes the click to that recommendation.
  function trackView(itemId, { recommendationId } = {}) {
    try {
      if (typeof itemId !== "string" || itemId === "") {
        warn("trackView needs an item id (a non-empty string)");
        return;
      }
      const view = { item_id: itemId, viewed_at: new Date().toISOString() };
      if (recommendationId !== undefined && recommendationId !== null) {
        if (/^[0-9a-f]{32}$/.test(String(recommendationId))) view.recommendation_id = String(recommendationId);
        else warn("trackView: recommendationId is not a recommendation_id; the view is sent without it");
      }
      queue.push(view);
      schedule();
    } catch (e) {
      warn(e);
    }
  }

  // Views still queued go out when the page is hidden or left. `fetch` with
  // `keepalive` (not `sendBeacon`, which cannot carry the Authorization header).
  try {
    const hidden = () => {
      if (queue.length || shownQueue.length) flush(true);
    };
    globalThis.addEventListener &&
      globalThis.addEventListener("visibilitychange", () => {
        if (globalThis.document && document.visibilityState === "hidden") hidden();
      });
    globalThis.addEventListener && globalThis.addEventListener("pagehide", hidden);
  } catch (_) {
    /* not in a browser */
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === "") continue;
      q.set(k, Array.isArray(v) ? v.join(",") : String(v));
    }
    const s = q.toString();
    return s ? "?" + s : "";
  }

  async function list(path, params) {
    try {
      // Views still queued count: send them first.
      if (queue.length || sending) await flush(false, true);
      return await call("GET", path + query(params), undefined, { retries: 1 });
    } catch (e) {
      warn("no recommendations:", e.message || e);
      return empty(String(e.message || e));
    }
  }

  return {
    sessionId: () => session(false),
    customerId: () => customerId,
    setCustomer(id) {
      customerId = id || null;
      cachedToken = null;
    },
    reset() {
      queue = [];
      shownQueue = [];
      customerId = null;
      cachedToken = null;
      memorySession = null;
      try {
        if (storage) storage.removeItem(SESSION_KEY);
      } catch (_) {
        /* ignore */
      }
    },
    trackView,
    flush: () => flush().catch((e) => warn(e)),
    recommendations: ({ k, category, excludeSeen, exclude } = {}) =>
      list("/v1/recommendations", {
        session_id: session(false),
        customer_id: customerId,
        k,
        category,
        exclude_seen: excludeSeen,
        exclude,
      }),
    similar: (itemId, { k, category } = {}) =>
      list("/v1/items/" + encodeURIComponent(itemId) + "/similar", {
        k,
        category,
        session_id: session(false),
      }),
    popular: ({ k, category } = {}) => list("/v1/popular", { k, category }),
    shown,
    // Draws the list and records it as shown.
    render(container, response, template) {
      if (render(container, response, template)) shown(response);
    },
  };
}

// Fills `container` with one element per item: `template(item, response)` returns a
// Node (or a string, shown as text). Without a template, each item is its id. Returns
// whether it drew anything. (An instance's render also records the impression.)
export function render(container, response, template) {
  try {
    if (!container) return false;
    const items = (response && response.items) || [];
    const nodes = items.map((item) => {
      const made = template ? template(item, response) : item.item_id;
      if (made instanceof Node) return made;
      const li = document.createElement("li");
      li.textContent = String(made);
      return li;
    });
    container.replaceChildren(...nodes);
    return nodes.length > 0;
  } catch (e) {
    warn("render failed:", e);
    return false;
  }
}
