const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Drop the first `skipBytes` UTF-8 bytes of `text` (used where a live chunk overlaps the replay). */
export function dropUtf8Prefix(text: string, skipBytes: number): string {
  if (skipBytes <= 0) return text;
  const bytes = encoder.encode(text);
  if (skipBytes >= bytes.length) return '';
  let start = skipBytes;
  // Never start in the middle of a character.
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
  return decoder.decode(bytes.subarray(start));
}
