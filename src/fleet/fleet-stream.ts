import type { JetStreamManager, StorageType } from "@nats-io/jetstream";
import { FleetOptionError } from "./nats-link.js";

/** The fleet's JetStream stream. */
export interface FleetStreamOptions {
  /** The stream's name. Default "CORRBUS". */
  stream: string;
  /** Subjects are `<prefix>.<host_id>.<topic>`. Default "corrbus". */
  subjectPrefix: string;
  /** Replicas when the forwarder creates the stream (a cluster's R3). Default 1. */
  replicas?: number;
  /** JetStream's duplicate window when the forwarder creates the stream, ms. Default 120 000 (JetStream's own default). */
  duplicateWindowMs?: number;
}

/** Default stream name and subject prefix. */
export const defaultFleetStream = { stream: "CORRBUS", subjectPrefix: "corrbus" } as const;

/** Checks a stream name and a subject prefix (NATS rules: no spaces, dots in names, or wildcards). */
export function checkFleetStreamOptions(options: FleetStreamOptions): FleetStreamOptions {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(options.stream)) throw new FleetOptionError(`--stream: "${options.stream}" must be 1-64 of [A-Za-z0-9_-]`);
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(options.subjectPrefix) || options.subjectPrefix.length > 128) {
    throw new FleetOptionError(`--subject-prefix: "${options.subjectPrefix}" must be dot-separated tokens of [A-Za-z0-9_-], at most 128 characters`);
  }
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new FleetOptionError(`--stream-replicas: ${replicas} is not between 1 and 5`);
  return options;
}

/** The subject an event of `hostId` with `topic` is published on. */
export function eventSubject(prefix: string, hostId: string, topic: string): string {
  return `${prefix}.${hostId}.${topic}`;
}

/** Nats-Msg-Id of an event: its host and event id, unique in the fleet, the same each time it is sent. */
export function messageId(hostId: string, eventId: number): string {
  return `${hostId}-${eventId}`;
}

/**
 * The subject of a host's workflow facts (forwarded with --forward-control).
 * No topic can take it: a topic's first segment is events or control.
 */
export function factSubject(prefix: string, hostId: string): string {
  return `${prefix}.${hostId}.facts`;
}

/** Whether `subject` (under `prefix`) carries workflow facts rather than an event. */
export function isFactSubject(prefix: string, subject: string): boolean {
  return subject.endsWith(".facts") && subject.split(".").length === prefix.split(".").length + 2;
}

/** Nats-Msg-Id of a workflow fact: its host, the event it follows and its ordinal among the facts after that event. */
export function factMessageId(hostId: string, afterEventId: number, ordinal: number): string {
  return `${hostId}-${afterEventId}-f${ordinal}`;
}

/** The subjects of one host's events, or of every host's (`hostId` undefined). */
export function hostSubjects(prefix: string, hostId?: string): string {
  return hostId === undefined ? `${prefix}.>` : `${prefix}.${hostId}.>`;
}

/**
 * Creates the stream when it does not exist (file storage, the subjects of
 * every host, limits-based retention: operators size it with max_bytes /
 * max_age by `nats stream edit`); an existing one is used as it is, so an
 * operator's settings win.
 */
export async function ensureFleetStream(jsm: JetStreamManager, options: FleetStreamOptions, storage: StorageType): Promise<void> {
  try {
    await jsm.streams.info(options.stream);
    return;
  } catch (error) {
    if (!String(error).includes("stream not found")) throw error;
  }
  await jsm.streams.add({
    name: options.stream,
    subjects: [hostSubjects(options.subjectPrefix)],
    storage,
    num_replicas: options.replicas ?? 1,
    duplicate_window: (options.duplicateWindowMs ?? 120_000) * 1_000_000,
  });
}
