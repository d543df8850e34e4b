/** A bound on concurrent things (subscribers, waiters) is reached; maps to RESOURCE_EXHAUSTED. */
export class CapacityError extends Error {
  override name = "CapacityError";
}

/** The named thing is not known to the broker; maps to NOT_FOUND. */
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

/** The journal could not take accepted events (disk full, I/O error); maps to UNAVAILABLE. */
export class StorageError extends Error {
  override name = "StorageError";
}

/** The peer may not do this (publish to control.#); maps to PERMISSION_DENIED. */
export class PermissionDeniedError extends Error {
  override name = "PermissionDeniedError";
}
