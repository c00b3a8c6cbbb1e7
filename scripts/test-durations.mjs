// Writes tests/durations.json (seconds per test file) from a vitest JSON report, for the
// sequencer in vitest.config.ts to start a clean clone's first run longest first:
//   node node_modules/vitest/vitest.mjs run --reporter=json --outputFile=/tmp/run.json
//   node scripts/test-durations.mjs /tmp/run.json
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const report = process.argv[2];
if (!report) {
  console.error('usage: node scripts/test-durations.mjs VITEST-JSON-REPORT');
  process.exit(2);
}
const { testResults } = JSON.parse(readFileSync(report, 'utf8'));
const seconds = Object.fromEntries(
  testResults
    .map((f) => [relative(root, f.name), Math.round((f.endTime - f.startTime) / 100) / 10])
    .sort(([a], [b]) => (a < b ? -1 : 1)),
);
writeFileSync(join(root, 'tests', 'durations.json'), `${JSON.stringify(seconds, null, 1)}\n`);
console.log(`tests/durations.json: ${Object.keys(seconds).length} files`);
