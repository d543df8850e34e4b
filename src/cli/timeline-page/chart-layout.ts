import type { StageJson, WorkflowStateJson } from "./page-data.js";
import { HIT_RADIUS } from "./symbols.js";
import type { TimelineModel } from "./timeline-model.js";

/** Width of the label column left of the plot. */
export const GUTTER = 290;
/**
 * The widest window drawn compact: a phone's. There the label column is narrower and the plot keeps less room
 * right of the last bar, so that the chart shows more than its labels; the style sheet's narrow layout starts at
 * the same width.
 */
export const COMPACT_MAX = 760;
/** Width of the label column of a compact chart. */
export const GUTTER_COMPACT = 172;
/** Height of the time axis above the sections. */
export const AXIS = 42;
/** Margins of the time range inside the plot; the right one leaves room for labels past the last bar. */
export const PAD_L = 18;
const PAD_R = 210;
const PAD_R_COMPACT = 40;
/** Height of a section's title row. */
const SECTION = 28;
/** Height of a stage's row and of its bar. */
export const STAGE_ROW = 30;
export const BAR_H = 16;
/** Height of the note row above an orphan's stages. */
const NOTE_ROW = 20;
/** Height of a row of marks in a lane, and the padding above and below a lane's marks. */
export const MARK_ROW = 16;
export const LANE_PAD = 9;
/** Height of the band above a lane's marks that holds its gap brackets. */
const GAP_BAND = 20;
/**
 * Rows of marks a lane stacks before a mark moves right, in the row freed first, so that none hides another; a lane
 * takes a row more only when moving right would take the mark past the plot's edge.
 */
const MAX_STACK = 8;
/** The least distance between the centres of two marks in a row: their click areas side by side. */
const MARK_SPACING = 2 * HIT_RADIUS + 1;

/** A row of the workflow steps section: one stage of a correlation, or null for a correlation without stages. */
export interface Row {
  stage: StageJson | null;
  /**
   * The row of the correlation's events that name no stage. The broker counts them under a stage named "", but
   * they are no stage: the row shows them as events, without a bar.
   */
  unstaged: boolean;
  y: number;
  /** Where the stage's bar was drawn (its ends and top), set while drawing. */
  x1?: number;
  x2?: number;
  by?: number;
}

/** A row whose bar is drawn. */
export type DrawnRow = Row & { x1: number; x2: number; by: number };

/** A correlation's rows in the workflow steps section. */
export interface Block {
  c: WorkflowStateJson;
  top: number;
  /** The top of the orphan note row, for an orphan. */
  noteY: number;
  rows: Row[];
  bottom: number;
}

/** Where everything goes on a plot `width` wide. */
export interface ChartLayout {
  width: number;
  /** Width of the time range. */
  inner: number;
  height: number;
  /** The x of an instant (ms since the epoch); an unknown one sits at the first event. */
  x: (t: number | undefined) => number;
  stepsSection: number;
  lanesSection: number;
  blocks: Block[];
}

/**
 * Lays the chart out on a plot `width` wide (`compact`: for a narrow window, less room right of the last bar):
 * the workflow steps section (a block of rows per correlation), then the processes section (a lane per
 * source_process, its marks stacked in rows so that none hides another). Lanes and events keep their place in
 * their own fields, where the drawing and the tooltips find them.
 */
export function layoutChart(model: TimelineModel, width: number, compact: boolean): ChartLayout {
  const { t0, span } = model;
  const inner = width - PAD_L - (compact ? PAD_R_COMPACT : PAD_R);
  const x = (t: number | undefined): number => PAD_L + (((t === undefined ? t0 : t) - t0) / span) * inner;

  let y = AXIS;
  const stepsSection = y;
  y += SECTION;
  const blocks: Block[] = [];
  for (const c of model.ordered) {
    const block: Block = { c, top: y, noteY: y, rows: [], bottom: y };
    if (c.orphan) y += NOTE_ROW;
    const stages = c.stages && c.stages.length > 0 ? c.stages : [null];
    for (const stage of stages) {
      block.rows.push({ stage, y, unstaged: stage !== null && !stage.name });
      y += STAGE_ROW;
    }
    block.bottom = y;
    blocks.push(block);
  }
  y += 8;
  const lanesSection = y;
  y += SECTION;
  for (const lane of model.lanes) {
    lane.top = y;
    lane.band = lane.gaps.length > 0 ? GAP_BAND : 0;
    // The x of the last mark placed in each row.
    const ends: number[] = [];
    for (const ev of lane.events) {
      const ex = x(ev.t);
      let at = ex;
      let row = ends.findIndex((end) => ex - end >= MARK_SPACING);
      if (row === -1 && ends.length >= MAX_STACK) {
        row = ends.indexOf(Math.min(...ends));
        at = ends[row] + MARK_SPACING;
        if (at > width - HIT_RADIUS) {
          row = -1;
          at = ex;
        }
      }
      if (row === -1) {
        row = ends.length;
        ends.push(-Infinity);
      }
      ends[row] = at;
      ev.tx = ex;
      ev.x = at;
      ev.y = y + lane.band + LANE_PAD + row * MARK_ROW + MARK_ROW / 2;
    }
    lane.height = lane.band + LANE_PAD * 2 + Math.max(1, ends.length) * MARK_ROW;
    y += lane.height;
  }
  return { width, inner, height: y + 12, x, stepsSection, lanesSection, blocks };
}
