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

/**
 * Each release's recorded journeys. `intake` is the clean baseline of the redesign (no deployment ran an earlier one);
 * a change to running workflows from here on goes behind patched() and adds its release's histories beside these.
 */
const RECORDED: Record<string, string[]> = {
  intake: ['approved-before-account', 'approved-behind', 'cancelled-behind', 'direct-referral', 'duplicate-click', 'expired', 'happy-path', 'history-behind', 'out-of-order-steps', 'stage-behind'],
  'waking-is-not-a-deadline': ['account-at-window-end', 'approved-before-account'],
  'deadline-rechecked': ['account-at-window-end'],
  // The intake's messages for a referral in one signal.
  'taken-signal': ['duplicate-click', 'happy-path'],
  // A referral's first message starts its run with nothing to load.
  'fresh-start': ['duplicate-click', 'expired', 'happy-path'],
  // A confirmation carries the referral's messages still in the intake, ahead of it.
  'carried-confirmation': ['carried-confirmation'],
  // A confirmation claims the mentor's badge awards in its own local activity; a run it starts with the referral's
  // first click loads nothing.
  'badges-with-confirmation': ['carried-confirmation', 'happy-path'],
};
const RECORDED_IDS = Object.entries(RECORDED).flatMap(([release, journeys]) => journeys.map((journey) => `${release}/${journey}`)).sort();

async function replayAll(workflowsPath: string) {
  const outcomes: Array<{ workflowId: string; error?: unknown }> = [];
  for await (const result of Worker.runReplayHistories({ workflowsPath }, recordedHistories())) {
    outcomes.push({ workflowId: result.workflowId, error: result.error });
  }
  return outcomes;
}

test('the recorded journeys replay against the current workflow code', async () => {
  const outcomes = await replayAll(require.resolve('../src/workflows'));
  expect(outcomes.map((outcome) => outcome.workflowId)).toEqual(RECORDED_IDS);
  expect(outcomes.filter((outcome) => outcome.error)).toEqual([]);
});

test('an unguarded change to the workflow fails the replay', async () => {
  const outcomes = await replayAll(require.resolve('./fixtures/altered-workflow'));
  expect(outcomes).toHaveLength(RECORDED_IDS.length);
  for (const outcome of outcomes) expect(outcome.error).toBeInstanceOf(DeterminismViolationError);
});
