import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type BrowserContext, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderTimelineHtml } from "../../src/cli/html-timeline.js";
import { type CorrelationClient, type GetTimelineResponse, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, startBrokerProcess } from "../helpers/broker-process.js";
import { type FixtureProcess, spawnFixture } from "../helpers/fixture-process.js";

// Debian's chromium, installed by .ci/run. Playwright never downloads a browser here.
const chromiumPath = process.env.CORRBUS_CHROMIUM ?? "/usr/bin/chromium";
const hasChromium = existsSync(chromiumPath);
const inCi = process.env.CI === "true";
if (!hasChromium && !inCi) console.warn(`html-timeline.test: skipped, no browser at ${chromiumPath} (apt-get install chromium)`);

const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// Publisher-controlled strings that would run script if the page inserted them as markup.
const hostileTag = `</script><img src=x onerror="window.__pwned='tag'">`;
const hostilePayload = `<script>window.__pwned='payload'</script> & "quoted" ünïcode </script>`;
const binaryPayload = Uint8Array.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x7f, 0x80, 0x41, 0x42, 0x43, 0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70]);
const longPayload = "0123456789".repeat(200);

describe.skipIf(!hasChromium && !inCi)("corrbus timeline --html page in a real browser", () => {
  let broker: BrokerProcess;
  let agent: CorrelationClient;
  const collectors: FixtureProcess[] = [];
  let timeline: GetTimelineResponse;
  let outputDir: string;
  let profileDir: string;
  let context: BrowserContext;
  let page: Page;
  let fileUrl: string;
  let html: string;
  const consoleErrors: string[] = [];
  const requests: string[] = [];
  const ids = { root: "", integrity: "", network: "", orphan: "", hostileEvent: "", binaryEvent: "", longEvent: "", resultEvent: "" };

  beforeAll(async () => {
    if (!hasChromium) throw new Error(`chromium is missing at ${chromiumPath}: .ci/run must install it (apt-get install -y --no-install-recommends chromium)`);
    broker = await startBrokerProcess();
    agent = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "agent" });
    for (const [name, ...args] of [["process-monitor"], ["network-monitor", "--results", "2"]]) {
      const fixture = spawnFixture("collector", ["--socket", broker.socketPath, "--name", name, ...args]);
      collectors.push(fixture);
      await fixture.waitFor("ready");
    }
    timeline = await buildWorkflow();
    expect(timeline.events).toHaveLength(15);
    expect(timeline.correlations).toHaveLength(4);

    outputDir = mkdtempSync(join(tmpdir(), "corrbus-html-timeline-"));
    const file = join(outputDir, "timeline.html");
    html = renderTimelineHtml(timeline, { title: "INC-4242 <triage> & timeline" });
    writeFileSync(file, html);
    fileUrl = pathToFileURL(file).href;

    profileDir = mkdtempSync(join(tmpdir(), "corrbus-chromium-profile-"));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
      viewport: { width: 1600, height: 1000 },
      timeout: 30_000,
    });
    context.on("request", (request) => requests.push(request.url()));
    page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => consoleErrors.push(`pageerror: ${error.message}`));
    await page.goto(fileUrl, { waitUntil: "load" });
    await page.waitForSelector("html[data-rendered=true]", { timeout: 10_000 });
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    if (profileDir !== undefined) rmSync(profileDir, { recursive: true, force: true });
    agent?.close();
    for (const fixture of collectors) fixture.child.kill("SIGKILL");
    await broker?.stop();
    // outputDir stays: it holds the page and the screenshot the test prints.
  });

  /** Root "enumeration" (+ an agent "triage" stage with a skipped sequence number), child "integrity", grandchild "network_analysis", one orphan. */
  async function buildWorkflow(): Promise<GetTimelineResponse> {
    const enumeration = agent.newRootCorrelation("enumeration", { investigation_id: "INC-4242" });
    ids.root = enumeration.correlationId;
    await agent.publish("control.collector.task.process", { step: 1 }, { correlation: enumeration });
    expect((await agent.service.waitForResults({ correlationId: ids.root, timeout: { seconds: 10n } })).complete).toBe(true);

    // The agent skips sequence number 2 in the root step: a gap.
    agent.nextSequence(ids.root);
    const triage = { ...enumeration, workflowStage: "triage", correlationTags: { ...enumeration.correlationTags, comment: hostileTag } };
    ids.hostileEvent = (await agent.publish("events.agent.triage.note", hostilePayload, { correlation: triage })).eventId.toString();
    ids.binaryEvent = (await agent.publish("events.agent.triage.dump", binaryPayload, { correlation: triage, final: true })).eventId.toString();

    const integrity = agent.childCorrelation(enumeration, "integrity", { suspicious_pid: "4892" });
    ids.integrity = integrity.correlationId;
    await agent.publish("control.collector.task.integrity", { step: 2 }, { correlation: integrity });
    const second = await agent.service.waitForResults({ correlationId: ids.integrity, timeout: { seconds: 10n } });
    expect(second.complete).toBe(true);
    ids.resultEvent = second.events.find((event) => event.correlationMetadata?.sourceProcess === "process-monitor")!.eventId.toString();

    const network = agent.childCorrelation(integrity, "network_analysis");
    ids.network = network.correlationId;
    await agent.publish("control.collector.task.network", { step: 3 }, { correlation: network });
    expect((await agent.service.waitForResults({ correlationId: ids.network, timeout: { seconds: 10n } })).complete).toBe(true);

    // A step whose stated parent the broker never saw: kept under the root, flagged.
    const orphan = { ...agent.childCorrelation(enumeration, "late_report"), parentCorrelationId: randomUUID() };
    ids.orphan = orphan.correlationId;
    ids.longEvent = (await agent.publish("events.agent.late.report", longPayload, { correlation: orphan, final: true })).eventId.toString();

    return agent.service.getTimeline({ rootCorrelationId: ids.root });
  }

  const attributes = (selector: string, name: string) =>
    page.$$eval(selector, (nodes, attribute) => nodes.map((node) => node.getAttribute(attribute) ?? ""), name);

  it("should load from file:// with no console error and no request but the file itself", async () => {
    // The data block cannot be ended early: the page's only </script> closings are its own two.
    expect(html.match(/<\/script/gi)).toHaveLength(2);
    expect(html).not.toContain(hostileTag);
    expect(consoleErrors).toEqual([]);
    expect(requests).toEqual([fileUrl]);
    expect(await page.title()).toBe("INC-4242 <triage> & timeline");
    expect(await page.locator("#summary").textContent()).toContain(`root ${ids.root}`);
  });

  it("should draw a bar for every stage and a mark for every event of the timeline", async () => {
    const stages = timeline.correlations.flatMap((state) => state.stages.map((stage) => `${state.correlationId}/${stage.name}`));
    expect(stages.map((key) => key.split("/")[1]).sort()).toEqual(["enumeration", "integrity", "late_report", "network_analysis", "triage"]);
    expect((await attributes("[data-stage]", "data-stage")).sort()).toEqual([...stages].sort());

    const eventIds = timeline.events.map((event) => event.eventId.toString());
    expect((await attributes("[data-event-id]", "data-event-id")).sort()).toEqual([...eventIds].sort());
    const finals = timeline.events.filter((event) => event.correlationMetadata?.final).map((event) => event.eventId.toString());
    expect((await attributes("[data-event-id][data-final=true]", "data-event-id")).sort()).toEqual(finals.sort());
    for (const id of eventIds) await expect(page.locator(`[data-event-id="${id}"]`).isVisible()).resolves.toBe(true);

    // One lane per publishing process: the agent and the two collectors.
    const lanes = await attributes("[data-lane]", "data-lane");
    expect(lanes.map((lane) => lane.split("/")[0]).sort()).toEqual(["agent", "network-monitor", "process-monitor"]);
    // Completed and open stages are told apart.
    expect(await attributes("[data-stage]", "data-complete")).toContain("true");
  });

  it("should link every child step to its parent and flag the orphan and the gap", async () => {
    expect((await attributes("[data-link]", "data-link")).sort()).toEqual([`${ids.root}/${ids.integrity}`, `${ids.integrity}/${ids.network}`].sort());

    const orphan = page.locator(`[data-orphan="${ids.orphan}"]`);
    expect(await orphan.isVisible()).toBe(true);
    expect(await orphan.textContent()).toContain("never seen");
    expect(await page.locator(`[data-correlation-label="${ids.orphan}"]`).textContent()).toContain("ORPHAN");

    const root = timeline.correlations.find((state) => state.correlationId === ids.root)!;
    expect(root.gaps.map((gap) => [gap.sourceProcess, gap.firstMissing, gap.lastMissing])).toEqual([["agent", 2n, 2n]]);
    const gap = page.locator(`[data-gap="${ids.root}/agent/2-2"]`);
    expect(await gap.isVisible()).toBe(true);
    expect(await gap.textContent()).toContain("gap: seq 2 missing");
    expect(await page.locator(`[data-correlation-label="${ids.root}"]`).textContent()).toContain("GAP");
  });

  it("should show an event's tags and payload preview on click, as text and never as markup", async () => {
    await page.click(`[data-event-id="${ids.hostileEvent}"]`);
    const details = page.locator("#details");
    expect(await details.locator("h2").textContent()).toBe(`Event ${ids.hostileEvent}`);
    expect(await details.textContent()).toContain("events.agent.triage.note");
    const tags = await page.locator("#detail-tags").textContent();
    expect(tags).toContain("investigation_id");
    expect(tags).toContain("INC-4242");
    expect(tags).toContain(hostileTag);
    expect(await page.locator("#detail-payload").textContent()).toBe(hostilePayload);
    expect(await page.locator("#payload-kind").textContent()).toContain("UTF-8 text");
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();

    await page.click(`[data-event-id="${ids.binaryEvent}"]`);
    expect(await page.locator("#payload-kind").textContent()).toContain(`hex · ${binaryPayload.length} bytes`);
    expect(await page.locator("#detail-payload").textContent()).toContain("00 01 02 ff fe 7f 80 41 42 43");

    await page.click(`[data-event-id="${ids.longEvent}"]`);
    expect(await page.locator("#payload-kind").textContent()).toContain("2000 bytes · text/plain · first 512 bytes shown");
    expect(await page.locator("#detail-payload").textContent()).toBe(longPayload.slice(0, 512));

    await page.click(`[data-event-id="${ids.resultEvent}"]`);
    expect(await page.locator("#payload-kind").textContent()).toContain("JSON");
    expect(await page.locator("#detail-payload").textContent()).toContain('"collector": "process-monitor"');
    expect(await page.locator("#detail-tags").textContent()).toContain("suspicious_pid");

    await page.click(`[data-stage="${ids.integrity}/integrity"] .bar`);
    expect(await details.locator("h2").textContent()).toContain("Stage integrity");
    expect(await details.textContent()).toContain(ids.integrity);
    expect(consoleErrors).toEqual([]);
  });

  it("should write a screenshot of the page as a PNG", async () => {
    // A selected event, the pointer off the chart: the details panel filled, no tooltip over the marks.
    await page.click(`[data-event-id="${ids.resultEvent}"]`);
    await page.mouse.move(2, 2);
    const screenshot = join(outputDir, "timeline.png");
    await page.screenshot({ path: screenshot, fullPage: true });
    const png = readFileSync(screenshot);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.subarray(12, 16).toString("latin1")).toBe("IHDR");
    expect(png.readUInt32BE(16)).toBeGreaterThanOrEqual(1600);
    expect(png.readUInt32BE(20)).toBeGreaterThanOrEqual(400);
    expect(png.length).toBeGreaterThan(20_000);
    console.log(`html-timeline.test: page ${join(outputDir, "timeline.html")}, screenshot ${screenshot}`);
    expect(requests).toEqual([fileUrl]);
    expect(consoleErrors).toEqual([]);
  });
});
