// One live-progress scenario, run by every GraphQL client under test (graphql-ws and graphql-sse under
// Node, urql in a browser): follow a project and a task, queue a bash task through a mutation, drop the
// connection in the middle of the task's output, reconnect and resume each stream with `after`.
//
// A transport is { open() -> connection }, a connection { subscribe(query, variables) -> async iterator
// of results, request(query, variables) -> data, close() }. The report lists every event each stream
// saw, in order, for the test to compare with the event log.

export const PROJECT_EVENTS = `subscription ProjectEvents($projectId: ID!, $after: EventId) {
  projectEvents(projectId: $projectId, after: $after) {
    __typename
    ... on Event { id type }
    ... on TaskEvent { task { id } }
    ... on TaskOutput { text }
  }
}`;

export const TASK_EVENTS = `subscription TaskEvents($taskId: ID!, $after: EventId) {
  taskEvents(taskId: $taskId, after: $after) {
    __typename
    ... on Event { id type }
    ... on TaskOutput { text }
  }
}`;

export const EXECUTE = `mutation Run($input: ExecuteAdhocTaskInput!) {
  executeAdhocTask(input: $input) { task { id databaseId status } userErrors { code message } }
}`;

function shape(event) {
  return { id: event.id, type: event.type, typename: event.__typename, text: event.text, task: event.task && event.task.id };
}

function ended(event, taskId) {
  return ["TASK_COMPLETED", "TASK_FAILED", "TASK_CANCELLED"].includes(event.type) && (!taskId || event.task === taskId);
}

// Events of one stream into `into` until `stop` says so. Once its connection is being closed on purpose,
// the stream ending with an error is expected; before that, any error fails the scenario.
async function collect(connection, iterator, field, into, stop) {
  try {
    for await (const result of iterator) {
      if (result.errors) throw new Error(JSON.stringify(result.errors));
      const event = shape(result.data[field]);
      into.push(event);
      if (stop(event, into)) break;
    }
  } catch (error) {
    if (!connection.closing) throw error;
  }
}

function closing(connection) {
  connection.closing = true;
  return connection.close();
}

export async function runScenario(transport, projectId, script, outputsBeforeDrop = 5) {
  const first = transport.open();
  const projectSeen = [];
  // From the start of the project's log: the task's events cannot slip past before the stream is up.
  const followingProject = collect(first, first.subscribe(PROJECT_EVENTS, { projectId, after: "0" }), "projectEvents", projectSeen, () => false);
  const queued = await first.request(EXECUTE, {
    input: { projectId, title: "count to forty", prompt: script, taskType: "BASH" },
  });
  if (queued.executeAdhocTask.userErrors.length) throw new Error(JSON.stringify(queued.executeAdhocTask.userErrors));
  const task = queued.executeAdhocTask.task;
  const taskSeen = [];
  await collect(first, first.subscribe(TASK_EVENTS, { taskId: task.id, after: "0" }), "taskEvents", taskSeen,
    (_event, seen) => seen.filter((e) => e.type === "OUTPUT").length >= outputsBeforeDrop);
  const droppedAt = taskSeen.length;
  await closing(first); // the connection goes in the middle of the task's output
  await followingProject;
  const projectDroppedAt = projectSeen.length;

  const second = transport.open();
  const lastTaskId = taskSeen[taskSeen.length - 1].id;
  const lastProjectId = projectSeen.length ? projectSeen[projectSeen.length - 1].id : "0";
  const resumedProject = collect(second, second.subscribe(PROJECT_EVENTS, { projectId, after: lastProjectId }), "projectEvents", projectSeen,
    (event) => ended(event, task.id));
  await collect(second, second.subscribe(TASK_EVENTS, { taskId: task.id, after: lastTaskId }), "taskEvents", taskSeen, (event) => ended(event));
  await resumedProject;
  await closing(second);
  return { taskId: task.id, databaseId: task.databaseId, droppedAt, projectDroppedAt, task: taskSeen, project: projectSeen };
}
