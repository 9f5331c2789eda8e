import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';

const HISTORIES_DIR = path.join(__dirname, 'fixtures', 'histories');

/** Every release's recorded journeys, named <release>/<journey>. */
function recordedHistories() {
  return readdirSync(HISTORIES_DIR, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({ workflowId: file.replace(/\.json$/, ''), history: temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8'))) }));
}

const JOURNEYS = ['direct-referral', 'duplicate-click', 'expired', 'happy-path', 'out-of-order-steps'];
const RELEASES = ['fewer-server-writes', 'remote-activities'];

async function replayAll(workflowsPath: string) {
  const outcomes: Array<{ workflowId: string; error?: unknown }> = [];
  for await (const result of Worker.runReplayHistories({ workflowsPath }, recordedHistories())) {
    outcomes.push({ workflowId: result.workflowId, error: result.error });
  }
  return outcomes;
}

test('the recorded journeys replay against the current workflow code', async () => {
  const outcomes = await replayAll(require.resolve('../src/workflows'));
  expect(outcomes.map((outcome) => outcome.workflowId)).toEqual(RELEASES.flatMap((release) => JOURNEYS.map((journey) => `${release}/${journey}`)));
  expect(outcomes.filter((outcome) => outcome.error)).toEqual([]);
});

test('an unguarded change to the workflow fails the replay', async () => {
  const outcomes = await replayAll(require.resolve('./fixtures/altered-workflow'));
  expect(outcomes).toHaveLength(RELEASES.length * JOURNEYS.length);
  for (const outcome of outcomes) expect(outcome.error).toBeInstanceOf(DeterminismViolationError);
});
