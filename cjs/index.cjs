// require("corrbus"): see require-esm.cjs.
"use strict";
module.exports = require("./require-esm.cjs").requireEsm(`${__dirname}/../dist/src/index.js`, "corrbus");
