// The scenario over Server-Sent Events with the npm graphql-sse client (distinct connections mode: each
// operation is its own POST with `Accept: text/event-stream`).
// Usage: node graphql_sse_client.mjs <server url> <access token> <project global id> <bash script>
import { createClient } from "graphql-sse";
import { runScenario } from "./graphql_scenario.mjs";

const [, , url, token, projectId, script] = process.argv;

function open() {
  const client = createClient({ url: url + "/graphql", headers: { Authorization: `Bearer ${token}` }, retryAttempts: 0 });
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
