// The storefront in a real browser (Debian's chromium driven by playwright-core):
// a demo shop is built (`reco demo --no-serve`) and served (`reco serve`); a visitor
// opens the storefront, which starts on `popular`; views three products of one
// category; the home list turns to `session` and leans to that category; opens a
// recommended product (the view carries the list's recommendation_id, and the list
// was recorded as shown); the sessions are archived (`reco deadpool --all`) and the
// admin page shows the current version, its learning curve and the click in the
// click-through table; then the API stops and the page must raise no uncaught error.
//
//   node tests/browser/storefront.mjs RECO_BIN [SCREENSHOT_DIR]
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(process.env.RECO_NODE_MODULES + "/");
const { chromium } = require("playwright-core");

const [bin, shots] = process.argv.slice(2);
if (!bin) {
  console.error("usage: storefront.mjs RECO_BIN [SCREENSHOT_DIR]");
  process.exit(2);
}
const fail = (message) => {
  throw new Error(message);
};
const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const root = mkdtempSync(join(tmpdir(), "reco-browser-"));
const data = join(root, "shop");
let server = null;
let browser = null;
try {
  const demo = spawnSync(
    bin,
    ["demo", "--no-serve", "--seed", "5", "--items-per-category", "30", "--customers", "300",
     "--sessions", "1500", "--data-dir", data],
    { encoding: "utf8", timeout: 300_000 },
  );
  if (demo.status !== 0) fail("reco demo failed:\n" + demo.stdout + demo.stderr);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  server = spawn(bin, ["serve", "--addr", `127.0.0.1:${port}`, "--data-dir", data], {
    stdio: "ignore",
  });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(base + "/reco.js")).ok) break;
    } catch (_) {
      /* not listening yet */
    }
    if (i > 100) fail("reco serve did not start");
    await new Promise((r) => setTimeout(r, 100));
  }

  browser = await chromium.launch({
    executablePath: process.env.RECO_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  let ready = "";
  const settled = async () => {
    await page.waitForFunction(
      (prev) => {
        const p = document.getElementById("page");
        return p && p.dataset.ready && p.dataset.ready !== prev;
      },
      ready,
      { timeout: 15_000 },
    );
    ready = await page.getAttribute("#page", "data-ready");
  };
  const strategy = () => page.getAttribute("#recommended", "data-strategy");

  await page.goto(base + "/demo/");
  await settled();
  if ((await strategy()) !== "popular") fail("a new visitor's list is " + (await strategy()));
  if (shots) await page.screenshot({ path: join(shots, "storefront-new-visitor.png"), fullPage: true });

  for (const item of ["watches-001", "watches-004", "watches-007"]) {
    await page.evaluate((id) => (location.hash = "#/item/" + id), item);
    await settled();
    const shown = await page.getAttribute("#product", "data-item");
    if (shown !== item) fail(`product page shows ${shown}, not ${item}`);
  }
  const similar = await page.$$eval("#similar li", (l) => l.length);
  if (similar < 1) fail("no similar items on the product page");
  if (shots) await page.screenshot({ path: join(shots, "storefront-product.png"), fullPage: true });

  await page.evaluate(() => (location.hash = "#/"));
  await settled();
  if ((await strategy()) !== "session") fail("after three views the list is " + (await strategy()));
  const categories = await page.$$eval("#recommended li", (l) => l.map((e) => e.dataset.category));
  const watches = categories.filter((c) => c === "watches").length;
  if (watches * 2 <= categories.length) fail("the list does not lean to watches: " + categories);
  if (shots) await page.screenshot({ path: join(shots, "storefront-session.png"), fullPage: true });

  // Open a recommended product from the home list: the view is attributed to the
  // list's recommendation_id in the session document.
  const first = await page.getAttribute("#recommended li", "data-item");
  const rid = await page.getAttribute("#recommended li a", "data-recommendation");
  if (!/^[0-9a-f]{32}$/.test(rid || "")) fail("the list's links carry no recommendation_id: " + rid);
  await page.click("#recommended li a");
  await settled();
  if ((await page.getAttribute("#product", "data-item")) !== first) fail("the recommended link did not open " + first);
  const sessionDoc = () =>
    page.evaluate(async () => {
      const sid = document.getElementById("session").textContent;
      const t = await (await fetch("/demo/token", { method: "POST", body: JSON.stringify({ session_id: sid }) })).json();
      return (await fetch("/v1/sessions/" + sid, { headers: { Authorization: "Bearer " + t.token } })).json();
    });
  let doc = await sessionDoc();
  const last = doc.items_viewed[doc.items_viewed.length - 1];
  if (last.item_id !== first || last.recommendation_id !== rid) {
    fail("the click was not attributed: " + JSON.stringify(last) + " expected " + rid);
  }
  // The list it was opened from was recorded as shown (reco.js sends impressions in
  // batches, within a second).
  for (let i = 0; !doc.impressions.some((s) => s.recommendation_id === rid && s.item_ids.includes(first)); i++) {
    if (i > 50) fail("the list was not recorded as shown: " + JSON.stringify(doc.impressions));
    await new Promise((r) => setTimeout(r, 100));
    doc = await sessionDoc();
  }
  const archive = spawnSync(bin, ["deadpool", "--all", "--data-dir", data], { encoding: "utf8" });
  if (archive.status !== 0) fail("reco deadpool --all failed: " + archive.stdout + archive.stderr);

  // The admin page with an operator's token: the published version is current.
  const admin = spawnSync(bin, ["token", "--admin", "--data-dir", data], { encoding: "utf8" });
  if (admin.status !== 0) fail("reco token --admin failed: " + admin.stderr);
  const adminPage = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  adminPage.on("pageerror", (e) => errors.push("admin: " + String(e)));
  await adminPage.goto(base + "/admin");
  await adminPage.fill("#token", admin.stdout.trim().split("\n").pop());
  await adminPage.click("#login button");
  await adminPage.waitForSelector("body[data-ready]", { timeout: 15_000 });
  const current = await adminPage.$$eval("#versions tr.current", (r) => r.length);
  if (current !== 1) fail("the admin page shows " + current + " current versions");
  await adminPage.waitForSelector("#curve img", { timeout: 15_000 });
  const clicked = await adminPage.$$eval("#click-through tr[data-strategy=session]", (r) =>
    r.map((e) => Number(e.dataset.clicks)));
  if (!clicked.some((c) => c >= 1)) fail("the click-through table shows no click on a session list: " + clicked);
  if (shots) await adminPage.screenshot({ path: join(shots, "admin.png"), fullPage: true });
  await adminPage.close();

  // The API goes away: the page keeps working, empty lists, no uncaught error.
  server.kill("SIGKILL");
  server = null;
  await page.evaluate(() => (location.hash = "#/"));
  await settled();
  const left = await page.$$eval("#recommended li", (l) => l.length);
  if (left !== 0) fail("a list was shown with the API down");
  if (errors.length) fail("uncaught errors in the page: " + errors.join("; "));
  console.log(`browser test passed: popular -> session, ${watches}/${categories.length} watches, click counted, API down handled`);
} finally {
  if (browser) await browser.close();
  if (server) server.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
}
