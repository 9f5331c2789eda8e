import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';

/** RECORD_HISTORIES=<release> keeps this run's history under fixtures/histories/<release>/<name>.json for the replay test. */
export async function recordHistory(name: string, handle: WorkflowHandle) {
  const release = process.env.RECORD_HISTORIES;
  if (!release) return;
  const history = await handle.fetchHistory();
  const folder = path.join(__dirname, '..', 'fixtures', 'histories', release);
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, `${name}.json`), JSON.stringify(history, null, 1));
}
