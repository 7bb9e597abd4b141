// Drives Debian's Chromium through camfleetd's web page with playwright-core, as a quartermaster
// and as an auditor. Run by tests/web/browser_test.cc, which makes the fleet and the sign-in
// links and passes them in a JSON file: node pages.mjs CONFIG.json. Exits non-zero naming the
// first step that failed; saves a screenshot of every page into config.screenshots.
import { createRequire } from "node:module";
import { copyFileSync, readFileSync } from "node:fs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const require = createRequire(config.playwright + "/");
const { chromium } = require(config.playwright);

let step = "starting";
function check(ok, what) {
  if (!ok) throw new Error(`${step}: ${what}`);
}
async function shot(page, name) {
  await page.screenshot({ path: `${config.screenshots}/${name}.png`, fullPage: true });
  console.log(`screenshot ${config.screenshots}/${name}.png`);
}
async function signIn(browser, link) {
  // The fleet CA is not in this throw-away browser's trust store; an operator's browser has it.
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    acceptDownloads: true,
    viewport: { width: 1280, height: 800 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(link);
  await page.click("#sign-in");
  await page.waitForURL("**/fleet");
  return page;
}
const origin = new URL(config.quartermaster_link).origin;

const browser = await chromium.launch({
  executablePath: config.chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  step = "quartermaster signs in with the one-time link";
  const qm = await signIn(browser, config.quartermaster_link);
  check((await qm.textContent("#who")).includes("qm-okafor (quartermaster)"), "not signed in");
  const cookies = await qm.context().cookies();
  const session = cookies.find((c) => c.name === "camfleet_session");
  check(session && session.httpOnly && session.secure && session.sameSite === "Strict",
        `session cookie flags: ${JSON.stringify(session)}`);
  check((await qm.locator("#fleet tbody tr").count()) === 16, "fleet table has not 16 rows");
  await shot(qm, "fleet");

  step = "the link works only once";
  const again = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  await again.goto(config.quartermaster_link);
  await again.click("#sign-in");
  check((await again.content()).includes("used already"), "a used link was accepted");
  await shot(again, "sign-in-used-link");
  await again.context().close();

  step = "filter the fleet table (site and state)";
  await qm.fill("input[name=site]", "post-7");
  await qm.selectOption("select[name=state]", "ISSUED");
  await qm.click("#apply-filters");
  await qm.waitForURL(/state=ISSUED/);
  const states = await qm.locator("#fleet tbody td:nth-child(3)").allTextContents();
  check(states.length === 3 && states.every((s) => s === "ISSUED"),
        `filtered states ${JSON.stringify(states)}`);
  await shot(qm, "fleet-filtered");
  await qm.goto(`${origin}/fleet?battery_below=60`);
  check((await qm.locator("#fleet tbody tr").count()) >= 1, "battery filter shows nothing");

  step = "open a camera and see its battery chart";
  await qm.goto(`${origin}/fleet`);
  await qm.click(`#fleet a:text-is("${config.chart_serial}")`);
  await qm.waitForURL(`**/cameras/${config.chart_serial}`);
  const points = await qm.getAttribute("#battery-chart polyline.health", "points");
  check(points && points.split(" ").length === 21, `chart has points "${points}"`);
  check(await qm.isVisible("#battery-chart"), "chart not visible");
  check((await qm.textContent("#latest-health")).includes("cycles") ||
        (await qm.textContent("#latest-health")).includes("Cycles"), "no latest health");
  await shot(qm, "camera");

  step = "issue the camera from its page";
  await qm.fill("#issue-form input[name=badge]", "B-1006");
  await qm.fill("#issue-form input[name=note]", "shift B <b>bold</b>");
  await qm.click("#issue-form button");
  await qm.waitForSelector(".state-ISSUED");
  check((await qm.textContent("#holder")).includes("Marco Rossi (B-1006)"), "holder not shown");
  check((await qm.content()).includes("shift B &lt;b&gt;bold&lt;/b&gt;"), "note not escaped");
  await shot(qm, "camera-issued");

  step = "the printable hand-over record";
  await qm.click("#handover-link");
  // The load event, not only the element: the print rules are in the stylesheet, which may
  // still be on its way when #handover is in the DOM (seen once in five runs on a busy box).
  await qm.waitForURL(`**/cameras/${config.chart_serial}/handover`);
  await qm.waitForSelector("#handover");
  check((await qm.textContent("#handover")).includes("Marco Rossi"), "hand-over lacks holder");
  await qm.emulateMedia({ media: "print" });
  check(!(await qm.isVisible("header")), "navigation printed");
  await shot(qm, "handover-print");
  await qm.emulateMedia({ media: "screen" });

  step = "return the camera";
  await qm.goto(`${origin}/cameras/${config.chart_serial}`);
  await qm.click("#return-form button");
  await qm.waitForSelector("h1 .state-AVAILABLE");
  check((await qm.locator("#custody tbody tr").count()) === 1, "custody trail lacks the issue");
  await shot(qm, "camera-returned");

  step = "docks";
  await qm.goto(`${origin}/docks`);
  check((await qm.textContent("#docks")).includes(config.dock), "dock not listed");
  await shot(qm, "docks");

  step = "acknowledge an alert";
  await qm.goto(`${origin}/alerts`);
  check(await qm.isVisible(`#alert-${config.alert_id}`), "alert not listed");
  await shot(qm, "alerts");
  await qm.click(`#alert-${config.alert_id} button.ack`);
  await qm.waitForURL("**/alerts");
  check(!(await qm.isVisible(`#alert-${config.alert_id}`)), "acknowledged alert still open");
  await qm.goto(`${origin}/alerts?all=1`);
  check((await qm.textContent(`#alert-${config.alert_id}`)).includes("by qm-okafor"),
        "acknowledgement not shown");
  await shot(qm, "alerts-acknowledged");

  step = "open a report";
  await qm.click("header a:text-is('Reports')");
  await qm.waitForURL("**/reports");
  check((await qm.locator("#reports tbody tr").count()) === 7, "not 7 reports listed");
  await shot(qm, "reports");
  await qm.click("#reports a:text-is('Lost units')");
  await qm.waitForURL("**/reports/lost");
  const lostRows = await qm.locator("#report tbody tr").allTextContents();
  check(lostRows.length === 1 && lostRows[0].includes(config.lost_serial),
        `lost report rows ${JSON.stringify(lostRows)}`);
  check((await qm.textContent("#report")).includes("lost in pursuit near marker 41"),
        "lost report lacks the note");
  await shot(qm, "report-lost");

  step = "download the report as CSV";
  const [download] = await Promise.all([qm.waitForEvent("download"), qm.click("#csv")]);
  check(/^camfleet-lost-\d{8}T\d{4}Z\.csv$/.test(download.suggestedFilename()),
        `download named ${download.suggestedFilename()}`);
  const csvPath = await download.path();
  check(csvPath, `download failed: ${await download.failure()}`);
  const csv = readFileSync(csvPath, "utf8").split("\r\n");
  check(csv[0].startsWith("serial,model,site,lost_since,"), `CSV header ${csv[0]}`);
  check(csv.length === 3 && csv[1].startsWith(`${config.lost_serial},`) && csv[2] === "",
        `CSV rows ${JSON.stringify(csv)}`);
  copyFileSync(csvPath, `${config.screenshots}/report-lost.csv`);
  console.log(`download ${config.screenshots}/report-lost.csv`);

  step = "a report's filters";
  await qm.goto(`${origin}/reports/worn-battery`);
  await qm.fill("input[name=below_health]", "95");
  await qm.click("#apply-filters");
  await qm.waitForURL(/below_health=95/);
  check((await qm.locator("#report tbody tr").count()) >= 1, "worn-battery at 95% is empty");
  await shot(qm, "report-worn-battery");

  step = "open a rollout";
  await qm.click("header a:text-is('Rollouts')");
  await qm.waitForURL("**/rollouts");
  check(await qm.isVisible(`#rollout-${config.rollout_id}`), "rollout not listed");
  await shot(qm, "rollouts");
  await qm.click(`#rollout-${config.rollout_id} a`);
  await qm.waitForURL(`**/rollouts/${config.rollout_id}`);
  check((await qm.locator("#waves tbody tr").count()) === 1, "not one wave");
  check((await qm.textContent("#sites")).includes("POST-7"), "site POST-7 not shown");
  const failedText = await qm.textContent("#failed");
  check(failedText.includes(config.failed_serial) && failedText.includes("battery 12%"),
        `failed cameras: ${failedText}`);
  check(await qm.isVisible("h1 .rollout-PAUSED"), "the failure did not pause the rollout");
  check((await qm.locator("form.action").count()) === 0, "a quartermaster sees rollout controls");
  await shot(qm, "rollout");

  step = "auditor signs in and sees no write buttons";
  const aud = await signIn(browser, config.auditor_link);
  check((await aud.textContent("#who")).includes("aud-lee (auditor)"), "not signed in");
  await aud.goto(`${origin}/cameras/${config.chart_serial}`);
  check((await aud.locator("form.action").count()) === 0, "auditor sees action forms");
  check((await aud.locator("#certificates, main").count()) >= 1, "no page");
  await shot(aud, "auditor-camera");
  await aud.goto(`${origin}/alerts`);
  check((await aud.locator("button.ack").count()) === 0, "auditor sees acknowledge buttons");
  check((await aud.locator("#conflicts form").count()) === 0, "auditor sees resolve forms");
  await shot(aud, "auditor-alerts");

  await aud.goto(`${origin}/rollouts/${config.rollout_id}`);
  check((await aud.locator("form.action").count()) === 0, "auditor sees rollout controls");
  await aud.goto(`${origin}/reports/lost`);
  check((await aud.locator("#report tbody tr").count()) === 1, "auditor cannot read the report");

  step = "an auditor's direct write (POST) is refused";
  // Hand-made, with the session's cookie and its own CSRF token (the page's CSP forbids a
  // fetch from the page itself, so the request goes from the browser context).
  const csrf = await aud.inputValue("input[name=csrf]");
  const response = await aud.context().request.post(
      `${origin}/cameras/${config.chart_serial}/issue`,
      { form: { csrf, badge: "B-1001", due_hours: "8", note: "by hand" },
        headers: { Origin: origin }, maxRedirects: 0 });
  const status = response.status();
  check(status === 403, `direct write answered ${status}`);
  await aud.goto(`${origin}/cameras/${config.chart_serial}`);
  check(await aud.isVisible("h1 .state-AVAILABLE"), "the auditor's write changed the camera");

  step = "signing out ends the session";
  await aud.click("header button");
  await aud.waitForSelector("h1:text-is('Signed out')");
  const after = await aud.goto(`${origin}/fleet`);
  check(after.status() === 401, `after sign-out /fleet answered ${after.status()}`);
  console.log("browser suite passed");
} catch (e) {
  console.error(`FAILED: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
