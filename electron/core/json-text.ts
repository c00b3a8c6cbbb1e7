// A field of a reply that the core already holds serialized (the events of a session's
// kept open view, open-view.ts, read from disk as the JSON text it was written as). The
// web host splices its bytes into the message it sends instead of decoding them into
// objects only to encode them again: on the 2,500-step session that decode and encode
// were ~250 ms of a 7.8 MB reply, plus ~80 ms to turn the string back into bytes.
// Every other connection (the Electron host's IPC, which clones objects, and in-process
// clients) gets the field decoded, so nothing outside the core ever sees a JsonText.
import type { HostMessage } from '../../shared/contract/index';

export class JsonText {
  /** `bytes`: UTF-8 JSON text of one value, checked by whoever made it (open-view.ts hashes it). */
  constructor(readonly bytes: Buffer) {}
}

/**
 * The value of type `T` that `bytes` serialize, as a reply field. Only top-level fields of
 * a reply's result are looked at by the hosts (see decodeJsonText, encodeHostMessage).
 */
export function jsonText<T>(bytes: Buffer): T {
  return new JsonText(bytes) as unknown as T;
}

function rawFields(msg: HostMessage): Record<string, unknown> | null {
  if (msg.kind !== 'res' || !msg.ok || !msg.result || typeof msg.result !== 'object') return null;
  const result = msg.result as Record<string, unknown>;
  for (const v of Object.values(result)) if (v instanceof JsonText) return result;
  return null;
}

/** The message with its JsonText fields decoded into values (the same message when it has none). */
export function decodeJsonText(msg: HostMessage): HostMessage {
  const result = rawFields(msg);
  if (!result) return msg;
  const decoded: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(result)) decoded[k] = v instanceof JsonText ? (JSON.parse(v.bytes.toString('utf8')) as unknown) : v;
  return { ...msg, result: decoded } as HostMessage;
}

/** The message as the JSON text a socket sends: a string, or bytes with the JsonText fields spliced in. */
export function encodeHostMessage(msg: HostMessage): string | Buffer {
  const result = rawFields(msg);
  if (!result || msg.kind !== 'res') return JSON.stringify(msg);
  const plain: Record<string, unknown> = {};
  const raw: Array<[string, Buffer]> = [];
  for (const [k, v] of Object.entries(result)) {
    if (v instanceof JsonText) raw.push([k, v.bytes]);
    else plain[k] = v;
  }
  // The result is the message's last member, so its text ends with the two closing braces.
  const head = JSON.stringify({ kind: msg.kind, id: msg.id, ok: true, result: plain });
  const parts: Buffer[] = [Buffer.from(head.slice(0, -2), 'utf8')];
  let first = Object.keys(plain).length === 0;
  for (const [k, bytes] of raw) {
    parts.push(Buffer.from(`${first ? '' : ','}${JSON.stringify(k)}:`, 'utf8'), bytes);
    first = false;
  }
  parts.push(Buffer.from('}}', 'utf8'));
  return Buffer.concat(parts);
}
