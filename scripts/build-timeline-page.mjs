#!/usr/bin/env node
// Builds the browser side of `corrbus timeline --html` (npm run build runs it after `tsc -p tsconfig.browser.json`).
//
// The page loads nothing and its Content-Security-Policy admits exactly one inline script and one inline style
// (by hash), so the ES modules tsc compiled from src/cli/timeline-page/ are joined here into one classic script:
// each module becomes a function scope that returns its exports, called in import order from the entry module.
// That is all this step understands of JavaScript. It accepts only what tsc emits for the folder's own style
// (named imports of sibling modules, `export` on declarations) and fails on anything else rather than guess.
//
// It writes dist/src/cli/timeline-page.json, { script, style }, next to the compiled html-timeline.js that
// inlines both into every page it renders.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const root = join(import.meta.dirname, "..");
const compiled = join(root, "dist", "timeline-page");
const entry = "timeline-page";
const styleFile = join(root, "src", "cli", "timeline-page", "timeline-page.css");
const output = join(root, "dist", "src", "cli", "timeline-page.json");

const importPattern = /^import \{([^}]*)\} from "\.\/([a-z0-9-]+)\.js";\n/gm;
const exportPattern = /^export (const|function|class) ([A-Za-z_$][\w$]*)/gm;

/** A compiled module: its body without import and export syntax, what it imports from whom, what it exports. */
function parseModule(name) {
  const file = join(compiled, `${name}.js`);
  let text = readFileSync(file, "utf8");
  const imports = [];
  text = text.replace(importPattern, (_, names, from) => {
    imports.push({
      from,
      bindings: names
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== ""),
    });
    return "";
  });
  const exports = [];
  text = text.replace(exportPattern, (_, kind, exported) => {
    exports.push(exported);
    return `${kind} ${exported}`;
  });
  text = text.replace(/^export \{\};\n/m, "");
  const leftover = /^(import|export)\b.*$/m.exec(text);
  if (leftover !== null) {
    throw new Error(`${file}: cannot join "${leftover[0]}" into the page's script (only named imports of sibling modules, exported declarations)`);
  }
  for (const { bindings } of imports) {
    for (const binding of bindings) {
      if (!/^[A-Za-z_$][\w$]*( as [A-Za-z_$][\w$]*)?$/.test(binding)) throw new Error(`${file}: cannot join the import of "${binding}"`);
    }
  }
  return { name, text, imports, exports };
}

/** The modules the entry needs, each after every module it imports (the order ES modules run in). */
function loadModules() {
  const ordered = [];
  const state = new Map();
  const visit = (name, via) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") throw new Error(`${[...via, name].join(" → ")}: the page's modules import each other in a cycle`);
    state.set(name, "visiting");
    const module = parseModule(name);
    for (const { from } of module.imports) visit(from, [...via, name]);
    state.set(name, "done");
    ordered.push(module);
  };
  visit(entry, []);
  return ordered;
}

const scopeName = (name) => `module$${name.replaceAll("-", "_")}`;

function joinModules(modules) {
  const exportsOf = new Map(modules.map((module) => [module.name, new Set(module.exports)]));
  const parts = ['(() => {\n"use strict";\n'];
  for (const module of modules) {
    const bindings = module.imports.map(({ from, bindings }) => {
      for (const binding of bindings) {
        const imported = binding.split(" as ")[0];
        if (!exportsOf.get(from).has(imported)) throw new Error(`${module.name}.js imports ${imported}, which ${from}.js does not export`);
      }
      return `const { ${bindings.map((binding) => binding.replace(" as ", ": ")).join(", ")} } = ${scopeName(from)};\n`;
    });
    const body = `${bindings.join("")}${module.text}`;
    if (module.name === entry) parts.push(`// ${module.name}\n(() => {\n${body}})();\n`);
    else parts.push(`// ${module.name}\nconst ${scopeName(module.name)} = (() => {\n${body}return { ${module.exports.join(", ")} };\n})();\n`);
  }
  parts.push("})();\n");
  return parts.join("");
}

const script = joinModules(loadModules());
const style = readFileSync(styleFile, "utf8");
// Inline, the script cannot hold what would end its <script> element or open a comment inside it, nor the style
// what would end its <style> element.
if (/<\/?script|<!--/i.test(script)) throw new Error("the page's script contains <script, </script or <!--, which cannot be inlined");
if (/<\/style/i.test(style)) throw new Error(`${styleFile} contains </style, which cannot be inlined`);

mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, `${JSON.stringify({ script, style })}\n`);
