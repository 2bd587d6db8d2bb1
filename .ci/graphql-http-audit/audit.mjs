// Runs graphql-http's GraphQL over HTTP server audits against a running server.
// Usage: node audit.mjs http://127.0.0.1:PORT/graphql
// Prints one line per audit that did not pass, then a JSON summary line
// ({"ok": n, "notice": n, "warn": n, "error": n}: notices are failed MAYs, warnings failed
// SHOULDs, errors failed MUSTs); exits 1 unless every audit passed.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}

const results = await auditServer({ url });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const result of results) {
  counts[result.status] += 1;
  if (result.status !== 'ok') {
    let body = '';
    if (result.response) {
      body = await result.response.text().catch(() => '');
    }
    console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}: ${result.reason} ${body}`.trim());
  }
}
console.log(JSON.stringify(counts));
process.exit(counts.ok === results.length ? 0 : 1);
