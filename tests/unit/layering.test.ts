// The layering rules are enforced by lint; these cases prove the rule bites.
import { describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';
import { resolve } from 'node:path';

const eslint = new ESLint({ cwd: resolve(__dirname, '../..') });

async function ruleHits(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: resolve(__dirname, '../..', file) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layer boundaries', () => {
  it('rejects wrong-way imports', async () => {
    expect(await ruleHits('renderer/src/x.ts', "import { app } from 'electron';\nexport const a = app;\n")).not.toEqual([]);
    expect(await ruleHits('renderer/src/x.ts', "import { ApolloCore } from '../../electron/core/app';\nexport const a = ApolloCore;\n")).not.toEqual([]);
    expect(await ruleHits('renderer/src/x.ts', "import { readFile } from 'node:fs';\nexport const a = readFile;\n")).not.toEqual([]);
    expect(await ruleHits('shared/x.ts', "import { useState } from 'react';\nexport const a = useState;\n")).not.toEqual([]);
    expect(await ruleHits('shared/x.ts', "import { join } from 'node:path';\nexport const a = join;\n")).not.toEqual([]);
    expect(await ruleHits('electron/core/x.ts', "import { app } from 'electron';\nexport const a = app;\n")).not.toEqual([]);
  });

  it('allows the right-way imports', async () => {
    expect(await ruleHits('renderer/src/x.ts', "import { commands } from '../../shared/contract/index';\nexport const a = commands;\n")).toEqual([]);
    expect(await ruleHits('electron/main/x.ts', "import { app } from 'electron';\nexport const a = app;\n")).toEqual([]);
    expect(await ruleHits('electron/core/x.ts', "import { join } from 'node:path';\nexport const a = join;\n")).toEqual([]);
  });
});
