// require("corrbus") and require("corrbus/server") (package.json exports,
// condition "require"): the package is ES modules. Node
// 20.19+ and 22.12+ load them with require() too; older Node cannot, and
// would say only ERR_REQUIRE_ESM, so this says what to do instead.
"use strict";

/** Loads the ES module entry `path` with require(), or throws saying why it cannot and what works. */
function requireEsm(path, name) {
  if (process.features.require_module === true) return require(path);
  const error = new Error(
    `require("${name}"): corrbus is ES modules only, and this Node (${process.version}) cannot require() them ` +
      "(Node 20.19+ or 22.12+ can, unless --no-experimental-require-module is set). " +
      `Use import { createCorrelationClient } from "${name}", or await import("${name}") from CommonJS.`,
  );
  error.code = "ERR_REQUIRE_ESM";
  throw error;
}

module.exports = { requireEsm };
