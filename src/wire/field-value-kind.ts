import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";

/**
 * What one value of a field is, for the compiled codecs: a message, or a
 * scalar type (enums as int32, which is how they are written and compared).
 * For lists, the element; for maps, the value.
 */
export function valueKind(field: DescField): ScalarType | DescMessage {
  switch (field.fieldKind) {
    case "message":
      return field.message;
    case "enum":
      return ScalarType.INT32;
    case "scalar":
      return field.scalar;
    case "list":
      return field.listKind === "message" ? field.message : field.listKind === "enum" ? ScalarType.INT32 : field.scalar;
    case "map":
      return field.mapKind === "message" ? field.message : field.mapKind === "enum" ? ScalarType.INT32 : field.scalar;
  }
}
