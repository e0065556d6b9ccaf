// The scenario over graphql-ws (graphql-transport-ws), the npm client most GraphQL clients build on.
// Usage: node graphql_ws_client.mjs <server url> <access token> <project global id> <bash script>
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { runScenario } from "./graphql_scenario.mjs";

const [, , url, token, projectId, script] = process.argv;

function open() {
  const client = createClient({
    url: url.replace(/^http/, "ws") + "/graphql",
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  return {
    subscribe: (query, variables) => client.iterate({ query, variables }),
    request: async (query, variables) => {
      for await (const result of client.iterate({ query, variables })) {
        if (result.errors) throw new Error(JSON.stringify(result.errors));
        return result.data;
      }
    },
    close: () => client.dispose(),
  };
}

const report = await runScenario({ open }, projectId, script);
console.log(JSON.stringify(report));
