/**
 * Every function and constant of connect-es marked `@private` ("internal
 * code, does not follow semantic versioning") that corrbus uses, in one
 * place. Written against @connectrpc/connect 2.2.0, pinned exactly in
 * package.json: an upgrade checks these names and signatures first (the
 * type checker and the wire-comparison tests catch a change).
 */
export { compressedFlag, encodeEnvelope } from "@connectrpc/connect/protocol";
export {
  codeFromHttpStatus,
  codeToHttpStatus,
  endStreamFlag,
  endStreamFromJson,
  endStreamToJson,
  errorFromJsonBytes,
  errorToJsonBytes,
  parseTimeout,
} from "@connectrpc/connect/protocol-connect";
