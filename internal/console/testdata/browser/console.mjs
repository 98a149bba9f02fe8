// Drives the web console in Debian's chromium (playwright-core), run by
// browser_test.go: SLUICE_URL is the console, SHOTS the screenshot
// directory. It asks the Go test for Kafka-side steps by printing
// "STEP <name>" and waiting for a line on stdin.
import { chromium } from "playwright-core";
import readline from "node:readline";
import path from "node:path";

const base = process.env.SLUICE_URL;
const shots = process.env.SHOTS;
const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();
async function step(name) {
  console.log(`STEP ${name}`);
  const { value, done } = await lines.next();
  if (done || value.trim() !== "ok") throw new Error(`step ${name}: got ${done ? "EOF" : value}`);
}

const errors = [];
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let n = 0;
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } }); // a phone
  page.setDefaultTimeout(30000);
  page.on("console", (m) => { if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  page.on("response", (r) => { if (r.status() >= 400) errors.push(`${r.url()}: HTTP ${r.status()}`); });
  const shot = async (name) => {
    const file = path.join(shots, `${String(++n).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
  };
  const expectText = async (sel, text) => {
    const got = (await page.locator(sel).first().textContent()) ?? "";
    if (!got.includes(text)) throw new Error(`${page.url()}: ${sel} has ${JSON.stringify(got)}, want ${JSON.stringify(text)}`);
  };
  const notice = async (text) => expectText(".notice", text);

  await page.goto(base + "/");
  await expectText("h1", "Overview");
  await shot("overview");

  // Create a topic from the form.
  await page.goto(base + "/topics");
  await page.fill("#create-topic input[name=name]", "browser-topic");
  await page.fill("#create-topic input[name=partitions]", "1");
  await page.click("#create-topic button[type=submit]");
  await notice("Created topic browser-topic");
  await expectText("#partitions", "0");
  await shot("topic-created");

  // Produce messages from the form.
  await page.click("text=Browse messages");
  for (const [k, v] of [["order-1", '{"item":"needle","qty":2}'], ["order-2", "haystack"], ["order-3", "more hay"]]) {
    await page.fill("#produce-form input[name=key]", k);
    await page.fill("#produce-form textarea[name=value]", v);
    await page.click("#produce-form button[type=submit]");
    await notice("Produced to partition 0");
  }
  await shot("messages");

  // Find one with a filter.
  await page.fill("#browse input[name=value]", "needle");
  await page.click("#browse button[type=submit]");
  const found = await page.locator("#messages article").count();
  if (found !== 1) throw new Error(`filter found ${found} messages, want 1`);
  await expectText("#messages article", "order-1");
  await expectText("#messages pre.json", '"item": "needle"');
  await shot("messages-filtered");

  // A consumer group's lag, falling to 0 after consuming.
  await step("commit-start"); // group browser-group committed at offset 0
  await page.goto(base + "/groups");
  await page.click("text=browser-group");
  await expectText("#total-lag", "3");
  await shot("group-lag");
  await step("consume"); // the group consumed the three messages and left
  await page.reload();
  await expectText("#total-lag", "0");
  await expectText("#group-state", "Empty");
  await shot("group-consumed");

  // Reset its offsets to the earliest.
  await page.fill("#reset-form input[name=topic]", "browser-topic");
  await page.check("#reset-form input[value=earliest]");
  await page.check("#reset-form input[name=confirm]");
  await page.click("#reset-form button[type=submit]");
  await notice("Reset the offsets");
  await expectText("#total-lag", "3");
  await shot("group-reset");

  // Edit a config.
  await page.goto(base + "/topics/browser-topic");
  await page.fill("#config-form input[name=name]", "retention.ms");
  await page.fill("#config-form input[name=value]", "3600000");
  await page.click("#config-form button[value=set]");
  await notice("Set retention.ms=3600000");
  await expectText("#configs-table", "3600000");
  await shot("config-edited");

  // Delete the topic.
  await page.fill("#delete-topic input[name=confirm]", "browser-topic");
  await page.click("#delete-topic button[type=submit]");
  await notice("Deleted topic browser-topic");
  if ((await page.locator("#topics a", { hasText: "browser-topic" }).count()) !== 0) throw new Error("deleted topic still listed");
  await shot("topic-deleted");
} finally {
  rl.close();
  await browser.close();
}
if (errors.length) {
  console.error("console errors:\n" + errors.join("\n"));
  process.exit(1);
}
console.log(`DONE ${n} screenshots`);
process.exit(0);
