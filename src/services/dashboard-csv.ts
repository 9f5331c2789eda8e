import type { recruitmentDashboard } from '../db/reads';
import { spreadsheetCsv, type Cell } from './csv';

type Dashboard = Awaited<ReturnType<typeof recruitmentDashboard>>;

/**
 * What the dashboard shows for a period as CSV, one figure per line (section, item, measure, value), so a
 * spreadsheet's pivot table regroups it as it likes.
 */
export function dashboardCsv(dashboard: Dashboard): string {
  const rows: Cell[][] = [['section', 'item', 'measure', 'value']];
  const add = (section: string, item: string | null, figures: Record<string, number | string | null>) => {
    for (const [measure, value] of Object.entries(figures)) rows.push([section, item, measure, value]);
  };
  add('period', null, { from: dashboard.from, to: dashboard.to, granularity: dashboard.granularity });
  for (const [stage, referrals] of Object.entries(dashboard.funnel)) add('funnel', stage, { referrals });
  add('time_to_convert', null, { median_seconds: dashboard.medianTimeToConvertSeconds });
  for (const bucket of dashboard.timeToConvert) {
    add('time_to_convert', `${bucket.fromSeconds}-${bucket.toSeconds ?? ''}`, { confirmed: bucket.confirmed });
  }
  for (const period of dashboard.timeSeries) {
    add('trend', period.periodStart, { clicks: period.clicks, accounts_created: period.accountsCreated, confirmed: period.confirmed });
  }
  for (const mentor of dashboard.topMentors) {
    add('mentor', mentor.displayName ?? mentor.mentorId, { confirmed: mentor.confirmedAttributions, referrals: mentor.referrals, conversion_rate: mentor.conversionRate });
  }
  for (const channel of dashboard.channels) {
    add('channel', channel.channel, { clicks: channel.clicks, confirmed: channel.confirmedAttributions, conversion_rate: channel.conversionRate });
  }
  for (const campaign of dashboard.campaigns) {
    add('campaign', campaign.campaign ?? '(none)', { referrals: campaign.referrals, confirmed: campaign.confirmedAttributions, conversion_rate: campaign.conversionRate });
  }
  add('attention', null, { needs_review: dashboard.needsReview.length, stuck: dashboard.stuck.length });
  return spreadsheetCsv(rows);
}
