// Drives the published @aintandem/sdk-core context service (operations 69-88) against the live server:
// create, upsert, search, scope memories, similar, stats, import content, file sync and tracked files.
//
// Environment: BASE_URL, USERNAME, PASSWORD, SUFFIX, BASE_ROOT (to write the file that is synced).
// Prints one JSON line with what the server returned; exits non-zero naming the failed step otherwise.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AInTandemClient } from '@aintandem/sdk-core';
import { MemoryStorage, env } from './common.mjs';

let currentStep = 'start';
const step = async (name, action) => {
  currentStep = name;
  return action();
};

async function main() {
  const suffix = env('SUFFIX');
  const client = new AInTandemClient({ baseURL: env('BASE_URL'), storage: new MemoryStorage(), retryCount: 1 });
  await step('login', () => client.auth.login({ username: env('USERNAME'), password: env('PASSWORD') }));
  const org = await step('create organization', () => client.workspaces.createOrganization({ name: `SDK ${suffix}`, folderPath: `sdk-ctx-${suffix}` }));
  const ws = await step('create workspace', () => client.workspaces.createWorkspace(org.id, { name: 'W', folderPath: 'w' }));
  const project = await step('create project', () => client.workspaces.createProject(ws.id, { name: 'P', folderPath: 'p' }));
  const scope = { scope: 'project', scope_id: project.id };

  for (let i = 0; i < 600; i += 1) {
    const health = await step('context health', () => client.context.healthCheck());
    if (health.status === 'healthy') break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const cache = await step('create memory', () => client.context.createMemory({ ...scope, content: 'Redis caches the session tokens for one hour.', memory_type: 'architecture', tags: ['cache'] }));
  await step('create distractor', () => client.context.createMemory({ ...scope, content: 'The marketing site is built with Astro.' }));
  const shared = await step('create workspace memory', () => client.context.createMemory({ scope: 'workspace', scope_id: ws.id, content: 'All services deploy to Kubernetes.', visibility: 'workspace' }));
  const upserted = await step('upsert memory', () => client.context.upsertMemory({ ...scope, content: 'Postgres is the primary database.', memory_type: 'architecture' }));
  const again = await step('upsert the same memory', () => client.context.upsertMemory({ ...scope, content: 'Postgres is the primary database.', memory_type: 'architecture', tags: ['db'] }));
  assert.equal(again.id, upserted.id);

  const search = await step('search memories', () => client.context.searchMemories({ ...scope, query: 'where are login sessions cached?', limit: 2 }));
  assert.equal(search.results[0].id, cache.id);
  const inherited = await step('scope memories', () => client.context.getScopeMemories('project', project.id, { include_inherited: true, limit: 10 }));
  const own = await step('scope memories without inheritance', () => client.context.getScopeMemories('project', project.id, { tags: ['db'] }));
  const similar = await step('similar memories', () => client.context.getSimilarMemories(upserted.id, 2));
  const stats = await step('scope stats', () => client.context.getScopeStats('project', project.id));
  const overall = await step('stats', () => client.context.getStats());
  const info = await step('context info', () => client.context.getContextInfo());

  const imported = await step('import content', () => client.context.importDocumentContent({ ...scope, content: '# Runbook\n\nRestart the worker.\n\n# Alerts\n\nPage the on-call engineer.', file_path: 'runbook.md', chunk_content: true }));
  const folder = join(env('BASE_ROOT'), `sdk-ctx-${suffix}`, 'w', 'p', 'specs');
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'api.md'), '# API\n\nThe API is versioned under /v1.\n');
  const firstSync = await step('sync a new file', () => client.context.syncFile({ ...scope, file_path: 'specs/api.md' }));
  writeFileSync(join(folder, 'api.md'), '# API\n\nThe API is versioned under /v2.\n\n## Auth\n\nBearer tokens.\n');
  const secondSync = await step('sync the changed file', () => client.context.syncFile({ ...scope, file_path: 'specs/api.md' }));
  const tracked = await step('tracked files', () => client.context.getTrackedFiles('project', project.id));
  const syncStats = await step('sync stats', () => client.context.getSyncStats('project', project.id));
  await step('delete memory', () => client.context.deleteMemory(cache.id));
  const afterDelete = await step('search after delete', () => client.context.searchMemories({ ...scope, query: 'where are login sessions cached?', limit: 10 }));

  console.log(JSON.stringify({
    projectId: project.id, workspaceMemoryId: shared.id, cacheId: cache.id, upsertedId: upserted.id, again,
    search, inherited, own, similar, stats, overall, info, imported, firstSync, secondSync, tracked, syncStats,
    afterDelete,
  }));
  // Something the SDK leaves behind (a timer) would keep Node alive; the work is done.
  process.exit(0);
}

main().catch((error) => {
  console.error(`step "${currentStep}" failed:`, error);
  process.exit(1);
});
