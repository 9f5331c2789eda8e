import { startTemporal } from '../src/stack/temporal';
import { execSync } from 'node:child_process';
(async () => {
  const t = await startTemporal({ namespace: 'default', cliPath: process.env.HOME + '/.cache/referral-attribution/temporal-cli-v1.5.1/temporal', port: 7299, log: console.log });
  console.log('started', t.address);
  const t0 = Date.now();
  await t.stop().then(() => console.log('stop resolved', Date.now() - t0), (e) => console.log('stop failed', e));
  try { console.log(execSync('pgrep -fa "port 7299"').toString()); } catch { console.log('no server left'); }
  await new Promise((r) => setTimeout(r, 2000));
  try { console.log('after 2s', execSync('pgrep -fa "port 7299"').toString()); } catch { console.log('after 2s: no server left'); }
})();
