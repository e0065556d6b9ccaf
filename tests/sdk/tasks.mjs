// Drives the published @aintandem/sdk-core task service (operations 38, 40-44) against a project's
// sandbox while `subscribeToTask` receives the task's events over the progress WebSocket.
//
// Environment: BASE_URL, USERNAME, PASSWORD, SUFFIX. Prints one JSON line with what the server returned;
// exits non-zero naming the failed step otherwise.

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

async function waitForStatus(client, projectId, taskId, statuses) {
  for (let i = 0; i < 600; i += 1) {
    const task = await client.tasks.getTask(projectId, taskId);
    if (statuses.includes(task.status)) return task;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`task ${taskId} never reached ${statuses}`);
}

async function main() {
  const suffix = env('SUFFIX');
  const client = new AInTandemClient({ baseURL: env('BASE_URL'), storage: new MemoryStorage(), retryCount: 1 });
  await step('login', () => client.auth.login({ username: env('USERNAME'), password: env('PASSWORD') }));
  const org = await step('create organization', () => client.workspaces.createOrganization({ name: `SDK ${suffix}`, folderPath: `sdk-task-${suffix}` }));
  const ws = await step('create workspace', () => client.workspaces.createWorkspace(org.id, { name: 'W', folderPath: 'w' }));
  const project = await step('create project', () => client.workspaces.createProject(ws.id, { name: 'P', folderPath: 'p' }));
  await step('create sandbox', () => client.sandboxes.createSandbox({ name: '', projectId: project.id }));

  const limit = await step('set task limit', () => client.tasks.setTaskLimit(project.id, { limit: 2 }));
  assert.equal(limit.limit, 2);

  // Every task event of the project, subscribed before the task exists. (The SDK's type guard passes
  // only `task_*` events to `onEvent`, so `output` and `artifact` never reach it.)
  const events = [];
  const all = await step('subscribe to the project\'s tasks', () => client.getProgress().subscribeToTask({ projectId: project.id, onEvent: (event) => events.push(event) }));
  const queued = await step('execute ad-hoc task', () =>
    client.tasks.executeAdhocTask(project.id, { title: 'SDK task', prompt: 'echo from the sdk; sleep 1; echo done > sdk.txt; echo finished', taskType: 'bash' }));
  assert.ok(queued.taskId && queued.message);
  let completedWith = null;
  const finished = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no completion; got ${JSON.stringify(events.map((e) => e.type))}`)), 30000);
    timer.unref();
    step('subscribe to task', () => client.subscribeToTask(project.id, queued.taskId, () => {}, (event) => { completedWith = event; resolve(event); }, (event) => reject(new Error(`failed: ${event.error}`))));
  });
  await step('receive task_completed', () => finished);

  const task = await step('get task', () => client.tasks.getTask(project.id, queued.taskId));
  assert.equal(task.status, 'completed');
  const history = await step('list task history', () => client.tasks.listTaskHistory(project.id, { status: 'completed', limit: 10 }));
  assert.ok(Array.isArray(history), `listTaskHistory answered ${JSON.stringify(history)}`);
  assert.deepEqual(history.map((t) => t.id), [queued.taskId]);

  const sleeper = await step('execute a long task', () => client.tasks.executeAdhocTask(project.id, { title: 'long', prompt: 'sleep 30', taskType: 'bash' }));
  await step('wait until it runs', () => waitForStatus(client, project.id, sleeper.taskId, ['running']));
  const queue = await step('get queue status', () => client.tasks.getQueueStatus(project.id));
  const cancelled = await step('cancel task', () => client.tasks.cancelTask(project.id, sleeper.taskId));
  assert.equal(cancelled.taskId, sleeper.taskId);
  const after = await step('get cancelled task', () => client.tasks.getTask(project.id, sleeper.taskId));

  all.unsubscribe();
  client.getProgress().disconnectAll();
  client.getAuthManager().logout();
  console.log(JSON.stringify({ projectId: project.id, taskId: queued.taskId, eventTypes: events.map((e) => e.type), completedWith, task, queue, cancelledStatus: after.status, limit }));
}

main().catch((error) => {
  console.error(`step "${currentStep}" failed: ${error?.stack || error}`);
  process.exit(1);
});
