// The baton-trace page in a real browser: Debian's Chromium, driven by playwright-core.
// run.sh starts the server, feeds it the demo-like traces of `examples/feed_demo.rs`, and
// runs this with BATON_TRACE_URL (the page) and BATON_TRACE_SCREENSHOT (where to save it).
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";

const url = process.env.BATON_TRACE_URL;
const screenshot = process.env.BATON_TRACE_SCREENSHOT || "target/trace-view.png";
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
assert.ok(url, "set BATON_TRACE_URL to the page's address");

const COLOURS = { ok: "#2e9d4f", error: "#e0a800", fault: "#d13212", throttle: "#8a4fd0" };
const TIMEOUT = 15000;

function step(name) {
  console.log(`browser test: ${name}`);
}

// The ring arcs of a map node, as { status: { colour, share } }.
async function ring(page, id) {
  return page.$$eval(`#map g.node[data-id="${id}"] circle.ring`, (arcs) =>
    Object.fromEntries(arcs.map((a) => [a.dataset.status, { colour: a.getAttribute("stroke"), share: Number(a.dataset.share) }])));
}

async function rows(page) {
  return page.$$eval("#traces tbody tr.trace-row", (trs) => trs.map((tr) => ({ id: tr.dataset.trace, status: tr.dataset.status, root: tr.cells[1].textContent })));
}

// Waits until the list shows `count` rows (the page refreshes it by itself).
async function waitForRows(page, count) {
  await page.waitForFunction((n) => document.querySelectorAll("#traces tbody tr.trace-row").length === n, count, { timeout: TIMEOUT });
}

const profile = mkdtempSync(join(tmpdir(), "baton-trace-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1500, height: 1150 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
let failed = false;
try {
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // (A refused filter is a 400 answer, which the browser reports on its console: expected.)
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().includes("status of 400")) problems.push(`console error: ${m.text()}`);
  });
  // Nothing but the page's own server may be asked for anything.
  const origin = new URL(url).origin;
  page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) problems.push(`outside request: ${r.url()}`); });

  step("the list");
  await page.goto(url);
  await waitForRows(page, 13);
  const listed = await rows(page);
  const statuses = listed.map((r) => r.status);
  for (const s of ["ok", "error", "fault", "throttle"]) assert.ok(statuses.includes(s), `a ${s} trace is listed: ${statuses}`);
  assert.equal(statuses.filter((s) => s === "fault").length, 1);
  assert.equal(statuses.filter((s) => s === "throttle").length, 1);
  assert.equal(statuses.filter((s) => s === "error").length, 1);
  assert.equal(listed[0].root, "reports", "newest first: the report ran last");
  assert.match(await page.textContent("#counts"), /13 traces held/);

  step("the map's nodes and rings");
  await page.waitForSelector('#map g.node[data-id="service:shipping"]', { timeout: TIMEOUT });
  const nodes = await page.$$eval("#map g.node", (gs) => gs.map((g) => g.dataset.id).sort());
  assert.deepEqual(nodes, [
    "bus:shop-bus", "service:billing", "service:checkout", "service:fulfilment", "service:reports",
    "service:shipping", "state-machine:ship-order", "table:DynamoDB", "topic:orders",
  ]);
  const billing = await ring(page, "service:billing");
  assert.deepEqual(Object.keys(billing).sort(), ["fault", "ok"]);
  assert.equal(billing.fault.colour, COLOURS.fault);
  assert.equal(billing.ok.colour, COLOURS.ok);
  assert.ok(Math.abs(billing.fault.share - 1 / 11) < 0.001, `billing fault share ${billing.fault.share}`);
  const table = await ring(page, "table:DynamoDB");
  assert.equal(table.throttle.colour, COLOURS.throttle);
  assert.ok(Math.abs(table.throttle.share - 1 / 11) < 0.001);
  const checkout = await ring(page, "service:checkout");
  assert.equal(checkout.error.colour, COLOURS.error);
  assert.ok(Math.abs(checkout.error.share - 1 / 12) < 0.001, `checkout error share ${checkout.error.share}`);
  const shipping = await ring(page, "service:shipping");
  assert.deepEqual(Object.keys(shipping), ["ok"]);
  assert.equal(shipping.ok.share, 1);
  const edge = await page.textContent('#map g.edge[data-from="service:checkout"][data-to="topic:orders"] text');
  assert.match(edge, /^11 calls · \d+\.\d ms$/);
  const into = await page.getAttribute('#map g.edge[data-from="bus:shop-bus"][data-to="service:billing"]', "class");
  assert.match(into, /failing/);

  step("open the failed trace");
  await page.click('#traces tr.trace-row[data-status="fault"]');
  await page.waitForSelector("#waterfall .wf-row", { timeout: TIMEOUT });
  const labels = await page.$$eval("#waterfall .wf-row .wf-label", (ls) => ls.map((l) => l.firstChild.textContent));
  assert.deepEqual(labels.slice(0, 3), ["[checkout]", "DynamoDB GetItem", "SNS Publish (orders)"]);
  assert.ok(labels.includes("[billing]"), labels.join(" | "));
  await page.click('#waterfall .wf-row.fault.segment');
  await page.waitForFunction(() => document.querySelector("#detail h3")?.textContent === "[billing]", null, { timeout: TIMEOUT });
  const detail = await page.textContent("#detail");
  assert.match(detail, /status\s*fault/);
  assert.match(detail, /order_id\s*45/);
  assert.ok(await page.isVisible("#detail h4:text('Annotations')"));
  assert.ok(await page.isVisible("#detail h4:text('Metadata')"));

  step("a link opens the linked trace");
  const report = listed.find((r) => r.root === "reports").id;
  await page.click(`#traces tr.trace-row[data-trace="${report}"]`);
  await page.waitForSelector("#detail a.trace-link", { timeout: TIMEOUT });
  const linked = await page.getAttribute("#detail a.trace-link", "data-trace");
  await page.click("#detail a.trace-link");
  await page.waitForFunction((id) => document.querySelector("#trace-title").textContent === "Trace " + id, linked, { timeout: TIMEOUT });
  assert.ok(await page.isVisible(`#traces tr.trace-row.selected[data-trace="${linked}"]`));
  assert.ok(page.url().includes("trace=" + linked));

  step("filter expressions");
  await page.fill("#f-q", 'annotation.order_id = "45"');
  await page.click("#f-apply");
  await waitForRows(page, 1);
  assert.deepEqual((await rows(page)).map((r) => r.status), ["fault"]);
  await page.fill("#f-q", "annotation.order_id = ");
  await page.click("#f-apply");
  await page.waitForSelector("#f-error:not([hidden])", { timeout: TIMEOUT });
  assert.match(await page.textContent("#f-error"), /at character 22: expected a value after `=`/);
  await page.fill("#f-q", "throttle OR http.status = 404");
  await page.click("#f-apply");
  await waitForRows(page, 2);
  assert.ok(await page.isHidden("#f-error"));
  assert.deepEqual((await rows(page)).map((r) => r.status).sort(), ["error", "throttle"]);
  await page.fill("#f-q", "");
  await page.click("#f-apply");
  await waitForRows(page, 13);
  await page.selectOption("#f-status", "fault");
  await waitForRows(page, 1);
  await page.selectOption("#f-status", "");
  await page.selectOption("#f-service", "shipping");
  await waitForRows(page, 10);
  await page.selectOption("#f-service", "");
  await waitForRows(page, 13);

  step("click a map node to filter");
  await page.click('#map g.node[data-id="state-machine:ship-order"]');
  await waitForRows(page, 10);
  assert.ok(!(await rows(page)).some((r) => r.status === "fault"), "the failed billing run never reached the state machine");
  assert.match(await page.textContent("#f-node"), /ship-order \(state-machine\)/);
  assert.match(await page.getAttribute('#map g.node[data-id="state-machine:ship-order"]', "class"), /selected/);
  await page.click('#map g.node[data-id="service:billing"]');
  await waitForRows(page, 11);
  await page.click("#f-node-clear");
  await waitForRows(page, 13);

  step("screenshot");
  await page.click('#traces tr.trace-row[data-status="fault"]');
  await page.waitForSelector("#waterfall .wf-row.fault", { timeout: TIMEOUT });
  await page.click('#waterfall .wf-row.fault.segment');
  await page.waitForFunction(() => document.querySelector("#detail h3")?.textContent === "[billing]", null, { timeout: TIMEOUT });
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`browser test: screenshot saved to ${screenshot}`);

  assert.deepEqual(problems, [], "no script errors and no requests elsewhere");
  console.log("browser test: passed");
} catch (error) {
  failed = true;
  console.error("browser test: FAILED");
  console.error(error);
  try {
    const page = context.pages()[0];
    if (page) {
      const failure = screenshot.replace(/\.png$/, "") + "-failure.png";
      mkdirSync(dirname(failure), { recursive: true });
      await page.screenshot({ path: failure, fullPage: true });
      console.error(`browser test: the page as it was: ${failure}`);
    }
  } catch (_) { /* the screenshot is a courtesy */ }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
