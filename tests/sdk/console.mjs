// The console's session through the published SDK with `baseURL` = the server's origin (as the console
// builds it when its API address is its own origin), plus the calls the console makes itself with fetch
// (`/api/tasks/{id}/rerun`, `/api/projects/{pid}/workflow/execute`). Every REST call and the progress
// WebSocket therefore go to the paths at the root.
//
// Environment: BASE_URL (the origin), USERNAME, PASSWORD, SUFFIX. Prints one JSON line of what came back.

import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { AInTandemClient } from '@aintandem/sdk-core';
import { MemoryStorage, env } from './common.mjs';

globalThis.WebSocket = WebSocket;

let currentStep = 'start';
const step = async (name, action) => {
  currentStep = name;
  return action();
};

async function finished(client, projectId, taskId) {
  for (let i = 0; i < 600; i += 1) {
    const task = await client.tasks.getTask(projectId, taskId);
    if (['completed', 'failed', 'cancelled'].includes(task.status)) return task;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`task ${taskId} never finished`);
}

async function main() {
  const origin = env('BASE_URL');
  const suffix = env('SUFFIX');
  const storage = new MemoryStorage();
  const client = new AInTandemClient({ baseURL: origin, storage, retryCount: 1 });
  // What the console's own `authenticatedFetch` does: the SDK's token, and /api paths.
  const consoleFetch = (path, init = {}) =>
    fetch(`${origin}${path}`, { ...init, headers: { Authorization: `Bearer ${storage.getToken()}`, 'Content-Type': 'application/json', ...init.headers } });

  await step('login', () => client.auth.login({ username: env('USERNAME'), password: env('PASSWORD') }));
  const org = await step('create organization', () => client.workspaces.createOrganization({ name: `Console ${suffix}`, folderPath: `console-${suffix}` }));
  const ws = await step('create workspace', () => client.workspaces.createWorkspace(org.id, { name: 'W', folderPath: 'w' }));
  const project = await step('create project', () => client.workspaces.createProject(ws.id, { name: 'P', folderPath: 'p' }));
  await step('create sandbox', () => client.sandboxes.createSandbox({ name: '', projectId: project.id }));

  const events = [];
  const subscription = await step('subscribe to tasks at the root', () =>
    client.getProgress().subscribeToTask({ projectId: project.id, onEvent: (event) => events.push(event.type) }));
  const queued = await step('execute ad-hoc task', () =>
    client.tasks.executeAdhocTask(project.id, { title: 'console task', prompt: 'echo from the console', taskType: 'bash' }));
  await step('wait for the task', () => finished(client, project.id, queued.taskId));
  const rerun = await step('rerun as the console does', async () => {
    const response = await consoleFetch(`/api/tasks/${queued.taskId}/rerun`, { method: 'POST' });
    assert.equal(response.status, 201, await response.clone().text());
    return response.json();
  });
  await step('wait for the re-run', () => finished(client, project.id, rerun.taskId));
  const history = await step('list task history', () => client.tasks.listTaskHistory(project.id, {}));
  const historyIds = [];
  history.forEach((task) => historyIds.push(task.id)); // what the console's Tasks tab does with it

  const executed = await step('execute a step as the console does', async () => {
    const response = await consoleFetch(`/api/projects/${project.id}/workflow/execute`, {
      method: 'POST',
      body: JSON.stringify({ stepId: 'design', additionalInput: 'echo step input' }),
    });
    assert.equal(response.status, 201, await response.clone().text());
    return response.json();
  });
  await step('wait for the step task', () => finished(client, project.id, executed.taskId));
  const stepState = await step('get task step', () => client.tasks.getStepStatus(project.id, executed.taskId, 'design'));
  const output = await step('get task output', () => client.tasks.getTaskOutput(project.id, executed.taskId));
  const marked = await step('update step status', () => client.tasks.updateStepStatus(project.id, executed.taskId, { status: 'completed' }));

  await step('create memory as the console does', () =>
    client.context.createMemory({ projectId: project.id, content: 'how we deploy: blue and green', metadata: { scope: 'project', memory_type: 'knowledge' } }));
  const batch = await step('create memories in a batch', () =>
    client.context.createMemoriesBatch([1, 2].map((n) => ({ projectId: project.id, content: `login page note ${n}`, metadata: { scope: 'project' } }))));
  const search = await step('search memories', () =>
    client.context.searchMemories({ query: 'deploy', scope: 'project', scope_id: project.id, limit: 1, include_inherited: true }));
  const stats = await step('get memory stats', () => client.context.getMemoryStats(project.id));
  const listed = await step('list memories', () => client.context.listMemories(project.id));
  const relevant = await step('get relevant context', () => client.context.getRelevantContext({ prompt: 'deploy', maxMemories: 2 }));
  await step('delete memories in a batch', () => client.context.deleteMemoriesBatch(batch.map((memory) => memory.id)));
  const left = await step('list memories again', () => client.context.listMemories(project.id));

  await step('update settings', () => client.settings.updateSettings({ gitDisplayName: 'Console', gitEmail: 'c@example.com', dockerImage: 'img:2' }));
  const withoutEmail = await step('delete one setting', () => client.settings.deleteSetting('gitEmail'));
  assert.equal(withoutEmail.gitEmail, undefined);
  const reset = await step('reset settings', () => client.settings.resetSettings());

  const page = await step('load a console page', async () => (await fetch(`${origin}/workflows`, { headers: { Accept: 'text/html' } })).text());
  const workflows = await step('list workflows at the same path', () => client.workflows.listWorkflows());

  subscription.unsubscribe();
  client.getProgress().disconnectAll();
  client.getAuthManager().logout();
  console.log(JSON.stringify({
    taskId: queued.taskId,
    rerunId: rerun.taskId,
    historyIsArray: Array.isArray(history),
    historyIds,
    events,
    step: stepState,
    output,
    marked: marked.status,
    search: { memories: search.memories, total: search.total, query: search.query },
    stats,
    listed: listed.length,
    relevant: relevant.memories.length,
    deletedBatch: listed.length - left.length,
    reset: { gitDisplayName: reset.gitDisplayName ?? null, dockerImage: reset.dockerImage ?? null },
    page,
    workflowsIsArray: Array.isArray(workflows),
  }));
}

main().catch((error) => {
  console.error(`step "${currentStep}" failed: ${error?.stack || error}`);
  process.exit(1);
});
