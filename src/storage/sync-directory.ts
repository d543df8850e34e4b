import { closeSync, fsyncSync, openSync } from "node:fs";

/** Makes a new file's directory entry durable too (fsync of the directory). */
export function syncDirectory(directory: string): void {
  const fd = openSync(directory, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
