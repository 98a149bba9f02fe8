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
  const notice = async (text) => {
    await page.locator(".notice, p.error[role=alert]").first().waitFor();
    if (await page.locator("p.error[role=alert]").count()) throw new Error(`${page.url()}: error instead of notice ${JSON.stringify(text)}: ${await page.locator("p.error[role=alert]").first().textContent()}`);
    await expectText(".notice", text);
  };

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

  // Add partitions and delete records before an offset.
  await page.fill("#partitions-form input[name=count]", "2");
  await page.click("#partitions-form button[type=submit]");
  await notice("now has 2 partitions");
  await page.selectOption("#delete-records-form select[name=partition]", "0");
  await page.fill("#delete-records-form input[name=offset]", "1");
  await page.check("#delete-records-form input[name=confirm]");
  await page.click("#delete-records-form button[type=submit]");
  await notice("before offset 1");
  await shot("topic-partitions-records");

  // Messages: from a time; by header after the live tail.
  await page.goto(base + "/topics/browser-topic/messages?partition=0&order=oldest&time=2000-01-01T00:00:00Z");
  await expectText("#messages", "order-2");

  // Live tail: a message produced while the page is open shows up.
  await page.goto(base + "/topics/browser-topic/tail");
  await step("produce-tail");
  await page.locator("#messages", { hasText: "tailed-message" }).waitFor();
  await shot("live-tail");
  await page.goto(base + "/topics/browser-topic/messages?header=" + encodeURIComponent("trace=abc"));
  await expectText("#messages", "with-header");
  await shot("messages-header-filter");

  // Schemas: register two versions, diff them, produce with the schema
  // and see the value decoded.
  await page.goto(base + "/schemas");
  await page.fill("#register-form input[name=subject]", "browser-topic-value");
  await page.selectOption("#register-form select[name=type]", "AVRO");
  await page.fill("#register-form textarea[name=schema]", '{"type":"record","name":"Order","fields":[{"name":"item","type":"string"}]}');
  await page.click("#register-form button[type=submit]");
  await notice("Registered the schema under browser-topic-value");
  await page.fill("#subject-register-form textarea[name=schema]", '{"type":"record","name":"Order","fields":[{"name":"item","type":"string"},{"name":"qty","type":"int","default":1}]}');
  await page.click("#subject-register-form button[formaction$=check]");
  await expectText("#check-result", "Compatible");
  await page.click("#subject-register-form button[type=submit]:not([formaction])");
  await notice("Registered");
  await page.goto(base + "/schemas/browser-topic-value?a=1&b=2");
  await expectText("#diff-out", "qty");
  await shot("schema-diff");
  await page.goto(base + "/topics/browser-topic/messages");
  await page.fill("#produce-form input[name=partition]", "1");
  await page.fill("#produce-form textarea[name=value]", '{"item":"avro-encoded","qty":7}');
  await page.selectOption("#produce-form select[name=encoding]", "schema");
  await page.click("#produce-form button[type=submit]");
  await notice("Produced to partition 1");
  await expectText("#messages", "Avro, schema id");
  await expectText("#messages pre.json", '"item": "avro-encoded"');
  await shot("messages-avro");

  // Groups: time lag and the lag chart section; reset to a time.
  await page.goto(base + "/groups/browser-group");
  await expectText("#lag-history", "Lag over the last hour");
  await page.fill("#reset-form input[name=topic]", "browser-topic");
  await page.check("#reset-form input[value=time]");
  await page.fill("#reset-form input[name=time]", "2000-01-01T00:00:00Z");
  await page.check("#reset-form input[name=confirm]");
  await page.click("#reset-form button[type=submit]");
  await notice("Reset the offsets");
  await shot("group-reset-time");

  // Security: create a SCRAM user and an ACL, then delete the ACL.
  await page.goto(base + "/security");
  await page.fill("#user-form input[name=user]", "carol");
  await page.fill("#user-form input[name=password]", "carol-secret");
  await page.click("#user-form button[type=submit]");
  await notice("Saved SCRAM-SHA-256 credentials of carol");
  await page.fill("#acl-form input[name=principal]", "User:carol");
  await page.selectOption("#acl-form select[name=operation]", "READ");
  await page.selectOption("#acl-form select[name=resource_type]", "TOPIC");
  await page.fill("#acl-form input[name=resource_name]", "browser-topic");
  await page.click("#acl-form button[type=submit]");
  await notice("Created the ACL");
  await expectText("#acls-table", "User:carol");
  await shot("security");
  await page.click("#acls-table button[type=submit]");
  await notice("Deleted 1 ACL");

  // Transactions and producers.
  await page.goto(base + "/transactions?topic=browser-topic");
  await expectText("#producers-table", "Partition");
  await shot("transactions");

  // The overview's rate charts.
  await page.goto(base + "/");
  await expectText("#request-rates", "Request rates");
  await shot("overview-rates");

  // Delete the topic.
  await page.goto(base + "/topics/browser-topic");
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
