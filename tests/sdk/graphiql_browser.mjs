// GraphiQL, as a person uses it, in headless Chromium that can reach nothing but this server: sign in
// by putting the token in the headers pane, run a query, then a subscription, and read the results off
// the screen. Prints what was seen, the outside requests the page tried (all refused), and problems.
// Usage: node graphiql_browser.mjs <server url> <access token> <project global id> <screenshot path>
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { openBrowser } from "./browser.mjs";

const [, , url, token, projectId, screenshot] = process.argv;
const { browser, page, blocked, problems } = await openBrowser(url);

async function setEditor(selector, text) {
  await page.waitForFunction((s) => document.querySelector(s)?.CodeMirror, selector);
  await page.evaluate(([s, t]) => document.querySelector(s).CodeMirror.setValue(t), [selector, text]);
}

const responseText = () =>
  page.evaluate(() => document.querySelector(".graphiql-response .CodeMirror")?.CodeMirror.getValue() || "");

// GraphiQL learns the operation's name from the editor a moment after it changes; running before then
// would send the previous operation's name. It keeps its tabs' state in localStorage: wait for the name there.
async function waitForOperation(name) {
  await page.waitForFunction((n) => (localStorage.getItem("graphiql:tabState") || "").includes(`"operationName":"${n}"`), name);
}

async function run() {
  await page.getByRole("button", { name: /Execute query/ }).click();
}

try {
  await page.goto(`${url}/graphql`);
  await page.waitForSelector(".graphiql-container", { timeout: 30000 });
  await page.getByRole("button", { name: "Headers" }).click();
  const headers = JSON.stringify({ Authorization: `Bearer ${token}` });
  await setEditor(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror", headers);

  await setEditor(".graphiql-query-editor .CodeMirror", "query Me { me { username } }");
  await waitForOperation("Me");
  await run();
  await page.waitForFunction(() => (document.querySelector(".graphiql-response .CodeMirror")?.CodeMirror.getValue() || "").includes("username"));
  const queryResult = JSON.parse(await responseText());

  // From the start of the project's log (after: "0"), so the task's events show however soon it runs.
  const subscription = `subscription Follow { projectEvents(projectId: "${projectId}", after: "0") {
    __typename ... on Event { id type } ... on TaskOutput { text } } }`;
  await setEditor(".graphiql-query-editor .CodeMirror", subscription);
  await waitForOperation("Follow");
  // Every value the response pane takes, recorded as it changes: an event shown for a few milliseconds counts.
  await page.evaluate(() => {
    const editor = document.querySelector(".graphiql-response .CodeMirror").CodeMirror;
    window.shownValues = [];
    editor.on("change", () => window.shownValues.push(editor.getValue()));
  });
  await run();
  const queued = await fetch(`${url}/api/projects/${process.env.PROJECT_DATABASE_ID}/tasks/adhoc`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ title: "from graphiql", prompt: "echo hello from graphiql", taskType: "bash" }),
  });
  if (queued.status !== 201) throw new Error(`queueing the task: ${queued.status} ${await queued.text()}`);
  const shown = new Set();
  const deadline = Date.now() + 30000;
  while (!shown.has("TASK_COMPLETED") && Date.now() < deadline) {
    for (const text of await page.evaluate(() => window.shownValues.splice(0))) {
      try {
        const event = JSON.parse(text).data.projectEvents;
        shown.add(event.type);
        if (event.text) shown.add(`text:${event.text.trim()}`);
      } catch {
        // between two results the pane may hold nothing or a partial render
      }
    }
    await page.waitForTimeout(20);
  }
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ queryResult, shown: [...shown], blocked, problems, last: await responseText() }));
} finally {
  await browser.close();
}
