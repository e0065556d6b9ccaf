// Drives the published @aintandem/sdk-core workflow service (operations 22-37, plus its per-workflow
// execution list and step lookup) while `subscribeToWorkflow` receives an execution's events over the
// progress WebSocket.
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

const bash = (id, prompt) => ({ id, title: id, description: '', type: 'process', taskType: 'bash', prompt });
const definition = (tag) => ({
  phases: [
    { id: 'prototype', title: 'Prototype', description: '', color: '#0a0', steps: [bash('build', `echo build ${tag} >> sdk-flow.txt`)] },
    { id: 'qa', title: 'QA', description: '', color: '#00a', steps: [bash('test', `sleep 1; echo test ${tag} >> sdk-flow.txt`)] },
    { id: 'optimize', title: 'Optimize', description: '', color: '#a00', steps: [bash('ship', `echo ship ${tag} >> sdk-flow.txt`)] },
  ],
  transitions: [{ from: 'prototype', to: 'qa', type: 'forward' }, { from: 'qa', to: 'optimize', type: 'forward' }],
});

async function waitForExecution(client, executionId, statuses) {
  for (let i = 0; i < 1200; i += 1) {
    const execution = await client.workflows.getExecution(executionId);
    if (statuses.includes(execution.status)) return execution;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`execution ${executionId} never reached ${statuses}`);
}

async function main() {
  const suffix = env('SUFFIX');
  const client = new AInTandemClient({ baseURL: env('BASE_URL'), storage: new MemoryStorage(), retryCount: 1 });
  await step('login', () => client.auth.login({ username: env('USERNAME'), password: env('PASSWORD') }));
  const org = await step('create organization', () => client.workspaces.createOrganization({ name: `SDK ${suffix}`, folderPath: `sdk-flow-${suffix}` }));
  const ws = await step('create workspace', () => client.workspaces.createWorkspace(org.id, { name: 'W', folderPath: 'w' }));
  const project = await step('create project', () => client.workspaces.createProject(ws.id, { name: 'P', folderPath: 'p' }));
  await step('create sandbox', () => client.sandboxes.createSandbox({ name: '', projectId: project.id }));

  const created = await step('create workflow', () => client.workflows.createWorkflow({ name: `Flow ${suffix}`, description: 'sdk', definition: definition('v1') }));
  assert.equal(created.status, 'draft');
  const fetched = await step('get workflow', () => client.workflows.getWorkflow(created.id));
  assert.deepEqual(fetched.definition, definition('v1'));
  const published = await step('publish workflow', () => client.workflows.changeWorkflowStatus(created.id, 'published'));
  assert.equal(published.status, 'published');
  const listed = await step('list published workflows', () => client.workflows.listWorkflows('published'));
  assert.ok(listed.some((w) => w.id === created.id));
  const updated = await step('update published workflow', () => client.workflows.updateWorkflow(created.id, { definition: definition('v2'), changeDescription: 'second take' }));
  assert.equal(updated.currentVersion, 2);
  const versions = await step('list versions', () => client.workflows.listVersions(created.id));
  assert.deepEqual(versions.map((v) => v.version), [2, 1]);
  const first = await step('get version', () => client.workflows.getVersion(versions[1].id));
  assert.deepEqual(first.definition, definition('v1'));
  const clone = await step('clone workflow', () => client.workflows.cloneWorkflow(created.id, { name: `Clone ${suffix}` }));
  assert.equal(clone.status, 'draft');
  await step('delete clone', () => client.workflows.deleteWorkflow(clone.id));

  // Every workflow event of the execution, subscribed before it starts.
  const events = [];
  const execution = await step('create execution', () => client.workflows.createExecution(created.id, { projectId: project.id, metadata: { workflowVersion: 1, triggeredBy: 'manual' } }));
  assert.equal(execution.status, 'pending');
  const finished = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no completion; got ${JSON.stringify(events.map((e) => e.type))}`)), 60000);
    timer.unref();
    step('subscribe to workflow', () => client.subscribeToWorkflow(project.id, (event) => events.push(event), created.id, execution.executionId, resolve, (event) => reject(new Error(`failed: ${event.error}`))));
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await step('start execution', () => client.workflows.startExecution(execution.executionId));
  await step('receive workflow_execution_completed', () => finished);
  const done = await step('get execution', () => client.workflows.getExecution(execution.executionId));
  const stepExecution = await step('get step execution', () => client.workflows.getStepExecution(execution.executionId, 'test'));
  const forWorkflow = await step('list executions of the workflow', () => client.workflows.listExecutions(created.id));

  const second = await step('create second execution', () => client.workflows.createExecution(created.id, { projectId: project.id }));
  await step('start second execution', () => client.workflows.startExecution(second.executionId));
  const paused = await step('pause second execution', () => client.workflows.pauseExecution(second.executionId));
  const resumed = await step('resume second execution', () => client.workflows.resumeExecution(second.executionId));
  const cancelled = await step('cancel second execution', () => client.workflows.cancelExecution(second.executionId));
  const afterCancel = await step('get cancelled execution', () => waitForExecution(client, second.executionId, ['cancelled']));

  client.getProgress().disconnectAll();
  client.getAuthManager().logout();
  console.log(JSON.stringify({
    projectId: project.id,
    workflowId: created.id,
    executionId: execution.executionId,
    eventTypes: events.map((e) => [e.type, e.phaseId ?? null]),
    done,
    stepExecution,
    forWorkflow: forWorkflow.map((e) => e.id),
    transitions: [paused.status, resumed.status, cancelled.status, afterCancel.status],
  }));
}

main().catch((error) => {
  console.error(`step "${currentStep}" failed: ${error?.stack || error}`);
  process.exit(1);
});
