// Drives the published @aintandem/sdk-core client through a project's sandbox (contract §5 operations
// 51-63 and GET /flexy/{id}) while its ProgressClient (over the `ws` package: Node 20 has no WebSocket)
// receives the project's sandbox_* events. A second user's socket for the project must be refused.
//
// Environment: BASE_URL, USERNAME, PASSWORD, SUFFIX, OTHER_TOKEN (an access token of another user).
// Prints one JSON line with what the server returned; exits non-zero naming the failed step otherwise.

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

function waitFor(events, predicate, what, timeoutMs = 30000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = () => {
      const found = events.find(predicate);
      if (found) return resolve(found);
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(events.map((e) => e.type))}`));
      setTimeout(poll, 50);
    };
    poll();
  });
}

async function waitForOperation(client, operationId) {
  for (let i = 0; i < 600; i += 1) {
    const operation = await client.sandboxes.getOperationStatus(operationId);
    if (['completed', 'failed', 'cancelled'].includes(operation.status)) return operation;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`operation ${operationId} did not finish`);
}

function refusedCloseCode(url) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const messages = [];
    socket.on('message', (data) => messages.push(String(data)));
    socket.on('close', (code) => (messages.length ? reject(new Error(`refused socket received ${messages}`)) : resolve(code)));
    socket.on('error', reject);
  });
}

async function main() {
  const suffix = env('SUFFIX');
  const client = new AInTandemClient({ baseURL: env('BASE_URL'), storage: new MemoryStorage(), retryCount: 1 });
  await step('login', () => client.auth.login({ username: env('USERNAME'), password: env('PASSWORD') }));

  const org = await step('create organization', () => client.workspaces.createOrganization({ name: `SDK ${suffix}`, folderPath: `sdk-sb-${suffix}` }));
  const ws = await step('create workspace', () => client.workspaces.createWorkspace(org.id, { name: 'W', folderPath: 'w' }));
  const project = await step('create project', () => client.workspaces.createProject(ws.id, { name: 'P', folderPath: 'p' }));

  const events = [];
  const unsubscribe = await step('subscribe to sandbox events', () => client.subscribeToSandbox(project.id, (event) => events.push(event)));

  const sandbox = await step('create sandbox', () => client.sandboxes.createSandbox({ name: '', projectId: project.id }));
  assert.equal(sandbox.projectId, project.id);
  await step('receive sandbox_created', () => waitFor(events, (e) => e.type === 'sandbox_created' && e.sandboxId === sandbox.id, 'sandbox_created'));
  await step('receive sandbox_started', () => waitFor(events, (e) => e.type === 'sandbox_started' && e.sandboxId === sandbox.id, 'sandbox_started'));

  const fetched = await step('get sandbox', () => client.sandboxes.getSandbox(sandbox.id));
  assert.equal(fetched.status, 'running');
  const listed = await step('list sandboxes', () => client.sandboxes.listSandboxes());
  assert.ok(listed.some((s) => s.id === sandbox.id), 'created sandbox is listed');

  await step('stop sandbox', () => client.sandboxes.stopSandbox(sandbox.id));
  await step('receive sandbox_stopped', () => waitFor(events, (e) => e.type === 'sandbox_stopped', 'sandbox_stopped'));

  const accepted = await step('start sandbox async', () => client.sandboxes.startSandboxAsync(sandbox.id));
  assert.equal(accepted.status, 'pending');
  const operation = await step('wait for operation', () => waitForOperation(client, accepted.operationId));
  assert.equal(operation.status, 'completed');
  assert.equal(operation.progress.percentage, 100);
  const operations = await step('list project operations', () => client.sandboxes.getProjectOperations(project.id));
  assert.ok(operations.operations.some((o) => o.id === accepted.operationId));
  await step('receive second sandbox_started', () => waitFor(events, (e) => e.type === 'sandbox_started' && events.indexOf(e) > 1, 'second sandbox_started'));

  const wsUrl = `${env('BASE_URL').replace(/^http/, 'ws')}/progress/subscribe/${project.id}?token=${env('OTHER_TOKEN')}`;
  const refusedWith = await step("refuse another user's socket", () => refusedCloseCode(wsUrl));

  await step('delete sandbox', () => client.sandboxes.deleteSandbox(sandbox.id));
  unsubscribe();
  client.getProgress().disconnectAll();
  client.getAuthManager().logout();

  console.log(JSON.stringify({ projectId: project.id, sandboxId: sandbox.id, eventTypes: events.map((e) => e.type), refusedWith, operationId: accepted.operationId }));
}

main().catch((error) => {
  console.error(`step "${currentStep}" failed: ${error?.stack || error}`);
  process.exit(1);
});
