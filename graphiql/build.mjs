// Bundles GraphiQL for vidgraph into ../schema/static/graphiql/: one script, one stylesheet, a
// manifest naming them, and the licences of every package inside. File names carry a content hash
// so the server can let browsers cache them for good. Run: npm --prefix graphiql run build
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = resolve(here, "../schema/static/graphiql");

const result = await esbuild.build({
  entryPoints: { graphiql: join(here, "src/main.jsx") },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  jsx: "transform",
  define: { "process.env.NODE_ENV": '"production"' },
  // fonts and images referenced by the stylesheets become data: URLs: nothing is fetched elsewhere
  loader: { ".woff": "dataurl", ".woff2": "dataurl", ".ttf": "dataurl", ".svg": "dataurl", ".png": "dataurl" },
  legalComments: "none",
  write: false,
  metafile: true,
  outdir,
  logLevel: "warning",
});

function hashed(name, contents) {
  const digest = createHash("sha256").update(contents).digest("hex").slice(0, 12);
  const dot = name.lastIndexOf(".");
  return `${name.slice(0, dot)}-${digest}${name.slice(dot)}`;
}

// every package that ended up in the bundle, for the licence file
function bundledPackages(metafile) {
  const packages = new Map();
  for (const input of Object.keys(metafile.inputs)) {
    const parts = input.split("node_modules/");
    if (parts.length < 2) continue;
    const tail = parts[parts.length - 1].split("/");
    const name = tail[0].startsWith("@") ? `${tail[0]}/${tail[1]}` : tail[0];
    const root = join(here, input.slice(0, input.lastIndexOf("node_modules/")), "node_modules", name);
    packages.set(root, name);
  }
  return [...packages.entries()].sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0]));
}

function licenceText(root) {
  const file = readdirSync(root).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  return file ? readFileSync(join(root, file), "utf8").trim() : null;
}

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

const manifest = {};
for (const file of result.outputFiles) {
  const name = relative(outdir, file.path);
  const kind = name.endsWith(".css") ? "style" : "script";
  const target = hashed(name, file.contents);
  writeFileSync(join(outdir, target), file.contents);
  manifest[kind] = target;
}

const notices = [];
for (const [root, name] of bundledPackages(result.metafile)) {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const text = licenceText(root);
  notices.push(`${name}@${pkg.version} (${pkg.license ?? "see below"})\n\n${text ?? "(no licence file shipped)"}\n`);
}
writeFileSync(join(outdir, "THIRD_PARTY_LICENSES.txt"), notices.join("\n" + "-".repeat(72) + "\n\n"));
writeFileSync(join(outdir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");

if (!existsSync(join(outdir, manifest.script ?? "-")) || !existsSync(join(outdir, manifest.style ?? "-"))) {
  throw new Error(`the build did not produce a script and a stylesheet: ${JSON.stringify(manifest)}`);
}
for (const [kind, file] of Object.entries(manifest)) {
  const size = readFileSync(join(outdir, file)).length;
  console.log(`${kind.padEnd(6)} ${file}  ${(size / 1024).toFixed(0)} KiB`);
}
