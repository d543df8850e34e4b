// The storage layer's door: the journal and where it lives.
export { Journal } from "./journal.js";
export type { FsyncPolicy, JournalOptions, JournalProblem, JournalStats, ReplayReport } from "./journal.js";
export { DataDirectoryError, DataDirectoryLockedError, checkDataDirectoryPath, defaultDataDirectory, lockDataDirectory } from "./data-directory.js";
export { scanJournal } from "./journal-scan.js";
export { EventIdReservation } from "./event-id-reservation.js";
export type { ScanReport, SegmentInfo } from "./journal-scan.js";
