'use strict';
// The dashboard reads the API and shows its figures as they are: it computes none of its own.
(() => {
  const byId = (id) => document.getElementById(id);
  const view = byId('view');
  const say = (text) => {
    byId('status').textContent = text;
  };

  /** An element with attributes and children; text is always set as text, never parsed as HTML. */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? '')));
    return node;
  }

  /**
   * A row's or a form's action, one at a time: its buttons wait, disabled, for its answer, so a double click sends one
   * request and not a second that the service refuses.
   */
  function oneAtATime(action) {
    return async (event) => {
      const buttons = [...(event.currentTarget.closest('tr, form') ?? event.currentTarget.parentElement).querySelectorAll('button')];
      for (const button of buttons) button.disabled = true;
      try {
        await action();
      } finally {
        for (const button of buttons) button.disabled = false;
      }
    };
  }

  /** A form that makes something, sent one at a time: a double tap on its button makes one. */
  function onSubmitOnce(form, action) {
    const send = oneAtATime(action);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void send(event);
    });
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, { contentType = 'application/json', ...init } = {}) {
    const response = await fetch(path, {
      credentials: 'same-origin',
      ...init,
      headers: { accept: 'application/json', ...(init.body ? { 'content-type': contentType } : {}) },
    });
    const body = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const [first] = Array.isArray(body?.error?.details) ? body.error.details : [];
      const message = body?.error?.message ?? `The service answered ${response.status}`;
      throw new ApiError(response.status, first ? `${message}: ${[...first.path, ''].join(' ')}${first.message}` : message);
    }
    return body;
  }

  const number = new Intl.NumberFormat(undefined);
  const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const day = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    const units = [
      ['day', 86400],
      ['hour', 3600],
      ['minute', 60],
    ];
    for (const [unit, size] of units) {
      if (seconds >= size) {
        const count = Math.round(seconds / size);
        return `${count} ${unit}${count === 1 ? '' : 's'}`;
      }
    }
    return `${Math.round(seconds)} seconds`;
  }

  const STAGE_NAMES = { clicked: 'Clicked', installed: 'Installed', account_created: 'Account created', first_login: 'First login', confirmed: 'Confirmed' };
  /** A referral's status as a mentor or coordinator would say it (the API's values are the contract's words). */
  const STATUS_NAMES = {
    pending: 'Not yet confirmed',
    flagged: 'Held for review',
    confirmed: 'Confirmed',
    expired: 'Expired',
    superseded: 'Credited to another mentor',
    reversed: 'Membership cancelled',
    rejected: 'Rejected',
  };
  const COLOURS = ['#0b57d0', '#b3261e', '#146c2e', '#7d5260', '#8a5a00'];

  /**
   * A table; on a phone each row becomes a small card of "heading: value" lines (the roles keep it a table for
   * screen readers when CSS changes how it is laid out).
   */
  function table(caption, headings, rows, options = {}) {
    const numeric = (index) => (index > 0 && options.numeric !== false ? 'num' : undefined);
    return el(
      'table',
      { role: 'table', id: options.id },
      el('caption', {}, caption),
      el('thead', { role: 'rowgroup' }, el('tr', { role: 'row' }, headings.map((heading, index) => el('th', { scope: 'col', role: 'columnheader', class: numeric(index) }, heading)))),
      el(
        'tbody',
        { role: 'rowgroup' },
        rows.length === 0
          ? el('tr', { role: 'row' }, el('td', { role: 'cell', colspan: headings.length, class: 'empty' }, options.empty ?? 'None in this period.'))
          : rows.map((cells) =>
              el(
                'tr',
                { role: 'row' },
                cells.map((cell, index) =>
                  index === 0
                    ? el('th', { scope: 'row', role: 'rowheader' }, cell)
                    : el('td', { role: 'cell', class: numeric(index), 'data-label': headings[index] }, cell),
                ),
              ),
            ),
      ),
    );
  }

  const ROWS_AT_A_TIME = 20;

  /** After "Show more", whose button is redrawn or gone: the keyboard goes on from the first row it added. */
  function focusRow(holder, index) {
    const row = holder.querySelectorAll('tbody tr')[index];
    if (!row) return;
    row.tabIndex = -1;
    row.focus();
  }

  /** A table of many rows, twenty at a time: "Show more" shows the next twenty below those shown. */
  function pagedTable(caption, headings, rows, options = {}) {
    const holder = el('div', {});
    const show = (count) => {
      const hidden = rows.length - count;
      const showMore = () => {
        show(count + ROWS_AT_A_TIME);
        focusRow(holder, count);
      };
      const more = hidden > 0 ? el('button', { type: 'button', class: 'secondary', onclick: showMore }, `Show more (${hidden} not shown)`) : '';
      holder.replaceChildren(table(caption, headings, rows.slice(0, count), options), more);
    };
    show(ROWS_AT_A_TIME);
    return holder;
  }

  const FLAG_REASONS = {
    click_burst: 'A burst of clicks on one link',
    many_accounts_from_one_device_or_ip: 'Many accounts from one device or network',
  };

  /** A chart with its figures said in words (aria-label) and shown as a table beside it. */
  function chart(title, description, config, dataTable) {
    const canvas = el('canvas', { role: 'img', 'aria-label': `${title}: ${description}` });
    const figure = el('figure', { class: 'chart' }, el('div', { class: 'canvas' }, canvas), el('figcaption', {}, description));
    const section = el('section', { 'aria-label': title }, el('h3', {}, title), figure, el('details', {}, el('summary', {}, `${title} as a table`), dataTable));
    if (window.Chart) {
      queueMicrotask(() => new window.Chart(canvas, { ...config, options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options } }));
    } else {
      figure.hidden = true;
      section.querySelector('details').open = true;
    }
    return section;
  }

  function figures(items) {
    return el(
      'dl',
      { class: 'figures' },
      items.map(([label, value, id]) => el('div', {}, el('dt', {}, label), el('dd', { 'data-figure': id }, value))),
    );
  }

  function periodForm(current, onChange) {
    const input = (name, label, value) =>
      el('label', {}, label, el('input', { type: 'date', name, value, required: true }));
    const toDay = new Date(Date.parse(current.to) - 1).toISOString().slice(0, 10);
    const form = el(
      'form',
      { class: 'period', 'aria-label': 'Period' },
      input('from', 'From', current.from.slice(0, 10)),
      input('to', 'To (inclusive)', toDay),
      el(
        'label',
        {},
        'Group by',
        el(
          'select',
          { name: 'granularity' },
          ['day', 'week', 'month'].map((value) => el('option', { value, selected: value === current.granularity }, value)),
        ),
      ),
      el('button', { type: 'submit' }, 'Show'),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const data = new FormData(form);
      onChange({ from: data.get('from'), to: data.get('to'), granularity: data.get('granularity') });
    });
    return form;
  }

  function copyButton(url, label) {
    return el(
      'button',
      {
        type: 'button',
        onclick: async (event) => {
          try {
            await navigator.clipboard.writeText(url);
            say(`Copied ${url}`);
          } catch {
            // no clipboard permission (an insecure origin, say): select the link so it can be copied by hand
            say(`Copy this link: ${url}`);
          }
          event.currentTarget.focus();
        },
      },
      label,
    );
  }

  /** The link with the channel it is shared on, so its clicks count under that channel. */
  function onChannel(url, channel) {
    const shared = new URL(url);
    shared.searchParams.set('ch', channel);
    return shared.toString();
  }

  /** Share buttons: WhatsApp, SMS and email open with the invitation written; each link carries its channel. */
  function shareLinks(code, orgName) {
    const message = (channel) => `Join ${orgName ?? 'us'}: here is my invitation ${onChannel(code.url, channel)}`;
    return el(
      'span',
      { class: 'share' },
      el('a', { href: `https://wa.me/?text=${encodeURIComponent(message('whatsapp'))}`, target: '_blank', rel: 'noopener' }, 'WhatsApp'),
      el('a', { href: `sms:?&body=${encodeURIComponent(message('sms'))}` }, 'SMS'),
      el('a', { href: `mailto:?subject=${encodeURIComponent(`An invitation to ${orgName ?? 'join us'}`)}&body=${encodeURIComponent(message('email'))}` }, 'Email'),
    );
  }

  /** Whether a link still works, in words; one that has ended (revoked, or past its expiry) is not to be shared again. */
  function linkState(code) {
    if (code.revokedAt) return { ended: true, words: `revoked ${dateTime.format(new Date(code.revokedAt))}` };
    if (code.expiresAt && Date.parse(code.expiresAt) <= Date.now()) return { ended: true, words: `expired ${dateTime.format(new Date(code.expiresAt))}` };
    return { ended: false, words: code.expiresAt ? `active until ${dateTime.format(new Date(code.expiresAt))}` : 'active' };
  }

  /** A choice of the organisation's mentors by name, `first` naming the empty choice. */
  const mentorSelect = (mentors, first, required) =>
    el('select', { name: 'mentorId', required }, el('option', { value: '' }, first), mentors.map((mentor) => el('option', { value: mentor.id }, mentor.displayName ?? mentor.id)));

  /** A mentor's name from the organisation's list, for tables that name mentors by id. */
  const mentorNamer = (mentors) => {
    const names = new Map(mentors.map((mentor) => [mentor.id, mentor.displayName]));
    return (mentorId) => names.get(mentorId) ?? 'Unnamed mentor';
  };

  /** The invite links; with `mentorName`, whose each is (an organisation's list). */
  function codesTable(codes, options) {
    const whose = (code) => (options.mentorName ? [options.mentorName(code.mentorId)] : []);
    const rows = codes.map((code) => {
      const state = linkState(code);
      if (state.ended) return [code.code, ...whose(code), code.campaign ?? '–', code.channel ?? '–', state.words, '–', ''];
      return [
        el('a', { href: code.url }, code.code),
        ...whose(code),
        code.campaign ?? '–',
        code.channel ?? '–',
        state.words,
        el('a', { href: `/api/v1/referral-codes/${code.id}/qr.png`, download: `invite-${code.code}.png` }, el('img', { src: `/api/v1/referral-codes/${code.id}/qr.svg`, alt: `QR code for ${code.url}`, width: 96, height: 96 })),
        el(
          'span',
          { class: 'actions' },
          copyButton(code.url, 'Copy link'),
          options.share ? shareLinks(code, options.orgName) : '',
          options.canRevoke ? el('button', { type: 'button', onclick: oneAtATime(() => options.revoke(code)) }, 'Revoke') : '',
        ),
      ];
    });
    const headings = ['Code', ...(options.mentorName ? ['Mentor'] : []), 'Campaign', 'Channel', 'State', 'QR code', 'Actions'];
    return table('Invite links', headings, rows, { numeric: false, empty: 'No invite links yet.' });
  }

  /** Revokes a link once its owner or an admin has said yes; `then` shows the links again. */
  async function revokeLink(code, then, whose = '') {
    if (!window.confirm(`Revoke ${code.code}${whose}? People who open it will be told it no longer works.`)) return;
    try {
      await api(`/api/v1/referral-codes/${code.id}/revoke`, { method: 'POST' });
      await then();
      say(`Revoked ${code.code}.`);
    } catch (error) {
      say(`Could not revoke ${code.code}: ${error.message}`);
    }
  }

  /** A form for a new invite link: the mentor's own, or with `mentors` (an org admin's) for the one chosen. */
  function newLinkForm(mentors, then) {
    const form = el(
      'form',
      { class: 'period', 'aria-label': 'New invite link' },
      mentors
        ? el('label', {}, 'For', mentorSelect(mentors, 'Choose a mentor', true))
        : '',
      el('label', {}, 'Campaign (optional)', el('input', { name: 'campaign', maxlength: 100 })),
      el('button', { type: 'submit' }, 'Create an invite link'),
    );
    onSubmitOnce(form, async () => {
      const body = Object.fromEntries([...new FormData(form)].map(([name, value]) => [name, String(value).trim()]).filter(([, value]) => value !== ''));
      try {
        const code = await api('/api/v1/referral-codes', { method: 'POST', body: JSON.stringify(body) });
        await then();
        say(`Created ${code.url}`);
      } catch (error) {
        say(`Could not create the link: ${error.message}`);
      }
    });
    return form;
  }

  /** How many minor units make one of the unit: 1 for points, 100 for euros, 1 for yen. */
  function minorPerUnit(unit) {
    if (!unit || unit === 'points') return 1;
    try {
      return 10 ** new Intl.NumberFormat('en', { style: 'currency', currency: unit }).resolvedOptions().maximumFractionDigits;
    } catch {
      // Not a currency code: the API says so when the rules are saved.
      return 1;
    }
  }

  /** An amount in the rules' unit: points, or a currency's minor units. */
  function reward(amount, unit) {
    if (!unit || unit === 'points') return `${number.format(amount)} point${Math.abs(amount) === 1 ? '' : 's'}`;
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: unit }).format(amount / minorPerUnit(unit));
  }

  function ruleName(rule) {
    if (rule === 'perConfirmedRecruit') return 'Confirmed recruit';
    if (rule === 'correction') return 'Correction: membership cancelled';
    const milestone = /^milestoneBonus:(\d+)$/.exec(rule);
    return milestone ? `Milestone bonus: ${milestone[1]} recruits` : rule;
  }

  /** What an entry was for, with the campaign whose multiplier made its amount. */
  function entryFor(entry) {
    const campaign = entry.detail?.campaign;
    return campaign ? `${ruleName(entry.rule)} (${campaign.campaign} ×${campaign.multiplier})` : ruleName(entry.rule);
  }

  function entryState(entry) {
    if (entry.status === 'pending') return entry.awaiting === 'approval' ? 'waiting for approval' : `held until ${dateTime.format(new Date(entry.holdUntil))}`;
    if (entry.status === 'reversed') return entry.reversalReason === 'rejected' ? 'reversed: not approved' : 'reversed: membership cancelled';
    return 'confirmed';
  }

  /** The rules in words, as an admin set them. */
  function rulesInWords(rules) {
    if (!rules) return ['No reward rules are set.'];
    const lines = [`${reward(rules.perConfirmedRecruit, rules.unit)} per confirmed recruit, held for ${duration(rules.holdingPeriod)} before it is confirmed.`];
    for (const bonus of rules.milestoneBonuses) lines.push(`A bonus of ${reward(bonus.amount, rules.unit)} at ${number.format(bonus.milestone)} confirmed recruits.`);
    for (const campaign of rules.campaigns) {
      lines.push(`Campaign ${campaign.campaign}: ×${campaign.multiplier} from ${day.format(new Date(campaign.from))} to ${day.format(new Date(Date.parse(campaign.to) - 1))} (UTC).`);
    }
    if (rules.welcomeReward) lines.push(`New members are offered: ${rules.welcomeReward.description}.`);
    if (rules.approvalAbove !== undefined) lines.push(`A mentor's rewards above ${reward(rules.approvalAbove, rules.unit)} in 30 days wait for a coordinator's approval.`);
    return lines;
  }

  function balanceFigures(balance, unit) {
    return figures([
      ['Pending', reward(balance.pending, unit), 'reward-pending'],
      ['Confirmed', reward(balance.confirmed, unit), 'reward-confirmed'],
      ['Reversed', reward(balance.reversed, unit), 'reward-reversed'],
    ]);
  }

  function mentorRewardsSection(me, rewards, rules) {
    return el(
      'section',
      { 'aria-labelledby': 'rewards-title' },
      el('h3', { id: 'rewards-title' }, 'Your rewards'),
      el('ul', { class: 'rules' }, rulesInWords(rules.rules).map((line) => el('li', {}, line))),
      balanceFigures(rewards.balance, rewards.unit),
      el('p', {}, el('a', { href: `/api/v1/mentors/${me.userId}/rewards?format=csv`, download: true }, 'Download your statement (CSV)')),
      pagedTable(
        'Your reward entries, the newest first',
        ['Date', 'For', 'Amount', 'State'],
        rewards.entries.map((entry) => [dateTime.format(new Date(entry.createdAt)), entryFor(entry), reward(entry.amount, rewards.unit), entryState(entry)]),
        { numeric: false, id: 'reward-entries', empty: 'No rewards yet: they come with your confirmed recruits.' },
      ),
    );
  }

  /** A form's control with its label. */
  const field = (label, control) => el('label', {}, label, control);
  /** A form's number of zero or more, in any fraction. */
  const numberInput = (name, value, required = true) => el('input', { name, type: 'number', min: 0, step: 'any', value, required });

  /**
   * The org admin's form for the reward rules: amounts in the unit (euros, not cents), the hold in days, one milestone
   * bonus or campaign per line. The API checks them; its refusal is shown as it says it.
   */
  function rulesForm(me, current, onSaved) {
    const rules = current ?? { unit: 'points', perConfirmedRecruit: 0, milestoneBonuses: [], campaigns: [], holdingPeriod: 14 * 86400 };
    const scale = minorPerUnit(rules.unit);
    const day = (iso) => iso.slice(0, 10);
    const form = el(
      'form',
      { class: 'rules-form', 'aria-label': 'Reward rules' },
      field('Unit (points, or a currency code such as EUR)', el('input', { name: 'unit', value: rules.unit, required: true, maxlength: 10 })),
      field('Per confirmed recruit', numberInput('perConfirmedRecruit', rules.perConfirmedRecruit / scale)),
      field('Held for (days) before it is confirmed', numberInput('holdingDays', rules.holdingPeriod / 86400)),
      field(
        'Milestone bonuses, one per line: recruits: amount',
        el('textarea', { name: 'milestoneBonuses', rows: 3 }, rules.milestoneBonuses.map((bonus) => `${bonus.milestone}: ${bonus.amount / scale}`).join('\n')),
      ),
      field(
        'Campaigns, one per line: campaign, first day, last day, multiplier',
        el('textarea', { name: 'campaigns', rows: 3 }, rules.campaigns.map((c) => `${c.campaign}, ${day(c.from)}, ${day(new Date(Date.parse(c.to) - 86400000).toISOString())}, ${c.multiplier}`).join('\n')),
      ),
      field('Welcome reward offered to new members (optional)', el('input', { name: 'welcomeReward', maxlength: 200, value: rules.welcomeReward?.description ?? '' })),
      field("Approval needed above, per mentor in 30 days (optional)", numberInput('approvalAbove', rules.approvalAbove === undefined ? '' : rules.approvalAbove / scale, false)),
      el('button', { type: 'submit' }, 'Save the rules'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      const unit = String(data.unit).trim();
      const minor = (value) => Math.round(Number(value) * minorPerUnit(unit));
      const lines = (text) => String(text).split('\n').map((line) => line.trim()).filter(Boolean);
      const body = {
        unit,
        perConfirmedRecruit: minor(data.perConfirmedRecruit),
        holdingPeriod: Math.round(Number(data.holdingDays) * 86400),
        milestoneBonuses: lines(data.milestoneBonuses).map((line) => {
          const [milestone, amount] = line.split(':').map((part) => part.trim());
          return { milestone: Number(milestone), amount: minor(amount) };
        }),
        campaigns: lines(data.campaigns).map((line) => {
          const [campaign, from, to, multiplier] = line.split(',').map((part) => part.trim());
          const end = Date.parse(`${to}T00:00:00Z`) + 86400000;
          return { campaign, from: `${from}T00:00:00Z`, to: Number.isNaN(end) ? to : new Date(end).toISOString(), multiplier: Number(multiplier) };
        }),
        ...(String(data.welcomeReward).trim() ? { welcomeReward: { description: String(data.welcomeReward).trim() } } : {}),
        ...(String(data.approvalAbove).trim() !== '' ? { approvalAbove: minor(data.approvalAbove) } : {}),
      };
      try {
        const saved = await api(`/api/v1/orgs/${me.orgId}/rewards`, { method: 'PUT', body: JSON.stringify(body) });
        await onSaved();
        say(`Saved: the rules (version ${saved.version}) apply to confirmations from now on.`);
      } catch (error) {
        say(`Could not save the rules: ${error.message}`);
      }
    });
    return el('details', { class: 'rules-editor' }, el('summary', {}, 'Change the rules'), form);
  }

  function programmeSection(rules, summary, decide, editor) {
    return el(
      'section',
      { 'aria-labelledby': 'programme-title' },
      el('h3', { id: 'programme-title' }, 'Rewards programme'),
      el('ul', { class: 'rules' }, rulesInWords(rules.rules).map((line) => el('li', {}, line))),
      editor ?? '',
      balanceFigures(summary.balance, summary.unit),
      pagedTable(
        'Rewards waiting for approval: approve to let them be confirmed after their hold, reject to reverse them',
        ['Date', 'Mentor', 'For', 'Amount', 'Decision'],
        summary.awaitingApproval.map((item) => [
          dateTime.format(new Date(item.createdAt)),
          item.mentorName ?? 'Unnamed mentor',
          entryFor(item),
          reward(item.amount, summary.unit),
          el(
            'span',
            { class: 'actions' },
            el('button', { type: 'button', onclick: oneAtATime(() => decide(item, 'approve')) }, 'Approve'),
            el('button', { type: 'button', class: 'secondary', onclick: oneAtATime(() => decide(item, 'reject')) }, 'Reject'),
          ),
        ]),
        { numeric: false, id: 'reward-approvals', empty: 'No reward is waiting for approval.' },
      ),
      table(
        'Mentors by confirmed rewards',
        ['Mentor', 'Pending', 'Confirmed', 'Reversed'],
        summary.mentors.map((mentor) => [mentor.name ?? 'Unnamed mentor', reward(mentor.pending, summary.unit), reward(mentor.confirmed, summary.unit), reward(mentor.reversed, summary.unit)]),
        { id: 'reward-mentors', empty: 'No rewards yet.' },
      ),
    );
  }

  /** The organisation's windows and badge milestones in words; an org admin may change them. */
  function settingsSection(me, settings, onSaved) {
    const words = [
      `A referral counts for ${duration(settings.attributionWindowSeconds)} after the person's last click on the link, for their account to be created.`,
      `An account whose membership is not confirmed within ${duration(settings.confirmationWindowSeconds)} is shown as stuck.`,
      `Clicks by one person on one link within ${duration(settings.dedupeWindowSeconds)} count as one.`,
      `Mentors earn badges at ${settings.badgeMilestones.join(', ')} confirmed recruits.`,
    ];
    const form = el(
      'form',
      { class: 'rules-form', 'aria-label': 'Settings' },
      field('A referral counts for (days after the last click)', numberInput('attributionDays', settings.attributionWindowSeconds / 86400)),
      field('Confirmation expected within (days after the account)', numberInput('confirmationDays', settings.confirmationWindowSeconds / 86400)),
      field('Repeat clicks count as one within (hours)', numberInput('dedupeHours', settings.dedupeWindowSeconds / 3600)),
      field('Badge milestones (confirmed recruits, ascending, separated by commas)', el('input', { name: 'badgeMilestones', value: settings.badgeMilestones.join(', '), required: true })),
      el('button', { type: 'submit' }, 'Save the settings'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      const seconds = (value, size) => Math.round(Number(value) * size);
      const body = {
        attributionWindow: seconds(data.attributionDays, 86400),
        confirmationWindow: seconds(data.confirmationDays, 86400),
        dedupeWindow: seconds(data.dedupeHours, 3600),
        badgeMilestones: String(data.badgeMilestones).split(/[\s,;]+/).filter(Boolean).map(Number),
      };
      try {
        await api(`/api/v1/orgs/${me.orgId}/settings`, { method: 'PUT', body: JSON.stringify(body) });
        await onSaved();
        say('Saved: the settings apply to referrals that start from now on.');
      } catch (error) {
        say(`Could not save the settings: ${error.message}`);
      }
    });
    return el(
      'section',
      { 'aria-labelledby': 'settings-title' },
      el('h3', { id: 'settings-title' }, 'Settings'),
      el('ul', { class: 'rules', id: 'settings-in-words' }, words.map((line) => el('li', {}, line))),
      me.role === 'org_admin' ? el('details', { class: 'settings-editor' }, el('summary', {}, 'Change the settings'), form) : '',
    );
  }

  const query = (period) => new URLSearchParams(Object.entries(period).filter(([, value]) => value)).toString();

  async function orgView(me, period) {
    say('Loading the figures…');
    const [dashboard, { items: codes }, rules, rewards, settings, { items: mentors }, invitations, yours, coordinators] = await Promise.all([
      api(`/api/v1/orgs/${me.orgId}/recruitment-dashboard?${query(period)}`),
      api('/api/v1/referral-codes'),
      api(`/api/v1/orgs/${me.orgId}/rewards`),
      api(`/api/v1/orgs/${me.orgId}/rewards/summary`),
      api(`/api/v1/orgs/${me.orgId}/settings`),
      api(`/api/v1/orgs/${me.orgId}/mentors`),
      invitationsPage({}),
      me.role === 'coordinator' ? api(`/api/v1/coordinators/${me.userId}/aggregate`) : undefined,
      me.role === 'org_admin' ? api(`/api/v1/orgs/${me.orgId}/coordinators`) : undefined,
    ]);
    const mentorName = mentorNamer(mentors);
    const admin = me.role === 'org_admin';
    const stages = Object.keys(STAGE_NAMES);
    const funnel = stages.map((stage) => dashboard.funnel[stage]);
    const clicked = dashboard.funnel.clicked;
    const range = `${day.format(new Date(dashboard.from))} to ${day.format(new Date(Date.parse(dashboard.to) - 1))}`;
    const csvPeriod = { from: dashboard.from, to: dashboard.to, granularity: dashboard.granularity, format: 'csv' };

    const reload = (next) => {
      history.replaceState(null, '', `/dashboard?${query(next)}`);
      render(me, next);
    };
    const review = async (item, decision) => {
      try {
        await api(`/api/v1/referral-attributions/${item.referralId}/review`, { method: 'POST', body: JSON.stringify({ decision }) });
        say(`${decision === 'approve' ? 'Approved' : 'Rejected'}: the referral by ${item.mentorName ?? 'a mentor'}. The figures update within a minute.`);
        await render(me, period, true);
      } catch (error) {
        say(`Could not ${decision}: ${error.message}`);
      }
    };

    const decideReward = async (item, decision) => {
      try {
        await api(`/api/v1/reward-entries/${item.entryId}/review`, { method: 'POST', body: JSON.stringify({ decision }) });
        say(`${decision === 'approve' ? 'Approved' : 'Rejected'}: ${reward(item.amount, rewards.unit)} for ${item.mentorName ?? 'a mentor'}.`);
        await render(me, period, true);
      } catch (error) {
        say(`Could not ${decision}: ${error.message}`);
      }
    };

    view.replaceChildren(
      el('h2', {}, `${me.orgName ?? 'Your organisation'}: ${range}`),
      periodForm(dashboard, reload),
      el('p', {}, el('a', { href: `/api/v1/orgs/${me.orgId}/recruitment-dashboard?${query(csvPeriod)}`, download: true }, 'Download these figures (CSV)')),
      figures([
        ['Clicked', number.format(clicked), 'clicked'],
        ['Confirmed members', number.format(dashboard.funnel.confirmed), 'confirmed'],
        ['Conversion', percent.format(clicked ? dashboard.funnel.confirmed / clicked : 0), 'conversion'],
        ['Median time to convert', duration(dashboard.medianTimeToConvertSeconds), 'median'],
      ]),
      el(
        'p',
        { class: 'scope', id: 'figures-scope' },
        "The figures above, the funnel and the campaigns follow the people who first clicked in the period, as far as each has come since; the trend, the time to convert, the top mentors' confirmations and the channels count what happened in the period.",
      ),
      chart(
        'Funnel',
        stages.map((stage, index) => `${STAGE_NAMES[stage]} ${number.format(funnel[index])}`).join(', '),
        { type: 'bar', data: { labels: stages.map((stage) => STAGE_NAMES[stage]), datasets: [{ label: 'Referrals', data: funnel, backgroundColor: COLOURS[0] }] }, options: { indexAxis: 'y', plugins: { legend: { display: false } } } },
        table('Funnel', ['Stage', 'Referrals', 'Of those clicked'], stages.map((stage, index) => [STAGE_NAMES[stage], number.format(funnel[index]), percent.format(clicked ? funnel[index] / clicked : 0)])),
      ),
      trendChart('Trend', dashboard),
      chart(
        'Time to convert',
        `from the click to the confirmed membership, median ${duration(dashboard.medianTimeToConvertSeconds)}`,
        {
          type: 'bar',
          data: {
            labels: dashboard.timeToConvert.map(bucketName),
            datasets: [{ label: 'Confirmed members', data: dashboard.timeToConvert.map((bucket) => bucket.confirmed), backgroundColor: COLOURS[2] }],
          },
          options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
        },
        table('Time to convert', ['Within', 'Confirmed members'], dashboard.timeToConvert.map((bucket) => [bucketName(bucket), bucket.confirmed])),
      ),
      yours ? coordinatorMentorsSection(yours) : '',
      el(
        'section',
        { 'aria-labelledby': 'mentors-title' },
        el('h3', { id: 'mentors-title' }, 'Top mentors'),
        table(
          'Mentors by members confirmed in the period; conversion is of the referrals they brought in it',
          ['Mentor', 'Confirmed', 'Referrals', 'Conversion'],
          dashboard.topMentors.map((mentor) => [mentor.displayName ?? 'Unnamed mentor', mentor.confirmedAttributions, mentor.referrals, percent.format(mentor.conversionRate)]),
        ),
      ),
      el(
        'section',
        { 'aria-labelledby': 'channels-title', class: 'pair' },
        el('h3', { id: 'channels-title' }, 'Channels and campaigns'),
        table('Channels', ['Channel', 'Clicks', 'Confirmed', 'Conversion'], dashboard.channels.map((row) => [row.channel, row.clicks, row.confirmedAttributions, percent.format(row.conversionRate)])),
        table('Campaigns', ['Campaign', 'Referrals', 'Confirmed', 'Conversion'], dashboard.campaigns.map((row) => [row.campaign ?? 'No campaign', row.referrals, row.confirmedAttributions, percent.format(row.conversionRate)])),
      ),
      el(
        'section',
        { 'aria-labelledby': 'review-title' },
        el('h3', { id: 'review-title' }, `Held for review (${dashboard.needsReview.length})`),
        table(
          'Referrals held for review: approve to count them, reject to drop them',
          ['Mentor', 'Why', 'Clicked', 'Decision'],
          dashboard.needsReview.map((item) => [
            item.mentorName ?? 'Unnamed mentor',
            FLAG_REASONS[item.flagReason] ?? item.flagReason ?? '–',
            dateTime.format(new Date(item.clickedAt)),
            el(
              'span',
              { class: 'actions' },
              el('button', { type: 'button', onclick: oneAtATime(() => review(item, 'approve')) }, 'Approve'),
              el('button', { type: 'button', class: 'secondary', onclick: oneAtATime(() => review(item, 'reject')) }, 'Reject'),
            ),
          ]),
          { numeric: false, empty: 'Nothing is waiting for review.' },
        ),
      ),
      el(
        'section',
        { 'aria-labelledby': 'stuck-title' },
        el('h3', { id: 'stuck-title' }, `Stuck: confirmation overdue (${dashboard.stuck.length})`),
        table(
          'Accounts whose membership was not confirmed in time, the longest waiting first',
          ['Mentor', 'Waiting since', 'Waited'],
          dashboard.stuck.map((item) => [item.mentorName ?? 'Unnamed mentor', dateTime.format(new Date(item.waitingSince)), duration(item.waitingSeconds)]),
          { numeric: false, empty: 'No confirmation is overdue.' },
        ),
      ),
      programmeSection(rules, rewards, decideReward, admin ? rulesForm(me, rules.rules, () => render(me, period, true)) : undefined),
      settingsSection(me, settings, () => render(me, period, true)),
      coordinators ? coordinatorsSection(coordinators.items, mentors, () => render(me, period, true)) : '',
      el(
        'section',
        { 'aria-labelledby': 'codes-title' },
        el('h2', { id: 'codes-title' }, 'Invite links'),
        admin ? newLinkForm(mentors, () => render(me, period, true)) : '',
        admin ? codesUploadForm(() => render(me, period, true)) : '',
        el('div', { id: 'codes-upload-outcome' }),
        codesTable(codes, { canRevoke: admin, revoke: (code) => revokeLink(code, () => render(me, period, true), ` (${mentorName(code.mentorId)}'s)`), mentorName }),
      ),
      orgInvitationsSection(me, mentors, mentorName, invitations),
      admin ? erasureSection(mentorName) : '',
    );
    say(`Showing ${range}.`);
  }

  const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

  /** An org admin erases what the service holds on a member who asked: their referrals found by the member's id. */
  function erasureSection(mentorName) {
    const found = el('div', { id: 'erasure-found' });
    const form = el(
      'form',
      { class: 'period', 'aria-label': "Find a member's referrals" },
      el('label', {}, 'Member id (from the membership system)', el('input', { name: 'newMemberId', required: true, pattern: UUID, autocomplete: 'off', size: 38 })),
      el('button', { type: 'submit', class: 'secondary' }, 'Find'),
    );
    const show = async (memberId) => {
      const { items } = await api(`/api/v1/referral-attributions?${new URLSearchParams({ newMemberId: memberId, limit: 100 })}`);
      const erase = async () => {
        if (!window.confirm(`Erase the personal data of ${items.length} referral${items.length === 1 ? '' : 's'}? The counts stay as they are. This cannot be undone.`)) return;
        try {
          for (const item of items) await api(`/api/v1/referral-attributions/${item.id}`, { method: 'DELETE' });
          found.replaceChildren();
          say(`Erased: ${items.length} referral${items.length === 1 ? '' : 's'} of that member. The counts stay as they were.`);
        } catch (error) {
          say(`Could not erase all of them: ${error.message}. Each is erased whole or not at all; those left are listed: try again.`);
          await show(memberId);
        }
      };
      found.replaceChildren(
        table(
          "The member's referrals",
          ['Mentor', 'Status', 'Stage', 'Clicked'],
          items.map((item) => [mentorName(item.mentorId), STATUS_NAMES[item.status] ?? item.status, STAGE_NAMES[item.stage] ?? item.stage, item.clickedAt ? dateTime.format(new Date(item.clickedAt)) : '–']),
          { numeric: false, empty: 'No referral of this organisation names that member.' },
        ),
        items.length > 0 ? el('button', { type: 'button', onclick: oneAtATime(erase) }, `Erase ${items.length === 1 ? 'it' : `these ${items.length}`}`) : '',
      );
    };
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await show(String(new FormData(form).get('newMemberId')).trim().toLowerCase());
      } catch (error) {
        say(`Could not look the member up: ${error.message}`);
      }
    });
    return el(
      'section',
      { 'aria-labelledby': 'erasure-title' },
      el('h3', { id: 'erasure-title' }, "Erase a member's data"),
      el('p', {}, "When a member asks to be forgotten: their device, network and member id are removed from their referrals. The counts, and the mentors' credit, stay."),
      form,
      found,
    );
  }

  /** An org admin chooses the mentors each coordinator follows. */
  function coordinatorsSection(coordinators, mentors, onSaved) {
    const plural = (count) => `${number.format(count)} mentor${count === 1 ? '' : 's'}`;
    const forms = coordinators.map((coordinator) => {
      const name = coordinator.displayName ?? 'Unnamed coordinator';
      const assigned = new Set(coordinator.mentorIds);
      const form = el(
        'form',
        { class: 'assign', 'aria-label': `Mentors ${name} follows` },
        el(
          'fieldset',
          {},
          el('legend', {}, `The mentors ${name} follows`),
          mentors.map((mentor) => el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'mentorIds', value: mentor.id, checked: assigned.has(mentor.id) }), mentor.displayName ?? mentor.id)),
        ),
        el('button', { type: 'submit' }, 'Save'),
      );
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const mentorIds = new FormData(form).getAll('mentorIds');
        try {
          await api(`/api/v1/coordinators/${coordinator.id}/mentors`, { method: 'PUT', body: JSON.stringify({ mentorIds }) });
          await onSaved();
          say(`Saved: ${name} follows ${plural(mentorIds.length)}.`);
        } catch (error) {
          say(`Could not save ${name}'s mentors: ${error.message}`);
        }
      });
      return el('details', {}, el('summary', {}, `${name}: ${plural(coordinator.mentorIds.length)}`), form);
    });
    return el(
      'section',
      { 'aria-labelledby': 'coordinators-title' },
      el('h3', { id: 'coordinators-title' }, 'Coordinators and their mentors'),
      forms.length > 0 ? forms : el('p', {}, 'No coordinators yet: a coordinator is known here once they have signed in.'),
    );
  }

  /** A coordinator's own mentors, all their referrals so far (the API's aggregate). */
  function coordinatorMentorsSection(aggregate) {
    return el(
      'section',
      { 'aria-labelledby': 'your-mentors-title' },
      el('h3', { id: 'your-mentors-title' }, 'Your mentors'),
      table(
        'The mentors assigned to you, all their referrals so far',
        ['Mentor', 'Clicks', 'Waiting for confirmation', 'Confirmed', 'Conversion'],
        aggregate.mentors.map((mentor) => [
          mentor.displayName ?? 'Unnamed mentor',
          number.format(mentor.totalClicks),
          number.format(mentor.pendingAttributions),
          number.format(mentor.confirmedAttributions),
          percent.format(mentor.conversionRate),
        ]),
        { empty: 'No mentors are assigned to you yet: an org admin assigns them.' },
      ),
    );
  }

  /** Clicks, accounts and confirmations per period, as the API's series gives them. */
  function trendChart(title, trend) {
    const total = (field) => number.format(trend.timeSeries.reduce((sum, row) => sum + row[field], 0));
    const starts = trend.timeSeries.map((row) => day.format(new Date(row.periodStart)));
    const line = (label, field, colour, dash) => ({ label, data: trend.timeSeries.map((row) => row[field]), borderColor: colour, backgroundColor: colour, borderDash: dash });
    return chart(
      title,
      `per ${trend.granularity}: ${total('clicks')} clicks, ${total('accountsCreated')} accounts created, ${total('confirmed')} confirmed`,
      {
        type: 'line',
        data: {
          labels: starts,
          datasets: [line('Clicks', 'clicks', COLOURS[0], []), line('Accounts created', 'accountsCreated', COLOURS[4], [6, 3]), line('Confirmed', 'confirmed', COLOURS[2], [2, 2])],
        },
        options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
      },
      table(`Per ${trend.granularity}`, ['Starting', 'Clicks', 'Accounts created', 'Confirmed'], trend.timeSeries.map((row, index) => [starts[index], row.clicks, row.accountsCreated, row.confirmed])),
    );
  }

  function bucketName(bucket) {
    if (bucket.toSeconds === null) return `over ${duration(bucket.fromSeconds)}`;
    return `${bucket.fromSeconds === 0 ? 'under' : `${duration(bucket.fromSeconds)} to`} ${duration(bucket.toSeconds)}`;
  }

  async function mentorView(me) {
    say('Loading your figures…');
    const [stats, trend, recruits, badges, { items: codes }, invitations, { delivery }, rewards, rules] = await Promise.all([
      api(`/api/v1/mentors/${me.userId}/stats`),
      api(`/api/v1/mentors/${me.userId}/trend`),
      api(`/api/v1/mentors/${me.userId}/recruits`),
      api(`/api/v1/mentors/${me.userId}/badges`),
      api('/api/v1/referral-codes'),
      invitationsPage({}),
      api(`/api/v1/mentors/${me.userId}/notification-preferences`),
      api(`/api/v1/mentors/${me.userId}/rewards`),
      api(`/api/v1/orgs/${me.orgId}/rewards`),
    ]);
    const stages = Object.keys(STAGE_NAMES).filter((stage) => stage !== 'confirmed');
    const funnel = [...stages.map((stage) => stats.funnel[stage]), stats.confirmedAttributions];
    const names = [...stages.map((stage) => STAGE_NAMES[stage]), 'Confirmed'];
    const revoke = (code) => revokeLink(code, () => mentorView(me));
    const create = newLinkForm(undefined, () => mentorView(me));
    view.replaceChildren(
      el('h2', {}, 'Your recruitment'),
      figures([
        ['Clicks on your links', number.format(stats.totalClicks), 'clicked'],
        ['Waiting for confirmation', number.format(stats.pendingAttributions), 'pending'],
        ['Confirmed members', number.format(stats.confirmedAttributions), 'confirmed'],
        ['Conversion', percent.format(stats.conversionRate), 'conversion'],
      ]),
      chart(
        'Your funnel',
        names.map((name, index) => `${name} ${number.format(funnel[index])}`).join(', '),
        { type: 'bar', data: { labels: names, datasets: [{ label: 'People', data: funnel, backgroundColor: COLOURS[0] }] }, options: { indexAxis: 'y', plugins: { legend: { display: false } } } },
        table('Your funnel', ['Stage', 'People'], names.map((name, index) => [name, number.format(funnel[index])])),
      ),
      trendChart('Your last 30 days', trend),
      el('section', { 'aria-labelledby': 'links-title' }, el('h3', { id: 'links-title' }, 'Your invite links'), create, codesTable(codes, { canRevoke: true, revoke, share: true, orgName: me.orgName })),
      el(
        'section',
        { 'aria-labelledby': 'recruits-title' },
        el('h3', { id: 'recruits-title' }, 'Your recruits'),
        pagedTable(
          'People who joined through your links (no contact details are kept here)',
          ['Joined', 'Stage', 'Status', 'Channel'],
          recruits.recruits.map((recruit) => [recruit.confirmedAt ? dateTime.format(new Date(recruit.confirmedAt)) : 'not yet', STAGE_NAMES[recruit.stage] ?? recruit.stage, STATUS_NAMES[recruit.status] ?? recruit.status, recruit.shareChannel ?? '–']),
          { numeric: false, id: 'recruits', empty: 'No recruits yet.' },
        ),
      ),
      mentorRewardsSection(me, rewards, rules),
      invitationsSection(me, invitations),
      notificationChoice(me, delivery),
      el(
        'section',
        { 'aria-labelledby': 'badges-title' },
        el('h3', { id: 'badges-title' }, 'Your badges'),
        badges.badges.length === 0
          ? el('p', {}, 'No badges yet: they come with your confirmed recruits.')
          : el('ul', { class: 'badges' }, badges.badges.map((badge) => el('li', {}, `${badge.milestone} recruit${badge.milestone === 1 ? '' : 's'}`, el('span', { class: 'when' }, ` · ${dateTime.format(new Date(badge.awardedAt))}`)))),
      ),
    );
    say('Showing your figures.');
  }

  const INVITATION_STATES = { sending: 'sending', sent: 'sent', clicked: 'opened the link', joined: 'joined', cancelled: 'cancelled', bounced: 'address did not work', expired: 'expired' };

  const refusedRows = (answer) => answer.rows.filter((row) => row.status === 'error').length;

  /** Sends the CSV file chosen in `form`'s `field` to `path`, the form's button disabled until the answer. */
  async function sendCsv(form, field, path) {
    const send = form.querySelector('button');
    send.disabled = true;
    try {
      return await api(path, { method: 'POST', body: await new FormData(form).get(field).text(), contentType: 'text/csv' });
    } finally {
      send.disabled = false;
    }
  }

  /** What a CSV upload answered: `summary`, the columns it left out, and the rows it refused with why. */
  function uploadOutcome(answer, summary) {
    const refused = answer.rows.filter((row) => row.status === 'error');
    return [
      el('p', {}, summary),
      answer.ignoredColumns.length ? el('p', {}, `Columns left out: ${answer.ignoredColumns.join(', ')}.`) : '',
      refused.length ? table('Rows not taken', ['Line', 'Why'], refused.map((row) => [row.line, row.errors.join('; ')]), { numeric: false }) : '',
    ];
  }

  /** An org admin adds mentors (as their sign-in will name them) and a link of each from a CSV; `then` shows them. */
  function codesUploadForm(then) {
    const upload = el(
      'form',
      { class: 'period', 'aria-label': 'Add mentors and links from a CSV' },
      el('label', {}, 'Mentors and their links (CSV)', el('input', { type: 'file', name: 'mentors', accept: '.csv,text/csv', required: true })),
      el('button', { type: 'submit', class: 'secondary' }, 'Add the links'),
    );
    upload.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const answer = await sendCsv(upload, 'mentors', '/api/v1/referral-codes/bulk');
        const made = answer.rows.filter((row) => row.status === 'created').length;
        const refused = refusedRows(answer);
        const summary = `${number.format(made)} link${made === 1 ? '' : 's'} made, ${number.format(answer.rows.length - made - refused)} already there${refused ? `; ${number.format(refused)} row${refused === 1 ? '' : 's'} not taken, listed below` : ''}.`;
        await then();
        byId('codes-upload-outcome')?.replaceChildren(...uploadOutcome(answer, summary));
        say(summary);
      } catch (error) {
        say(`Could not add the links: ${error.message}`);
      }
    });
    return el(
      'details',
      {},
      el('summary', {}, 'Add mentors and their links from a CSV'),
      el('p', {}, 'Its first line names the columns: mentorId (the id your sign-in gives the mentor), and if you like displayName, campaign and channel. A mentor who has a link for that campaign and channel keeps it.'),
      upload,
    );
  }

  const INVITATIONS_PAGE = 50;
  const invitationsPage = (params) => api(`/api/v1/invitations?${new URLSearchParams({ ...params, limit: INVITATIONS_PAGE })}`);
  const invitee = (invitation) => invitation.email ?? invitation.name ?? 'closed invitation';
  const invitationState = (invitation) => INVITATION_STATES[invitation.status] ?? invitation.status;
  const sentAt = (invitation) => (invitation.sentAt ? dateTime.format(new Date(invitation.sentAt)) : '–');

  /**
   * Invitations, newest first, a page at a time: `rowOf` makes a row of one; `load(params)` shows the first page of
   * those `params` pick, and "Show more" the next while there is one.
   */
  function invitationList(caption, headings, rowOf, firstPage) {
    const holder = el('div', {});
    let params = {};
    let shown = [];
    const show = (page, more) => {
      const firstAdded = shown.length;
      shown = more ? [...shown, ...page.items] : page.items;
      const next = page.nextCursor ? el('button', { type: 'button', class: 'secondary', onclick: oneAtATime(() => fetchAndShow({ ...params, cursor: page.nextCursor }, true)) }, 'Show more') : '';
      holder.replaceChildren(table(caption, headings, shown.map(rowOf), { numeric: false, empty: 'No invitations.' }), next);
      if (more) focusRow(holder, firstAdded);
    };
    const fetchAndShow = async (query, more) => {
      try {
        show(await invitationsPage(query), more);
      } catch (error) {
        say(`Could not load the invitations: ${error.message}`);
      }
    };
    show(firstPage, false);
    return {
      element: holder,
      load: (next) => {
        params = next;
        return fetchAndShow(params, false);
      },
    };
  }

  /** Resend and cancel while the invitation is open; `then` shows the list again. */
  function invitationActions(invitation, then) {
    if (!['sending', 'sent', 'clicked'].includes(invitation.status)) return '';
    const act = (action, done) => async () => {
      try {
        await api(`/api/v1/invitations/${invitation.id}/${action}`, { method: 'POST' });
        await then();
        say(done);
      } catch (error) {
        say(`Could not ${action}: ${error.message}`);
      }
    };
    return el(
      'span',
      { class: 'actions' },
      el('button', { type: 'button', class: 'secondary', onclick: oneAtATime(act('resend', 'Sent again.')) }, 'Resend'),
      el('button', { type: 'button', class: 'secondary', onclick: oneAtATime(act('cancel', 'Invitation cancelled.')) }, 'Cancel'),
    );
  }

  /** Invite someone by email; the invitations sent, with resend and cancel while open. */
  function invitationsSection(me, invitations) {
    const form = el(
      'form',
      { class: 'period', 'aria-label': 'Invite by email' },
      el('label', {}, 'Email address', el('input', { type: 'email', name: 'email', required: true, maxlength: 254, autocomplete: 'off' })),
      el('label', {}, 'Their name (optional)', el('input', { name: 'name', maxlength: 100 })),
      el('label', {}, 'A few words (optional)', el('input', { name: 'message', maxlength: 500 })),
      el('button', { type: 'submit' }, 'Send the invitation'),
    );
    onSubmitOnce(form, async () => {
      const data = Object.fromEntries([...new FormData(form)].filter(([, value]) => value !== ''));
      try {
        await api('/api/v1/invitations', { method: 'POST', body: JSON.stringify(data) });
        await mentorView(me);
        say(`Invitation sent to ${data.email}.`);
      } catch (error) {
        say(`Could not send the invitation: ${error.message}`);
      }
    });
    return el(
      'section',
      { 'aria-labelledby': 'invitations-title' },
      el('h3', { id: 'invitations-title' }, 'Invite by email'),
      form,
      invitationList(
        'Your invitations, newest first (an address is kept only while the invitation is open)',
        ['To', 'State', 'Sent', 'Actions'],
        (invitation) => [invitee(invitation), invitationState(invitation), sentAt(invitation), invitationActions(invitation, () => mentorView(me))],
        invitations,
      ).element,
    );
  }

  /** The organisation's invitations, newest first, a page at a time; an org admin also sends a list of them from a CSV. */
  function orgInvitationsSection(me, mentors, mentorName, firstPage) {
    const admin = me.role === 'org_admin';
    let filter = {};
    const list = invitationList(
      'Invitations, newest first (an address is kept only while the invitation is open)',
      ['To', 'Mentor', 'State', 'Sent', ...(admin ? ['Actions'] : [])],
      (invitation) => [
        invitee(invitation),
        mentorName(invitation.mentorId),
        invitationState(invitation),
        sentAt(invitation),
        ...(admin ? [invitationActions(invitation, () => list.load(filter))] : []),
      ],
      firstPage,
    );

    const filterForm = el(
      'form',
      { class: 'period', 'aria-label': 'Which invitations' },
      el('label', {}, 'State', el('select', { name: 'status' }, el('option', { value: '' }, 'Any'), Object.entries(INVITATION_STATES).map(([value, words]) => el('option', { value }, words)))),
      el('label', {}, 'Mentor', mentorSelect(mentors, 'Any', false)),
      el('button', { type: 'submit', class: 'secondary' }, 'Show'),
    );
    filterForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      filter = Object.fromEntries([...new FormData(filterForm)].filter(([, value]) => value !== ''));
      await list.load(filter);
    });

    const outcome = el('div', { id: 'upload-outcome' });
    const upload = el(
      'form',
      { class: 'period', 'aria-label': 'Invite a list by email' },
      el('label', {}, 'On behalf of', mentorSelect(mentors, 'Choose a mentor', true)),
      el('label', {}, 'Campaign (optional)', el('input', { name: 'campaign', maxlength: 100 })),
      el('label', {}, 'People to invite (CSV)', el('input', { type: 'file', name: 'people', accept: '.csv,text/csv', required: true })),
      el('button', { type: 'submit' }, 'Send the invitations'),
    );
    upload.addEventListener('submit', async (event) => {
      event.preventDefault();
      const data = new FormData(upload);
      const params = new URLSearchParams({ mentorId: data.get('mentorId') });
      const campaign = String(data.get('campaign') ?? '').trim();
      if (campaign) params.set('campaign', campaign);
      say('Sending the invitations: a long list takes a while…');
      try {
        const answer = await sendCsv(upload, 'people', `/api/v1/invitations/bulk?${params}`);
        const refused = refusedRows(answer);
        // Taken, not yet emailed: with Temporal away each waits, listed as sending, until a worker starts it.
        const summary = `Invited ${number.format(answer.rows.length - refused)} of ${number.format(answer.rows.length)} people${refused ? `; ${number.format(refused)} not, listed below` : ''}. The list shows each email as it goes.`;
        outcome.replaceChildren(...uploadOutcome(answer, summary));
        say(summary);
        upload.reset();
        await list.load(filter);
      } catch (error) {
        outcome.replaceChildren();
        say(`Could not send the invitations: ${error.message}`);
      }
    });

    return el(
      'section',
      { 'aria-labelledby': 'org-invitations-title' },
      el('h2', { id: 'org-invitations-title' }, 'Invitations by email'),
      admin
        ? el(
            'details',
            { class: 'upload' },
            el('summary', {}, 'Invite a list of people for a mentor'),
            el('p', {}, 'A CSV file whose first line names its columns: email, and if you like name and message. Each person gets an email with the mentor’s invite link.'),
            upload,
            outcome,
          )
        : '',
      filterForm,
      list.element,
    );
  }

  /** How the mentor hears of their recruits and milestones. */
  function notificationChoice(me, delivery) {
    const choice = el(
      'select',
      { name: 'delivery', 'aria-label': 'Emails about your recruits and badges' },
      [
        ['each', 'An email for each'],
        ['weekly_digest', 'One email a week'],
        ['none', 'No emails'],
      ].map(([value, label]) => el('option', { value, selected: value === delivery }, label)),
    );
    const form = el('form', { class: 'period', 'aria-label': 'Emails about your recruits' }, el('label', {}, 'Emails about your recruits and badges', choice), el('button', { type: 'submit' }, 'Save'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await api(`/api/v1/mentors/${me.userId}/notification-preferences`, { method: 'PUT', body: JSON.stringify({ delivery: choice.value }) });
        say('Saved: you will get ' + choice.selectedOptions[0].textContent.toLowerCase() + '.');
      } catch (error) {
        say(`Could not save: ${error.message}`);
      }
    });
    return el('section', { 'aria-labelledby': 'emails-title' }, el('h3', { id: 'emails-title' }, 'Emails to you'), form);
  }

  async function platformView() {
    const totals = await api('/api/v1/platform/totals');
    view.replaceChildren(
      el('h2', {}, 'All organisations'),
      figures([
        ['Organisations', number.format(totals.organisations), 'organisations'],
        ['Clicks', number.format(totals.totalClicks), 'clicked'],
        ['Waiting for confirmation', number.format(totals.pendingAttributions), 'pending'],
        ['Confirmed members', number.format(totals.confirmedAttributions), 'confirmed'],
      ]),
    );
    say('Showing totals across organisations.');
  }

  async function render(me, period, keepStatus) {
    const status = byId('status').textContent;
    if (me.role === 'peer_mentor') await mentorView(me);
    else if (me.role === 'platform_admin') await platformView();
    else await orgView(me, period);
    if (keepStatus) say(status);
  }

  async function start() {
    const token = new URLSearchParams(location.hash.slice(1)).get('token');
    // The token leaves the address bar (and the history) before anything else happens.
    if (token) history.replaceState(null, '', location.pathname + location.search);
    try {
      if (token) await api('/dashboard/session', { method: 'POST', body: JSON.stringify({ token }) });
      const me = await api('/api/v1/me');
      byId('who').textContent = `Signed in as ${me.displayName ?? 'a member'} (${me.role.replace('_', ' ')})${me.orgName ? `, ${me.orgName}` : ''}`;
      byId('sign-out').hidden = false;
      const params = new URLSearchParams(location.search);
      await render(me, { from: params.get('from'), to: params.get('to'), granularity: params.get('granularity') });
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        byId('sign-in').hidden = false;
        say(token ? 'That sign-in link is not valid any more: open the dashboard from your portal again.' : 'You are not signed in.');
      } else {
        say(`The dashboard could not load: ${error.message}. Try again in a moment.`);
      }
    }
  }

  start();
})();
