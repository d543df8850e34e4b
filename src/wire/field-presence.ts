import type { DescField } from "@bufbuild/protobuf";
import { Edition } from "@bufbuild/protobuf/wkt";

/** FeatureSet_FieldPresence.IMPLICIT: a field that is set when it is not its zero value. */
export const implicitPresence = 2;

/**
 * Whether an unset field may read as a default through the message's
 * prototype: protobuf-es puts the defaults of fields with explicit presence
 * there, except in proto3 files. Only for such fields does "set" need an own
 * property check; elsewhere `!== undefined` says it, at a fraction of the cost.
 */
export function mayReadDefaultFromPrototype(field: DescField): boolean {
  return field.presence !== implicitPresence && field.parent.file.edition !== Edition.EDITION_PROTO3;
}
