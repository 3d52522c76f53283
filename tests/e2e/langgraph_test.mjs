// The official @langchain/langgraph-sdk client (pinned in package.json) against kiln serve's
// LangGraph-compatible API: threads, runs (wait, stream, background + join), interrupts and resume with
// command.resume (approve, edit, reject, feedback), history, fork, concurrent resumes, API keys.
// The server runs the coding workflow with the scripted model testdata/workflow/langgraph_script.txt.
// Run by tests/e2e/run.sh (ctest kiln_server_e2e_langgraph).
import assert from "node:assert/strict";
import { Client } from "@langchain/langgraph-sdk";

const apiUrl = process.env.E2B_API_URL;
const apiKey = process.env.E2B_API_KEY;
const client = new Client({ apiUrl, apiKey });
const task = { task: "Write add(a, b) and print add(2, 3)", review: "before-run" };

async function step(name, fn) {
  const start = Date.now();
  await fn();
  console.log(`ok ${name} (${Date.now() - start} ms)`);
}

async function interruptedThread() {
  const thread = await client.threads.create({ metadata: { suite: "langgraph" } });
  const values = await client.runs.wait(thread.thread_id, "coding", { input: task });
  assert.ok(values.__interrupt__, "the first run stops at the before-run review");
  return { thread, values };
}

await step("auth: a wrong key and no key are refused", async () => {
  for (const key of ["wrong-key", undefined]) {
    const bad = new Client({ apiUrl, apiKey: key, defaultHeaders: key ? {} : { "x-api-key": null } });
    await assert.rejects(bad.threads.create(), (e) => e.status === 401);
  }
});

await step("assistants: one, coding", async () => {
  const assistants = await client.assistants.search();
  assert.deepEqual(assistants.map((a) => a.assistant_id), ["coding"]);
  assert.equal((await client.assistants.get("coding")).graph_id, "coding");
});

let approved;
await step("approve: interrupt surfaced, resume with command.resume, result", async () => {
  const { thread, values } = await interruptedThread();
  const question = values.__interrupt__[0].value;
  assert.equal(question.at, "before-run");
  assert.match(question.code, /def add/);
  assert.equal(values.outcome, "", "nothing ran yet");

  const state = await client.threads.getState(thread.thread_id);
  assert.deepEqual(state.next, ["review"]);
  assert.equal(state.tasks[0].interrupts[0].value.at, "before-run");
  assert.equal((await client.threads.get(thread.thread_id)).status, "interrupted");

  const done = await client.runs.wait(thread.thread_id, "coding", { command: { resume: { action: "approve" } } });
  assert.equal(done.__interrupt__, undefined);
  assert.equal(done.outcome, "solved");
  assert.match(done.run.execution.stdout, /^5/);
  assert.equal(done.reviews[0].action, "approve");
  assert.equal((await client.threads.get(thread.thread_id)).status, "idle");
  approved = thread.thread_id;
});

await step("edit: the reviewer's code runs (streamed values and updates)", async () => {
  const thread = await client.threads.create();
  let events = [];
  for await (const part of client.runs.stream(thread.thread_id, "coding", { input: task, streamMode: ["values", "updates"] }))
    events.push(part);
  assert.equal(events[0].event, "metadata");
  assert.ok(events.some((e) => e.event === "updates" && e.data.generate), "an update from generate");
  const last = events.filter((e) => e.event === "values").at(-1).data;
  assert.equal(last.__interrupt__[0].value.at, "before-run");

  events = [];
  const edit = { action: "edit", code: "print('edited by a human')" };
  for await (const part of client.runs.stream(thread.thread_id, "coding", { command: { resume: edit }, streamMode: "values" }))
    events.push(part);
  const final = events.filter((e) => e.event === "values").at(-1).data;
  assert.equal(final.outcome, "solved");
  assert.equal(final.candidate.author, "reviewer");
  assert.match(final.run.execution.stdout, /edited by a human/);
});

await step("reject: the thread ends rejected with the reason", async () => {
  const { thread } = await interruptedThread();
  const done = await client.runs.wait(thread.thread_id, "coding", {
    command: { resume: { action: "reject", reason: "not today" } },
  });
  assert.equal(done.outcome, "rejected");
  assert.equal(done.reason, "not today");
  assert.equal(done.run.execution, undefined, "nothing ran");
});

await step("feedback: the text goes to the model, the next attempt is asked about", async () => {
  const { thread } = await interruptedThread();
  const again = await client.runs.wait(thread.thread_id, "coding", {
    command: { resume: { action: "feedback", text: "print a label too" } },
  });
  assert.match(again.__interrupt__[0].value.code, /sum:/);
  assert.ok(again.messages.some((m) => JSON.stringify(m).includes("print a label too")));
});

await step("bad resume answers get a clear 400", async () => {
  const { thread } = await interruptedThread();
  await assert.rejects(
    client.runs.wait(thread.thread_id, "coding", { command: { resume: { action: "maybe" } } }),
    (e) => e.status === 400 && /maybe/.test(e.message),
  );
  await assert.rejects(client.runs.wait(thread.thread_id, "nobody", { input: task }), (e) => e.status === 404);
});

await step("history, newest first, with parent links; fork from the review checkpoint", async () => {
  const history = await client.threads.getHistory(approved, { limit: 100 });
  assert.ok(history.length >= 5, `history has ${history.length} checkpoints`);
  for (let i = 0; i + 1 < history.length; i++)
    assert.equal(history[i].parent_checkpoint.checkpoint_id, history[i + 1].checkpoint.checkpoint_id);
  assert.equal(history.at(-1).parent_checkpoint, null);
  const review = history.find((s) => s.interrupts.length > 0);
  assert.ok(review, "the review checkpoint is in history");

  const older = await client.threads.getState(approved, review.checkpoint.checkpoint_id);
  assert.equal(older.values.outcome, "");

  const forked = await client.threads.updateState(approved, { values: {}, checkpointId: review.checkpoint.checkpoint_id });
  assert.ok(Number(forked.checkpoint.checkpoint_id) > Number(history[0].checkpoint.checkpoint_id));
  assert.equal((await client.threads.get(approved)).status, "interrupted", "the fork asks again");
  const done = await client.runs.wait(approved, "coding", {
    command: { resume: { action: "reject", reason: "other branch" } },
  });
  assert.equal(done.outcome, "rejected");
  const after = await client.threads.getHistory(approved, { limit: 100 });
  assert.ok(after.some((s) => s.values.outcome === "solved"), "the first branch stays in history");
});

await step("two concurrent resumes: one wins, the other gets 409", async () => {
  const { thread } = await interruptedThread();
  const answer = { command: { resume: { action: "approve" } } };
  const results = await Promise.allSettled([
    client.runs.wait(thread.thread_id, "coding", answer),
    client.runs.wait(thread.thread_id, "coding", answer),
  ]);
  const won = results.filter((r) => r.status === "fulfilled");
  const lost = results.filter((r) => r.status === "rejected");
  assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.reason?.message)));
  assert.equal(won[0].value.outcome, "solved");
  assert.equal(lost[0].reason.status, 409);
  assert.match(lost[0].reason.message, /conflict/);
});

await step("background run, then join; runs list; search", async () => {
  const thread = await client.threads.create({ metadata: { kind: "background" } });
  const run = await client.runs.create(thread.thread_id, "coding", { input: task });
  assert.ok(run.run_id);
  const values = await client.runs.join(thread.thread_id, run.run_id);
  assert.equal(values.__interrupt__[0].value.at, "before-run");
  assert.equal((await client.runs.get(thread.thread_id, run.run_id)).status, "interrupted");
  assert.equal((await client.runs.list(thread.thread_id)).length, 1);
  const found = await client.threads.search({ metadata: { kind: "background" } });
  assert.deepEqual(found.map((t) => t.thread_id), [thread.thread_id]);
  await client.threads.delete(thread.thread_id);
  await assert.rejects(client.threads.get(thread.thread_id), (e) => e.status === 404);
});

console.log("langgraph sdk: all passed");
