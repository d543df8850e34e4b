import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type BrowserContext, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderTimelineHtml } from "../../src/cli/html-timeline.js";
import { type CorrelationClient, type GetTimelineResponse, createCorrelationClient } from "../../src/index.js";
import { type BrokerProcess, runCli, startBrokerProcess } from "../helpers/broker-process.js";
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

// Set to a directory (e.g. docs) to keep the two screenshots there as timeline-desktop.png and timeline-narrow.png.
const screenshotCopyDir = process.env.CORRBUS_TIMELINE_SCREENSHOTS;

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

  const attributesOn = (target: Page, selector: string, name: string) =>
    target.$$eval(selector, (nodes, attribute) => nodes.map((node) => node.getAttribute(attribute) ?? ""), name);
  const attributes = (selector: string, name: string) => attributesOn(page, selector, name);

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

    // One lane per source_process: the agent and the two collectors.
    expect((await attributes("[data-lane]", "data-lane")).sort()).toEqual(["agent", "network-monitor", "process-monitor"]);
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

  /** Resizes the window and waits until the page has redrawn for the new width. */
  async function resize(target: Page, width: number, height: number): Promise<void> {
    await target.setViewportSize({ width, height });
    await target.waitForFunction((w) => document.documentElement.getAttribute("data-rendered-width") === String(w), width, { timeout: 5_000 });
  }

  describe("the time axis", () => {
    it("should end with a tick at the last instant, labelled with the span, its label clear of the one before", async () => {
      const axisEnd = Number(await page.locator(".axis-line").getAttribute("x2"));
      const ticks = await page.$$eval(".tick", (nodes) =>
        nodes.map((node) => {
          const box = node.querySelector("text")!.getBBox();
          return { x: Number(node.querySelector("line")!.getAttribute("x1")), label: node.textContent ?? "", left: box.x, right: box.x + box.width };
        }),
      );
      const last = ticks[ticks.length - 1];
      expect(Math.abs(last.x - axisEnd)).toBeLessThan(0.5);
      const span = /span (\S+ \S+)/.exec((await page.locator("#summary").textContent()) ?? "")?.[1];
      expect(last.label).toBe(`+${span}`);
      for (let i = 1; i < ticks.length; i++) expect(ticks[i].left).toBeGreaterThan(ticks[i - 1].right);
    });
  });

  describe("at two window sizes", () => {
    afterAll(async () => {
      await resize(page, 1600, 1000);
    });

    for (const [name, width, height] of [
      ["desktop", 1280, 800],
      ["narrow", 390, 844],
    ] as const) {
      it(`should fit a ${width}×${height} window without sideways scrolling of the page and write a screenshot`, async () => {
        await resize(page, width, height);
        // Drawn first at this size, as when the page opens on a phone, not only redrawn for it.
        await page.reload({ waitUntil: "load" });
        await page.waitForSelector("html[data-rendered=true]", { timeout: 10_000 });
        // At "fit" the plot takes the room the label column leaves, and the chart's labels stay inside their columns.
        const chart = await page.evaluate(() => {
          const outside = (svg: SVGSVGElement, selector: string) =>
            [...svg.querySelectorAll<SVGTextElement>(selector)]
              .filter((text) => {
                const box = text.getBBox();
                return box.x < -0.5 || box.x + box.width > svg.width.baseVal.value + 0.5;
              })
              .map((text) => text.textContent);
          const gutter = document.getElementById("gutter") as unknown as SVGSVGElement;
          const plot = document.getElementById("plot") as unknown as SVGSVGElement;
          return {
            plotWidth: plot.width.baseVal.value,
            room: document.getElementById("plot-wrap")!.clientWidth,
            gutterWidth: gutter.width.baseVal.value,
            gutterRoom: document.getElementById("gutter-wrap")!.clientWidth,
            outside: [...outside(gutter, "text"), ...outside(plot, ".tick text, .orphan-note text, .gap text, .stage text, .unstaged text")],
          };
        });
        expect(chart.plotWidth).toBe(chart.room);
        expect(chart.gutterWidth).toBe(chart.gutterRoom);
        expect(chart.outside).toEqual([]);
        // A selected event, the pointer off the chart: the details panel filled, no tooltip over the marks.
        await page.click(`[data-event-id="${ids.resultEvent}"]`);
        await page.mouse.move(1, 1);
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
        // What the reader needs is on the page at this width: the chart (which scrolls sideways inside itself when it
        // must), the event list and the details panel.
        for (const selector of ["#chart", "#event-list", "#details"]) {
          const box = await page.locator(selector).boundingBox({ timeout: 1_000 });
          expect(box, selector).not.toBeNull();
          expect(box!.x).toBeGreaterThanOrEqual(0);
          expect(box!.x + box!.width).toBeLessThanOrEqual(width + 0.5);
        }
        const screenshot = join(outputDir, `timeline-${name}.png`);
        await page.screenshot({ path: screenshot, fullPage: true });
        const png = readFileSync(screenshot);
        expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
        expect(png.subarray(12, 16).toString("latin1")).toBe("IHDR");
        expect(png.readUInt32BE(16)).toBe(width);
        expect(png.readUInt32BE(20)).toBeGreaterThanOrEqual(height);
        console.log(`html-timeline.test: page ${join(outputDir, "timeline.html")}, screenshot ${screenshot}`);
        if (screenshotCopyDir !== undefined) {
          mkdirSync(screenshotCopyDir, { recursive: true });
          copyFileSync(screenshot, join(screenshotCopyDir, `timeline-${name}.png`));
        }
        expect(requests.filter((url) => url !== fileUrl)).toEqual([]);
        expect(consoleErrors).toEqual([]);
      });
    }
  });

  describe("a workflow published from the shell, a burst and events without a stage", () => {
    const sources = ["proc-sh", "net-sh", "file-sh", "auth-sh"];
    let shell: GetTimelineResponse;
    let shellPage: Page;
    let notesId = "";
    let rootId = "";

    beforeAll(async () => {
      const sh = async (args: string[]) => {
        const run = await runCli([...args, "--socket", broker.socketPath, "--json"]);
        expect(run.code, run.stderr).toBe(0);
        return JSON.parse(run.stdout.trim().split("\n")[0]) as { correlation_metadata: { correlation_id: string } };
      };
      // The agent from the shell starts the workflow; four collectors from the shell answer three times each:
      // thirteen runs of the command, each its own process with its own pid.
      const started = await sh(["publish", "control.shell.task.scan", '{"scan":1}', "--new-root", "--stage", "enumeration", "--source", "agent-sh"]);
      rootId = started.correlation_metadata.correlation_id;
      for (let round = 1; round <= 3; round++) {
        await Promise.all(
          sources.map((source) =>
            sh([
              "publish",
              `events.collector.${source}.result`,
              JSON.stringify({ round }),
              "--correlation",
              rootId,
              "--stage",
              "enumeration",
              "--source",
              source,
            ]),
          ),
        );
      }
      // A burst of events published at once by one process: on the axis they share an instant.
      const burst = createCorrelationClient({ socketPath: broker.socketPath, sourceProcess: "burst-monitor" });
      const rootMeta = { ...agent.newRootCorrelation("enumeration"), correlationId: rootId, rootCorrelationId: rootId };
      const stream = burst.streamPublisher();
      const acks = Array.from({ length: 40 }, (_, i) =>
        stream.publish(burst.envelope("events.collector.burst.result", { i }, { correlation: { ...rootMeta, sourceProcess: "burst-monitor" } })),
      );
      await Promise.all(acks);
      await stream.close();
      burst.close();
      // A step whose events name no stage.
      const notes = agent.childCorrelation(rootMeta, "");
      notesId = notes.correlationId;
      await agent.publish("events.agent.note", "first note", { correlation: notes });
      await agent.publish("events.agent.note", "second note", { correlation: notes });

      const file = join(outputDir, "shell.html");
      const written = await runCli(["timeline", rootId, "--html", file, "--socket", broker.socketPath]);
      expect(written.code, written.stderr).toBe(0);
      shell = await agent.service.getTimeline({ rootCorrelationId: rootId });
      expect(shell.events).toHaveLength(1 + 12 + 40 + 2);
      shellPage = await context.newPage();
      shellPage.on("console", (message) => {
        if (message.type() === "error") consoleErrors.push(message.text());
      });
      shellPage.on("pageerror", (error) => consoleErrors.push(`pageerror: ${error.message}`));
      await shellPage.goto(pathToFileURL(file).href, { waitUntil: "load" });
      await shellPage.waitForSelector("html[data-rendered=true]", { timeout: 10_000 });
    }, 90_000);

    afterAll(async () => {
      await shellPage?.close();
    });

    it("should draw one lane per source_process with the pids of its events inside it", async () => {
      const pidsOf = new Map<string, Set<string>>();
      for (const event of shell.events) {
        const source = event.correlationMetadata?.sourceProcess ?? "";
        if (!pidsOf.has(source)) pidsOf.set(source, new Set());
        pidsOf.get(source)!.add(String(event.publisher?.pid));
      }
      expect([...pidsOf.get("proc-sh")!]).toHaveLength(3);
      const lanes = await shellPage.$$eval("[data-lane]", (nodes) =>
        nodes.map((node) => ({ name: node.getAttribute("data-lane") ?? "", pids: node.getAttribute("data-pids") ?? "", text: node.textContent ?? "" })),
      );
      expect(lanes.map((lane) => lane.name).sort()).toEqual([...pidsOf.keys()].sort());
      for (const lane of lanes) {
        const pids = [...pidsOf.get(lane.name)!];
        expect(lane.pids.split(" ").sort()).toEqual(pids.sort());
        expect(lane.text).toContain(pids.length === 1 ? `pid ${pids[0]}` : `${pids.length} pids`);
      }
      // Each mark still says which process published it.
      const event = shell.events.find((e) => e.correlationMetadata?.sourceProcess === "net-sh")!;
      expect(await shellPage.locator(`[data-event-id="${event.eventId}"]`).getAttribute("data-pid")).toBe(String(event.publisher?.pid));
    });

    it("should keep every mark clickable when events share an instant, in a wide and in a narrow window", async () => {
      const burstIds = shell.events.filter((e) => e.correlationMetadata?.sourceProcess === "burst-monitor").map((e) => e.eventId.toString());
      for (const [width, height] of [
        [1600, 1000],
        [390, 844],
      ]) {
        await resize(shellPage, width, height);
        const hidden = await shellPage.$$eval("[data-event-id]", (marks) =>
          marks
            .filter((mark) => {
              mark.scrollIntoView({ block: "center", inline: "center" });
              const box = mark.querySelector(".shape")!.getBoundingClientRect();
              const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
              return hit?.closest("[data-event-id]") !== mark;
            })
            .map((mark) => mark.getAttribute("data-event-id")),
        );
        expect(hidden, `${width}px`).toEqual([]);
        const lastOfBurst = burstIds[burstIds.length - 1];
        await shellPage.click(`[data-event-id="${lastOfBurst}"]`);
        expect(await shellPage.locator("#details h2").textContent()).toBe(`Event ${lastOfBurst}`);
      }
      await resize(shellPage, 1600, 1000);
    });

    it("should list every event in time order with its time, stage, source and topic, each row with its mark", async () => {
      const byTime = [...shell.events].sort((a, b) => {
        const ta = a.receivedAt!.seconds * 1_000_000_000n + BigInt(a.receivedAt!.nanos);
        const tb = b.receivedAt!.seconds * 1_000_000_000n + BigInt(b.receivedAt!.nanos);
        return Number(ta - tb) || Number(a.eventId - b.eventId);
      });
      const rows = await shellPage.$$eval("#event-list [data-row-event-id]", (nodes) =>
        nodes.map((node) => ({
          id: node.getAttribute("data-row-event-id") ?? "",
          cells: [...node.querySelectorAll("td")].map((cell) => cell.textContent ?? ""),
          at: (node.querySelector(".row-mark") as HTMLElement).getBoundingClientRect().x,
        })),
      );
      expect(rows.map((row) => row.id)).toEqual(byTime.map((event) => event.eventId.toString()));
      for (const [i, event] of byTime.entries()) {
        const meta = event.correlationMetadata!;
        const [time, stage, source, topic] = rows[i].cells;
        expect(time).toMatch(/^\+[\d.]+ (µs|ms|s)$/);
        expect(stage).toBe(meta.workflowStage === "" ? "(no stage)" : meta.workflowStage);
        expect(source).toContain(meta.sourceProcess);
        expect(source).toContain(String(event.publisher?.pid));
        expect(topic).toBe(event.topic);
      }
      // Each row's mark sits at its time: later rows never further left.
      for (let i = 1; i < rows.length; i++) expect(rows[i].at).toBeGreaterThanOrEqual(rows[i - 1].at - 0.5);
    });

    it("should open the same side panel for a row as for its mark, and mark the row of a clicked mark", async () => {
      const event = shell.events.find((e) => e.correlationMetadata?.sourceProcess === "file-sh")!;
      const id = event.eventId.toString();
      await shellPage.click(`#event-list [data-row-event-id="${id}"]`);
      const fromRow = await shellPage.locator("#details").textContent();
      expect(fromRow).toContain(`Event ${id}`);
      expect(fromRow).toContain("events.collector.file-sh.result");
      expect(await shellPage.locator(`[data-event-id="${id}"]`).getAttribute("class")).toContain("selected");

      await shellPage.click(`[data-event-id="${shell.events[0].eventId}"]`);
      await shellPage.click(`[data-event-id="${id}"]`);
      expect(await shellPage.locator("#details").textContent()).toBe(fromRow);
      expect(await shellPage.locator(`#event-list [data-row-event-id="${id}"]`).getAttribute("aria-selected")).toBe("true");
      expect(await shellPage.locator('#event-list [aria-selected="true"]').count()).toBe(1);

      await shellPage.focus(`#event-list [data-row-event-id="${shell.events[0].eventId}"]`);
      await shellPage.keyboard.press("Enter");
      expect(await shellPage.locator("#details h2").textContent()).toBe(`Event ${shell.events[0].eventId}`);
    });

    it("should show events without a stage as events of their step, not as a stage bar", async () => {
      const notes = shell.correlations.find((state) => state.correlationId === notesId)!;
      expect(notes.stages.map((stage) => stage.name)).toEqual([""]);
      expect(await shellPage.locator(`[data-stage="${notesId}/"]`).count()).toBe(0);
      expect(await shellPage.locator("#plot").textContent()).not.toContain("(no stage)");
      const unstaged = shellPage.locator(`[data-unstaged="${notesId}"]`);
      expect(await unstaged.isVisible()).toBe(true);
      expect(await unstaged.textContent()).toContain("2 events without a stage");
      // The step is still linked to its parent.
      expect(await attributesOn(shellPage, "[data-link]", "data-link")).toContain(`${rootId}/${notesId}`);
      await unstaged.click();
      expect(await shellPage.locator("#details h2").textContent()).toContain("Correlation");
      expect(await shellPage.locator("#details").textContent()).toContain(notesId);
      expect(consoleErrors).toEqual([]);
    });
  });
});
