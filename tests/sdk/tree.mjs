// Drives the published @aintandem/sdk-core client through the organization → workspace → project tree,
// settings and auth operations of a live orchestrator (contract §5 operations 1-18, 49-50, 91/95 and the
// SDK's hierarchy/path views).
//
// Environment: BASE_URL (e.g. http://127.0.0.1:PORT/api), USERNAME, PASSWORD, SUFFIX (unique per run).
// On success prints one JSON line to stdout with what the server returned, for the caller to check on disk.
// Exits non-zero with a message naming the failed step otherwise.

import assert from 'node:assert/strict';
import { AInTandemClient, ApiError } from '@aintandem/sdk-core';
import { MemoryStorage, env } from './common.mjs';

let currentStep = 'start';

async function step(name, action) {
  currentStep = name;
  return action();
}

/** Await `promise`, expect it to reject with the SDK's ApiError for a 404 carrying `code`. */
async function expectNotFound(promise, code, apiPath) {
  let error;
  try {
    const value = await promise;
    assert.fail(`expected a 404 ${code}, got a success: ${JSON.stringify(value)}`);
  } catch (caught) {
    if (caught instanceof assert.AssertionError) {
      throw caught;
    }
    error = caught;
  }
  assert.ok(error instanceof ApiError, `expected an ApiError, got ${error?.name}: ${error?.message}`);
  assert.equal(error.statusCode, 404, `statusCode of ${error.message}`);
  assert.equal(error.code, code, `code of ${error.message}`);
  assert.equal(typeof error.message, 'string');
  assert.ok(error.message.length > 0, 'error message is empty');
  // HttpClient.createError hands the standard error body's code/timestamp/path over in `details`.
  assert.equal(error.details?.code, code);
  assert.equal(typeof error.details?.timestamp, 'string', 'error body lacks timestamp');
  if (apiPath) {
    assert.equal(error.details?.path, apiPath, 'error body path (relative to /api)');
  }
  return error;
}

function ids(list) {
  assert.ok(Array.isArray(list), `expected a bare JSON array, got ${JSON.stringify(list)}`);
  return list.map((item) => item.id);
}

function assertTimestamps(entity, what) {
  for (const key of ['createdAt', 'updatedAt']) {
    assert.equal(typeof entity[key], 'string', `${what}.${key}`);
    assert.ok(!Number.isNaN(Date.parse(entity[key])), `${what}.${key} is not ISO-8601: ${entity[key]}`);
  }
}

async function main() {
  const baseURL = env('BASE_URL');
  const username = env('USERNAME');
  const password = env('PASSWORD');
  const suffix = env('SUFFIX');

  const storage = new MemoryStorage();
  const client = new AInTandemClient({ baseURL, storage, retryCount: 1, retryDelay: 50, timeout: 15000 });
  const result = {};

  try {
    // ---- auth (91, 95) ----------------------------------------------------------------------
    const login = await step('login', () => client.auth.login({ username, password }));
    assert.equal(login.success, true, `login success: ${JSON.stringify(login)}`);
    assert.equal(typeof login.token, 'string', 'login token');
    assert.equal(login.user?.username, username, 'login user.username');
    assert.equal(typeof login.user?.id, 'string', 'login user.id');
    assert.equal(storage.getToken(), login.token, 'the SDK stored the token');

    await step('decode token', () => {
      const parts = login.token.split('.');
      assert.equal(parts.length, 3, 'token has three parts');
      // Exactly what the SDK's AuthManager.parseToken does: plain atob, which refuses base64url '-' and '_'.
      let payload;
      try {
        payload = JSON.parse(atob(parts[1]));
      } catch (error) {
        assert.fail(`token payload does not decode with plain atob (${error.message}): ${parts[1]}`);
      }
      assert.equal(typeof payload.exp, 'number', `payload exp: ${JSON.stringify(payload)}`);
      assert.ok(payload.exp * 1000 > Date.now(), 'token already expired');
      assert.ok(client.auth.isAuthenticated(), 'the SDK does not consider itself authenticated');
      assert.equal(client.auth.getToken(), login.token, 'the SDK would not send its token');
    });

    assert.equal(await step('verify token', () => client.auth.verify()), true, 'auth.verify');

    // ---- organizations (1-5) ----------------------------------------------------------------
    const ws = client.workspaces;
    const org = await step('create organization', () =>
      ws.createOrganization({ name: `SDK Org ${suffix}`, folderPath: `sdk-org-${suffix}` }),
    );
    assert.equal(typeof org.id, 'string');
    assert.equal(org.name, `SDK Org ${suffix}`);
    assert.equal(org.folderPath, `sdk-org-${suffix}`);
    assertTimestamps(org, 'organization');
    result.originalOrganizationFolder = org.folderPath;

    const orgs = await step('list organizations', () => ws.listOrganizations());
    assert.ok(ids(orgs).includes(org.id), 'created organization is listed');

    const orgUpdated = await step('update organization', () =>
      ws.updateOrganization(org.id, { name: `SDK Org renamed ${suffix}`, folderPath: `sdk-org2-${suffix}` }),
    );
    assert.equal(orgUpdated.id, org.id);
    assert.equal(orgUpdated.name, `SDK Org renamed ${suffix}`);
    assert.equal(orgUpdated.folderPath, `sdk-org2-${suffix}`);
    const orgRead = await step('get organization', () => ws.getOrganization(org.id));
    assert.equal(orgRead.name, orgUpdated.name);
    assert.equal(orgRead.folderPath, orgUpdated.folderPath);
    result.organization = { id: org.id, folderPath: orgRead.folderPath };

    // ---- workspaces (6-10) ------------------------------------------------------------------
    const ws1 = await step('create workspace', () =>
      ws.createWorkspace(org.id, { name: `SDK Ws ${suffix}`, folderPath: `sdk-ws-${suffix}` }),
    );
    assert.equal(ws1.organizationId, org.id);
    assert.equal(ws1.name, `SDK Ws ${suffix}`);
    assert.equal(ws1.folderPath, `sdk-ws-${suffix}`);
    assertTimestamps(ws1, 'workspace');

    const wsList = await step('list workspaces', () => ws.listWorkspaces(org.id));
    assert.deepEqual(ids(wsList), [ws1.id], 'the organization lists exactly its one workspace');
    const wsRead = await step('get workspace', () => ws.getWorkspace(ws1.id));
    assert.equal(wsRead.id, ws1.id);
    assert.equal(wsRead.organizationId, org.id);

    const ws1Updated = await step('update workspace', () =>
      ws.updateWorkspace(ws1.id, { name: `SDK Ws renamed ${suffix}`, folderPath: `sdk-ws1-${suffix}` }),
    );
    assert.equal(ws1Updated.id, ws1.id);
    assert.equal(ws1Updated.name, `SDK Ws renamed ${suffix}`);
    assert.equal(ws1Updated.folderPath, `sdk-ws1-${suffix}`);
    assert.equal(ws1Updated.organizationId, org.id);

    // ---- projects (12-16) -------------------------------------------------------------------
    const moving = await step('create project', () =>
      ws.createProject(ws1.id, { name: `SDK Proj ${suffix}`, folderPath: `sdk-proj-${suffix}` }),
    );
    assert.equal(moving.workspaceId, ws1.id);
    assert.equal(moving.name, `SDK Proj ${suffix}`);
    assert.equal(moving.folderPath, `sdk-proj-${suffix}`);
    assert.equal(moving.workflowId ?? null, null, 'a new project has no workflow');
    assertTimestamps(moving, 'project');

    const aiConfig = {
      aiWindows: [{ type: 'claude', apiKey: `key-${suffix}`, model: 'claude-sonnet-4', baseUrl: '' }],
    };
    const doomed = await step('create project with aiConfig', () =>
      ws.createProject(ws1.id, { name: `SDK AI Proj ${suffix}`, folderPath: `sdk-ai-${suffix}`, aiConfig }),
    );
    assert.equal(doomed.workspaceId, ws1.id);
    assert.ok(doomed.aiConfig, `aiConfig returned: ${JSON.stringify(doomed)}`);
    assert.equal(doomed.aiConfig.aiWindows?.length, 1, 'one AI window');
    assert.equal(doomed.aiConfig.aiWindows[0].type, 'claude');
    assert.equal(doomed.aiConfig.aiWindows[0].model, 'claude-sonnet-4');

    const projList = await step('list projects', () => ws.listProjects(ws1.id));
    assert.deepEqual(new Set(ids(projList)), new Set([moving.id, doomed.id]), 'workspace lists both projects');

    const doomedRead = await step('get project', () => ws.getProject(doomed.id));
    assert.equal(doomedRead.id, doomed.id);
    assert.deepEqual(doomedRead.aiConfig?.aiWindows?.map((w) => w.type), ['claude'], 'aiConfig persisted');

    const workflowId = '00000000-0000-4000-8000-000000000001'; // the built-in template: everyone sees it
    const bound = await step('update project (name, workflowId)', () =>
      ws.updateProject(moving.id, { name: `SDK Proj renamed ${suffix}`, workflowId }),
    );
    assert.equal(bound.id, moving.id);
    assert.equal(bound.name, `SDK Proj renamed ${suffix}`);
    assert.equal(bound.workflowId, workflowId);
    assert.equal(bound.folderPath, moving.folderPath, 'renaming keeps the folder');

    const unbound = await step('update project (workflowId null)', () =>
      ws.updateProject(moving.id, { workflowId: null }),
    );
    assert.equal(unbound.workflowId ?? null, null, 'workflowId null unbinds');
    assert.equal(unbound.workflowVersionId ?? null, null, 'unbinding clears the pinned version');
    assert.equal(unbound.name, `SDK Proj renamed ${suffix}`, 'a partial update keeps the name');
    const unboundRead = await step('get project after unbinding', () => ws.getProject(moving.id));
    assert.equal(unboundRead.workflowId ?? null, null);

    // ---- move (18) --------------------------------------------------------------------------
    const ws2 = await step('create second workspace', () =>
      ws.createWorkspace(org.id, { name: `SDK Ws2 ${suffix}`, folderPath: `sdk-ws2-${suffix}` }),
    );
    assert.equal(ws2.organizationId, org.id);

    const moved = await step('move project', () => ws.moveProject(moving.id, { newWorkspaceId: ws2.id }));
    assert.equal(moved.id, moving.id);
    assert.equal(moved.workspaceId, ws2.id, 'moved project reports its new workspace');
    assert.equal(moved.folderPath, moving.folderPath, 'moving keeps the folder name');
    assert.deepEqual(ids(await ws.listProjects(ws2.id)), [moving.id], 'second workspace lists the moved project');
    assert.deepEqual(ids(await ws.listProjects(ws1.id)), [doomed.id], 'first workspace no longer lists it');

    // ---- hierarchy views (SDK, contract §6) -------------------------------------------------
    const tree = await step('get hierarchy', () => ws.getHierarchy(org.id));
    assert.equal(tree.organization?.id, org.id);
    assert.equal(tree.organization.folderPath, orgRead.folderPath);
    assert.ok(Array.isArray(tree.workspaces), 'hierarchy.workspaces is a list');
    const byWs = new Map(tree.workspaces.map((entry) => [entry.workspace.id, ids(entry.projects)]));
    assert.deepEqual(new Set(byWs.keys()), new Set([ws1.id, ws2.id]), 'hierarchy lists both workspaces');
    assert.deepEqual(byWs.get(ws1.id), [doomed.id]);
    assert.deepEqual(byWs.get(ws2.id), [moving.id]);

    const path = await step('get project path', () => ws.getProjectPath(moving.id));
    assert.equal(path.organization?.id, org.id);
    assert.equal(path.workspace?.id, ws2.id);
    assert.equal(path.project?.id, moving.id);
    assert.equal(path.project.workspaceId, ws2.id);
    result.movedProject = {
      id: moved.id,
      folderPath: moved.folderPath,
      workspaceId: moved.workspaceId,
      originalWorkspaceId: ws1.id,
    };
    result.workspaces = [
      { id: ws1.id, folderPath: ws1Updated.folderPath, originalFolderPath: ws1.folderPath },
      { id: ws2.id, folderPath: path.workspace.folderPath },
    ];

    // ---- settings (49-50) -------------------------------------------------------------------
    const before = await step('get settings', () => client.settings.getSettings());
    assert.equal(typeof before, 'object');
    assert.equal(before.userId, login.user.id, 'settings.userId');
    const wanted = {
      gitDisplayName: `SDK User ${suffix}`,
      gitEmail: `sdk-${suffix}@example.com`,
      dockerImage: 'ainkai/flexy:latest',
    };
    const written = await step('update settings', () => client.settings.updateSettings(wanted));
    for (const [key, value] of Object.entries(wanted)) {
      assert.equal(written[key], value, `updateSettings returned ${key}`);
    }
    const after = await step('read settings back', () => client.settings.getSettings());
    for (const [key, value] of Object.entries(wanted)) {
      assert.equal(after[key], value, `getSettings returned ${key}`);
    }
    result.settings = { userId: after.userId, ...wanted };

    // ---- errors and deletes (17, 11, 5) -----------------------------------------------------
    const unknownId = '00000000-0000-4000-8000-000000000000';
    await step('get unknown project', () =>
      expectNotFound(ws.getProject(unknownId), 'PROJECT_NOT_FOUND', `/projects/${unknownId}`),
    );

    const deleted = await step('delete project with folder', () => ws.deleteProject(doomed.id, true));
    assert.equal(deleted, undefined, 'DELETE answers 204 without a body');
    await step('get deleted project', () =>
      expectNotFound(ws.getProject(doomed.id), 'PROJECT_NOT_FOUND', `/projects/${doomed.id}`),
    );
    assert.deepEqual(ids(await ws.listProjects(ws1.id)), [], 'the deleted project is no longer listed');
    result.deletedProject = { id: doomed.id, folderPath: doomed.folderPath, workspaceId: ws1.id };

    await step('delete workspace', () => ws.deleteWorkspace(ws1.id));
    await step('get deleted workspace', () =>
      expectNotFound(ws.getWorkspace(ws1.id), 'WORKSPACE_NOT_FOUND', `/workspaces/${ws1.id}`),
    );
    assert.deepEqual(ids(await ws.listWorkspaces(org.id)), [ws2.id], 'only the second workspace is left');

    await step('delete organization', () => ws.deleteOrganization(org.id));
    await step('get deleted organization', () =>
      expectNotFound(ws.getOrganization(org.id), 'ORGANIZATION_NOT_FOUND', `/organizations/${org.id}`),
    );
    await step('list organizations after delete', async () => {
      assert.ok(!ids(await ws.listOrganizations()).includes(org.id), 'deleted organization is still listed');
    });
    await step('get workspace of deleted organization', () =>
      expectNotFound(ws.getWorkspace(ws2.id), 'WORKSPACE_NOT_FOUND'),
    );
    await step('get project of deleted organization', () =>
      expectNotFound(ws.getProject(moving.id), 'PROJECT_NOT_FOUND'),
    );
  } finally {
    // Drops the tokens and the SDK's auto-refresh timer, which would otherwise keep Node alive.
    client.auth.logout();
  }
  return result;
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  },
  (error) => {
    const detail = error?.details ? ` details=${JSON.stringify(error.details)}` : '';
    const status = error?.statusCode !== undefined ? ` statusCode=${error.statusCode}` : '';
    process.stderr.write(
      `tree.mjs failed at step "${currentStep}": ${error?.name}: ${error?.message}${status}${detail}\n` +
        `${error?.stack ?? ''}\n`,
    );
    process.exitCode = 1;
  },
);
