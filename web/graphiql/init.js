// GraphiQL for this service: queries and mutations over HTTP, subscriptions over graphql-ws, both
// signed in with the Authorization header from the headers pane (sent in connection_init for sockets).
(function () {
  "use strict";
  var endpoint = new URL("/graphql", window.location.href).href;
  var socketEndpoint = endpoint.replace(/^http/, "ws");
  var fetchers = {};

  function authorization(headers) {
    headers = headers || {};
    return headers.Authorization || headers.authorization || "";
  }

  // One fetcher (and one socket) per Authorization value, so changing the token in the headers pane
  // opens a new, signed-in socket instead of reusing one signed in as someone else.
  function fetcherFor(auth) {
    if (!fetchers[auth]) {
      var socket = graphqlWs.createClient({
        url: socketEndpoint,
        connectionParams: auth ? { authorization: auth } : {},
        lazy: true,
      });
      fetchers[auth] = GraphiQL.createFetcher({ url: endpoint, wsClient: socket });
    }
    return fetchers[auth];
  }

  function fetcher(params, options) {
    return fetcherFor(authorization(options && options.headers))(params, options);
  }

  var welcome = [
    "# GraphiQL for the orchestrator: sign in first, then send your token in the headers pane.",
    "#",
    "#   mutation { login(input: {username: \"admin\", password: \"…\"}) { token userErrors { message } } }",
    "#",
    "# Headers (below): {\"Authorization\": \"Bearer <token>\"}",
    "",
    "query Me {",
    "  me {",
    "    username",
    "    organizations(first: 10) { nodes { id name } }",
    "  }",
    "}",
    "",
  ].join("\n");

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: welcome,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      defaultEditorToolsVisibility: true,
    })
  );
})();
