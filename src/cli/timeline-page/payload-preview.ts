import { el } from "./dom-builders.js";
import type { TimelineEvent } from "./timeline-model.js";

/** Bytes of a payload the preview shows; html-timeline.ts keeps one more in the page to tell that it went on. */
const PREVIEW = 512;

/**
 * The details panel's view of an event's payload: a line saying what it is (UTF-8 text, JSON or hex, its size
 * and content type, whether it was cut) and the preview itself, as text. `size` is the payload's whole size.
 */
export function payloadPreview(ev: TimelineEvent, size: number): HTMLElement[] {
  const bytes = decodeBase64(ev.raw.payload).subarray(0, PREVIEW);
  const whole = bytes.length >= size;
  const type = ev.raw.contentType || "";
  const about = size + (size === 1 ? " byte" : " bytes") + (type ? " · " + type : "");
  if (size === 0) {
    const kind = bytes.length === 0 && ev.raw.payload === undefined ? "empty (or left out of the timeline)" : "empty";
    return [el("div", { class: "muted", id: "payload-kind" }, [kind])];
  }
  let text = previewText(bytes, whole);
  let kind: string;
  if (text !== undefined) {
    kind = "UTF-8 text";
    if (whole && (/json/.test(type) || /^\s*[[{]/.test(text))) {
      try {
        text = JSON.stringify(JSON.parse(text), null, 2);
        kind = "JSON";
      } catch {
        // shown as it is
      }
    }
  } else {
    kind = "hex";
    text = hexDump(bytes);
  }
  const shown = whole ? "" : " · first " + bytes.length + " bytes shown";
  return [el("div", { class: "muted", id: "payload-kind" }, [kind + " · " + about + shown]), el("pre", { class: "payload", id: "detail-payload" }, [text])];
}

function decodeBase64(text: string | undefined): Uint8Array {
  const binary = atob(text || "");
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The bytes as text when they are UTF-8 without control characters (but tab and line ends), else undefined. */
function previewText(bytes: Uint8Array, whole: boolean): string | undefined {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  // A preview cut inside a multi-byte character: drop its first bytes.
  for (let cut = 0; cut <= (whole ? 0 : 3); cut++) {
    try {
      const text = decoder.decode(bytes.subarray(0, bytes.length - cut));
      return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? undefined : text;
    } catch {
      // not UTF-8 (yet)
    }
  }
  return undefined;
}

/** Sixteen bytes a line: offset, hex, and the printable ASCII ones. */
function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const chunk = Array.from(bytes.subarray(offset, offset + 16));
    const hex = chunk.map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = chunk.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(offset.toString(16).padStart(4, "0") + "  " + hex.padEnd(47, " ") + "  " + ascii);
  }
  return lines.join("\n");
}
