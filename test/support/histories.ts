import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

/** RECORD_HISTORIES=<release> keeps this run's history under fixtures/histories/<release>/<name>.json for the replay test. */
export async function recordHistory(name: string, handle: WorkflowHandle) {
  const release = process.env.RECORD_HISTORIES;
  if (!release) return;
  const history = await handle.fetchHistory();
  const folder = path.join(__dirname, '..', 'fixtures', 'histories', release);
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, `${name}.json`), JSON.stringify(history, null, 1));
}

/** The local activities a run's history records, each a marker, by activity type, in order. */
export const localActivityTypes = (events: temporal.api.history.v1.IHistoryEvent[]): string[] =>
  events
    .filter((event) => event.markerRecordedEventAttributes?.markerName === 'core_local_activity')
    .map((event) => defaultPayloadConverter.fromPayload<{ activity_type: string }>(event.markerRecordedEventAttributes!.details!.data.payloads![0]).activity_type);
