import { Code, ConnectError } from "@connectrpc/connect";
import { InvalidFieldSchema } from "../../gen/corrbus/v1/service_pb.js";
import { CapacityError, NotFoundError, PermissionDeniedError, StorageError } from "../core/validation/broker-errors.js";
import { InvalidInputError, LineageError } from "../core/validation/invalid-input-error.js";
import { SubscriberCutOffError } from "../core/routing/subscription.js";

/**
 * Maps domain errors to wire codes, in one place: bad input → INVALID_ARGUMENT
 * (with an InvalidField detail naming the field), lineage conflicts →
 * FAILED_PRECONDITION, full bounds and cut-off subscribers →
 * RESOURCE_EXHAUSTED, unknown ids → NOT_FOUND, a failing journal → UNAVAILABLE,
 * a denied topic → PERMISSION_DENIED.
 * Anything else is INTERNAL.
 */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof InvalidInputError) {
    const code = error instanceof LineageError ? Code.FailedPrecondition : Code.InvalidArgument;
    return new ConnectError(error.message, code, undefined, [{ desc: InvalidFieldSchema, value: { field: error.field, description: error.description } }]);
  }
  if (error instanceof CapacityError || error instanceof SubscriberCutOffError) {
    return new ConnectError(error.message, Code.ResourceExhausted);
  }
  if (error instanceof NotFoundError) return new ConnectError(error.message, Code.NotFound);
  if (error instanceof StorageError) return new ConnectError(error.message, Code.Unavailable);
  if (error instanceof PermissionDeniedError) return new ConnectError(error.message, Code.PermissionDenied);
  return new ConnectError(error instanceof Error ? error.message : String(error), Code.Internal, undefined, undefined, error);
}
