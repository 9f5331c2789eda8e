#!/usr/bin/env node
// npm records an optional platform package in package-lock.json only if the registry served it. This
// workplace's registry lacks some of @swc/core's other-platform builds, and `npm ci` then refuses the lock
// file ("Missing: @swc/core-darwin-arm64 from lock file"). This adds a lock entry, os/cpu only, for every
// optional dependency the lock names but lacks: npm ci skips them on other platforms without fetching.
// Run it after `npm install` changes the lock file: `node scripts/complete-lockfile.js`.
const fs = require('node:fs');
const path = require('node:path');

const file = path.join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const platforms = /(darwin|linux|win32|freebsd|android|sunos|aix|openbsd)/;
const cpus = /(arm64|x64|ia32|arm|ppc64|s390x|riscv64|loong64)/;
const added = [];
for (const [where, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const top = `node_modules/${name}`;
    if (lock.packages[top] || lock.packages[`${where}/node_modules/${name}`]) continue;
    const os = platforms.exec(name)?.[1];
    const cpu = cpus.exec(name)?.[1];
    if (!os || !cpu) continue;
    lock.packages[top] = { version: version.replace(/^[\^~]/, ''), cpu: [cpu], os: [os], optional: true };
    added.push(name);
  }
}
fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(added.length ? `added lock entries: ${added.join(', ')}` : 'lock file already complete');
