// Set up before every end-to-end file (vitest.config.ts, project e2e). The files share
// their worker and its Chromium, so what one leaves open would live on into the next: its
// afterAll, registered first, runs after the file's own (vitest runs after-hooks in
// reverse), closes what is still open and fails the file that left it.
import { afterAll } from 'vitest';
import { closeFileLeftovers } from './harness';

afterAll(async () => {
  const left = await closeFileLeftovers();
  if (left.length) throw new Error(`this file left open: ${left.join('; ')}`);
});
