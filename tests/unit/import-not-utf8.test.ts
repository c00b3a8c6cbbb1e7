// An input that is not UTF-8 is refused with where it goes wrong, and nothing of it is
// kept: decoding it anyway would replace the bytes with U+FFFD, a session holding text
// its source never had.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportWorkspace } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

const line = (content: string) => JSON.stringify({ messages: [{ role: 'user', content: 'go' }, { role: 'assistant', content }] });

describe('inputs that are not UTF-8', () => {
  it('JSON Lines: refused, naming the line; nothing imported', async () => {
    const file = join(w.root, 'bad.jsonl');
    const good = Buffer.from(`${line('one')}\n${line('two')}\n`);
    const bad = Buffer.concat([Buffer.from(line('upl').slice(0, -3)), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}\n')]);
    await writeFile(file, Buffer.concat([good, bad]));
    const before = w.ws.list().length;
    await expect(w.import(file)).rejects.toThrow(/bad\.jsonl, line 3: is not UTF-8 text/);
    expect(w.ws.list().length).toBe(before);
  });

  it('a JSON file: refused; the same text in UTF-8 imports', async () => {
    const traj = {
      info: { mini_version: '1.15.0', exit_status: 'Submitted' }, trajectory_format: 'mini-swe-agent-1',
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Fix the caf\u00e9 menu.' },
        { role: 'assistant', content: 'Looking at the caf\u00e9 files.\n\n```bash\nls\n```' },
        { role: 'user', content: '<returncode>0</returncode>\n<output>\nmenu.py\n</output>' },
      ],
    };
    const file = join(w.root, 'bad.traj.json');
    await writeFile(file, Buffer.from(JSON.stringify(traj), 'latin1'));
    const before = w.ws.list().length;
    await expect(w.import(file)).rejects.toThrow(/bad\.traj\.json, line 1: is not UTF-8 text/);
    expect(w.ws.list().length).toBe(before);
    const ok = join(w.root, 'ok.traj.json');
    await writeFile(ok, JSON.stringify(traj));
    const { sessions } = await w.import(ok);
    expect(sessions[0]!.main[0]!.response!.content).toContain('caf\u00e9');
  });
});
