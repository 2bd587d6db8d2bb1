// PostGraphile v4 over vidgraph's PostgreSQL tables, as bench/bench_library.py runs it.
// Usage: DATABASE_URL=postgres://... PORT=5433 POOL_SIZE=5 node server.js
// No auth: PostGraphile is given the viewer's user id in the query instead of a session token.
"use strict";

const http = require("http");
const { Pool } = require("pg");
const { postgraphile } = require("postgraphile");

const port = Number(process.env.PORT || 5000);
// the same pool size as vidgraph's Tortoise default and the hand-written endpoint
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_SIZE || 5) });

const middleware = postgraphile(pool, "public", {
  graphiql: false,
  disableQueryLog: true,
  disableDefaultMutations: true,
  watchPg: false,
  retryOnInitFail: false,
  // errors are rare in a benchmark; when one happens we want to see it
  extendedErrors: ["hint", "detail", "errcode"],
});

const server = http.createServer(middleware);
server.listen(port, "127.0.0.1", () => {
  console.log(`postgraphile listening on http://127.0.0.1:${port}/graphql`);
});

function stop() {
  server.close(() => pool.end().then(() => process.exit(0)));
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
