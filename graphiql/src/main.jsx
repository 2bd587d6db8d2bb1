// vidgraph's GraphiQL: the editor, the explorer plugin, and subscriptions over graphql-transport-ws.
// Everything here is bundled into schema/static/graphiql/ by build.mjs, so the page needs no CDN.
import { explorerPlugin } from "@graphiql/plugin-explorer";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import React from "react";
import { createRoot } from "react-dom/client";

import "graphiql/style.css";
import "@graphiql/plugin-explorer/style.css";
import "./page.css";

const DEFAULT_QUERY = `# vidgraph: videos in, summaries, chapters
# and highlights out.
#
# Sign in with the register or login mutation
# (see the Docs), then put its token in the
# Headers tab below:
#
#   {"Authorization": "Bearer <token>"}
#
# It is sent with queries, mutations and
# subscriptions alike.

query Viewer {
  viewer {
    email
    library(first: 10) {
      edges { node { video { title } } }
    }
  }
}
`;

// the page is served at the GraphQL endpoint itself: queries go back to this URL, and
// subscriptions to the same path over ws:// or wss://, whatever host or prefix it is behind
const endpoint = new URL(window.location.pathname, window.location.origin);
const socket = new URL(endpoint);
socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

// with a subscriptionUrl, the toolkit opens a graphql-ws client per subscription and sends the
// headers from the editor as its connection_init payload: a browser cannot set headers on a
// WebSocket, and that payload is where vidgraph reads `Authorization` from
const fetcher = createGraphiQLFetcher({
  url: endpoint.href,
  subscriptionUrl: socket.href,
});

const explorer = explorerPlugin();

function App() {
  return React.createElement(GraphiQL, {
    fetcher,
    plugins: [explorer],
    defaultQuery: DEFAULT_QUERY,
    // the Headers tab starts open: pasting a bearer token is the first thing most people do
    defaultEditorToolsVisibility: "headers",
    isHeadersEditorEnabled: true,
    // tokens are not written to localStorage unless the person opts in from the settings
    shouldPersistHeaders: false,
  });
}

createRoot(document.getElementById("graphiql")).render(React.createElement(App));
