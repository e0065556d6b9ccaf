// The published @aintandem/sdk-core with an agent task: its task service, subscribeToTask and
// captureTaskDialog (which continues the task's conversation), against a project whose sandbox has the fake
// `claude` CLI. The SDK knows nothing of the typed agent events: they must not disturb it.
//
// Environment: BASE_URL, USERNAME, PASSWORD, SUFFIX, PROJECT_ID. Prints one JSON line with what the server
// returned; exits non-zero naming the failed step otherwise.

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

function completion(client, projectId, taskId, events) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no completion; got ${JSON.stringify(events.map((e) => e.type))}`)), 30000);
    timer.unref();
    client.subscribeToTask(
      projectId,
      taskId,
      (event) => events.push(event),
      (event) => { clearTimeout(timer); resolve(event); },
      (event) => reject(new Error(`failed: ${event.error}`)),
    );
  });
}

async function main() {
  const projectId = env('PROJECT_ID');
  const client = new AInTandemClient({ baseURL: env('BASE_URL'), storage: new MemoryStorage(), retryCount: 1 });
  await step('login', () => client.auth.login({ username: env('USERNAME'), password: env('PASSWORD') }));

  const seen = [];
  const all = await step('subscribe to the project', () => client.getProgress().subscribeToTask({ projectId, onEvent: (event) => seen.push(event.type) }));
  const queued = await step('execute an agent task', () =>
    client.tasks.executeAdhocTask(projectId, { title: 'SDK agent', prompt: '!say hello from the agent\n!write sdk.txt written', taskType: 'claude' }));
  const events = [];
  const completed = await step('receive task_completed', () => completion(client, projectId, queued.taskId, events));
  const task = await step('get task', () => client.tasks.getTask(projectId, queued.taskId));
  const history = await step('list task history', () => client.tasks.listTaskHistory(projectId, { limit: 10 }));

  const dialog = await step('capture task dialog', () =>
    client.tasks.captureTaskDialog(projectId, queued.taskId, { projectId, content: '!say and once more' }));
  assert.ok(dialog.operationId && dialog.status && dialog.message);
  const followUpEvents = [];
  const followUpCompleted = await step('receive the follow-up\'s task_completed', () => completion(client, projectId, dialog.operationId, followUpEvents));
  const followUp = await step('get the follow-up', () => client.tasks.getTask(projectId, dialog.operationId));

  all.unsubscribe();
  client.getProgress().disconnectAll();
  client.getAuthManager().logout();
  console.log(JSON.stringify({ taskId: queued.taskId, eventTypes: events.map((e) => e.type), seen, completed, task, history, dialog, followUpEventTypes: followUpEvents.map((e) => e.type), followUpCompleted, followUp }));
}

main().catch((error) => {
  console.error(`step "${currentStep}" failed: ${error?.stack || error}`);
  process.exit(1);
});
