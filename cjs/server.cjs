// require("corrbus/server"): see require-esm.cjs.
"use strict";
module.exports = require("./require-esm.cjs").requireEsm(`${__dirname}/../dist/src/server/index.js`, "corrbus/server");
