// The scenario in a browser: urql (@urql/core) with graphql-ws as its subscription transport, loaded as
// ES modules in headless Chromium. The page sits on the server's own origin (served here by
// interception; the server itself has no test pages), so its WebSocket is same-origin as a real app's.
// Usage: node urql_browser.mjs <server url> <access token> <project global id> <bash script>
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openBrowser } from "./browser.mjs";

const [, , url, token, projectId, script] = process.argv;
const here = dirname(fileURLToPath(import.meta.url));
const prefix = `${url}/__test_clients__/`;

const page_html = `<!doctype html><html><head>
<script type="importmap">{"imports": {
  "@urql/core": "${prefix}npm/@urql/core/dist/urql-core.mjs",
  "wonka": "${prefix}npm/wonka/dist/wonka.mjs",
  "@0no-co/graphql.web": "${prefix}npm/@0no-co/graphql.web/dist/graphql.web.mjs",
  "graphql-ws": "${prefix}npm/graphql-ws/dist/client.js"
}}</script>
<script>window.process = { env: { NODE_ENV: "production" } }; // what a bundler defines for urql</script>
</head><body>
<script type="module">
import { Client, fetchExchange, subscriptionExchange } from "@urql/core";
import { createClient } from "graphql-ws";
import { onEnd, pipe, subscribe } from "wonka";
import { runScenario } from "${prefix}graphql_scenario.mjs";

function queue() {
  const items = [], waiting = [];
  let done = false;
  return {
    push(item) { waiting.length ? waiting.shift()({ value: item, done: false }) : items.push(item); },
    end() { done = true; while (waiting.length) waiting.shift()({ value: undefined, done: true }); },
    next() { return items.length ? Promise.resolve({ value: items.shift(), done: false })
      : done ? Promise.resolve({ value: undefined, done: true }) : new Promise((resolve) => waiting.push(resolve)); },
  };
}

function open() {
  const socket = createClient({
    url: location.origin.replace(/^http/, "ws") + "/graphql",
    connectionParams: { authorization: "Bearer ${token}" },
    retryAttempts: 0,
  });
  const client = new Client({
    url: location.origin + "/graphql",
    fetchOptions: { headers: { Authorization: "Bearer ${token}" } },
    exchanges: [fetchExchange, subscriptionExchange({
      forwardSubscription: (request) => ({
        subscribe: (sink) => ({ unsubscribe: socket.subscribe({ ...request, query: request.query || "" }, sink) }),
      }),
    })],
  });
  return {
    subscribe(query, variables) {
      const results = queue();
      let previous;
      const { unsubscribe } = pipe(client.subscription(query, variables), onEnd(() => results.end()), subscribe((result) => {
        if (result.error) {
          const network = result.error.networkError;
          const detail = network && network.code ? " (socket closed " + network.code + ": " + network.reason + ")"
            : Array.isArray(network) ? " " + JSON.stringify(network) : "";
          results.push({ errors: [{ message: String(result.error) + detail }] });
        }
        // When a stream ends, urql hands its last result over again (the same object, hasNext now false):
        // a change of state, not another event from the server.
        else if (result.data !== previous) results.push({ data: result.data });
        previous = result.data;
      }));
      return {
        [Symbol.asyncIterator]() { return this; },
        next: () => results.next(),
        return() { unsubscribe(); results.end(); return Promise.resolve({ done: true }); },
      };
    },
    async request(query, variables) {
      const result = await client.mutation(query, variables).toPromise();
      if (result.error) throw new Error(String(result.error));
      return result.data;
    },
    async close() { await socket.dispose(); },
  };
}

runScenario({ open }, ${JSON.stringify(projectId)}, ${JSON.stringify(script)})
  .then((report) => { window.__report = report; }, (error) => { window.__failure = String(error && error.stack || error); });
</script></body></html>`;

const { browser, context, page, blocked, problems } = await openBrowser(url);
await context.route(`${prefix}**`, (route) => {
  const path = route.request().url().slice(prefix.length);
  if (path === "page.html") return route.fulfill({ contentType: "text/html", body: page_html });
  const file = path === "graphql_scenario.mjs" ? join(here, path) : join(here, "node_modules", path.replace(/^npm\//, ""));
  return route.fulfill({ contentType: "text/javascript", body: readFileSync(file) });
});
try {
  await page.goto(`${prefix}page.html`);
  await page.waitForFunction(() => window.__report || window.__failure, null, { timeout: 60000 });
  const failure = await page.evaluate(() => window.__failure);
  if (failure) throw new Error(`${failure}\n${problems.join("\n")}`);
  const report = await page.evaluate(() => window.__report);
  console.log(JSON.stringify({ ...report, blocked, problems }));
} finally {
  await browser.close();
}
