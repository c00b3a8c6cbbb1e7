// Reply fields the core holds serialized (electron/core/json-text.ts): the web host
// splices their bytes into its frame, every other client gets them decoded; both must
// be the message JSON.stringify would have made of the decoded value.
import { describe, expect, it } from 'vitest';
import type { HostMessage } from '../../shared/contract/index';
import { decodeJsonText, encodeHostMessage, jsonText } from '../../electron/core/json-text';

const value = { events: [{ seq: 1, text: 'naïve ☃ 𝄞 "quoted" \\ back\nslash \u0000 nul' }], n: [1, 2.5, -0] };
const bytes = Buffer.from(JSON.stringify(value), 'utf8');

function text(e: string | Buffer): string {
  return typeof e === 'string' ? e : e.toString('utf8');
}

describe('reply fields held as JSON text', () => {
  it('encode to the message JSON.stringify makes of the decoded value, beside plain fields and alone', () => {
    const cases: HostMessage[] = [
      { kind: 'res', id: 7, ok: true, result: { session: { id: 's', name: 'é' }, events: jsonText(bytes), version: 3 } },
      { kind: 'res', id: 8, ok: true, result: { events: jsonText(bytes) } },
      { kind: 'res', id: 9, ok: true, result: { a: jsonText(bytes), b: jsonText(Buffer.from('[]')), c: null } },
    ];
    for (const msg of cases) {
      const decoded = decodeJsonText(msg);
      const wire = encodeHostMessage(msg);
      expect(Buffer.isBuffer(wire)).toBe(true);
      expect(JSON.parse(text(wire))).toEqual(decoded);
      // The same text, field for field (only the order of a result's fields may differ).
      const r = (decoded as { result: Record<string, unknown> }).result;
      for (const [k, v] of Object.entries(r)) expect(JSON.stringify((JSON.parse(text(wire)) as { result: Record<string, unknown> }).result[k])).toBe(JSON.stringify(v));
    }
  });

  it('leave every other message as it was', () => {
    const plain: HostMessage[] = [
      { kind: 'res', id: 1, ok: true, result: { events: [] } },
      { kind: 'res', id: 2, ok: true, result: null },
      { kind: 'res', id: 3, ok: false, error: { code: 'NOT_FOUND', message: 'No session x' } },
      { kind: 'evt', name: 'notice', payload: { level: 'warning', message: 'w' } },
    ];
    for (const msg of plain) {
      expect(decodeJsonText(msg)).toBe(msg);
      expect(encodeHostMessage(msg)).toBe(JSON.stringify(msg));
    }
  });
});
