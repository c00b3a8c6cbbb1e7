// Draws the app icon (an orbit around a sun: "Apollo") and writes it in the forms
// electron-builder wants under resources/build: icon.png (1024 px; Linux, and the
// source it scales), icon.icns (macOS) and icon.ico (Windows), with no image tools
// installed: PNG is encoded here, and ICNS and ICO hold PNG images.
// Run: node scripts/make-icons.mjs
import { deflateSync } from 'node:zlib';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'resources', 'build');

/** RGBA pixels of the icon at `size` px, drawn with 4x4 supersampling. */
function draw(size) {
  const px = Buffer.alloc(size * size * 4);
  const S = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const u = ((x + (sx + 0.5) / S) / size) * 2 - 1;
          const v = ((y + (sy + 0.5) / S) / size) * 2 - 1;
          const c = shade(u, v);
          r += c[0] * c[3]; g += c[1] * c[3]; b += c[2] * c[3]; a += c[3];
        }
      }
      const i = (y * size + x) * 4;
      const n = S * S;
      px[i] = a ? Math.round(r / a) : 0;
      px[i + 1] = a ? Math.round(g / a) : 0;
      px[i + 2] = a ? Math.round(b / a) : 0;
      px[i + 3] = Math.round((a / n) * 255);
    }
  }
  return px;
}

/** Colour [r, g, b, alpha 0..1] at (u, v) in [-1, 1]². */
function shade(u, v) {
  // Rounded square tile, as the platforms' own icons are.
  const k = 0.82, rad = 0.22;
  const qx = Math.max(Math.abs(u) - (k - rad), 0), qy = Math.max(Math.abs(v) - (k - rad), 0);
  if (Math.hypot(qx, qy) > rad) return [0, 0, 0, 0];
  const d = Math.hypot(u, v);
  // The sun.
  if (d < 0.26) return [255, Math.round(196 - d * 120), 64, 1];
  // An orbit (tilted ellipse) with a small planet on it.
  const t = -0.5;
  const eu = u * Math.cos(t) - v * Math.sin(t), ev = u * Math.sin(t) + v * Math.cos(t);
  const e = Math.hypot(eu / 0.62, ev / 0.3);
  if (Math.hypot(eu - 0.5, ev + 0.17) < 0.09) return [120, 220, 255, 1];
  if (Math.abs(e - 1) < 0.05) return [150, 190, 255, 1];
  // Night-blue background, lighter towards the top.
  return [Math.round(20 + (1 - v) * 10), Math.round(30 + (1 - v) * 18), Math.round(66 + (1 - v) * 30), 1];
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
function png(size) {
  const px = draw(size);
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    px.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

/** ICO with PNG entries (Windows Vista and later read them). */
function ico(images) {
  const head = Buffer.alloc(6 + images.length * 16);
  head.writeUInt16LE(0, 0);
  head.writeUInt16LE(1, 2);
  head.writeUInt16LE(images.length, 4);
  let offset = head.length;
  images.forEach(({ size, data }, i) => {
    const e = 6 + i * 16;
    head[e] = size >= 256 ? 0 : size;
    head[e + 1] = size >= 256 ? 0 : size;
    head.writeUInt16LE(1, e + 4); // planes
    head.writeUInt16LE(32, e + 6); // bits per pixel
    head.writeUInt32LE(data.length, e + 8);
    head.writeUInt32LE(offset, e + 12);
    offset += data.length;
  });
  return Buffer.concat([head, ...images.map((i) => i.data)]);
}

/** ICNS with PNG entries (ic07 128, ic08 256, ic09 512, ic10 1024). */
function icns(entries) {
  const parts = entries.map(({ type, data }) => {
    const h = Buffer.alloc(8);
    h.write(type, 0, 'ascii');
    h.writeUInt32BE(data.length + 8, 4);
    return Buffer.concat([h, data]);
  });
  const total = 8 + parts.reduce((n, p) => n + p.length, 0);
  const h = Buffer.alloc(8);
  h.write('icns', 0, 'ascii');
  h.writeUInt32BE(total, 4);
  return Buffer.concat([h, ...parts]);
}

mkdirSync(out, { recursive: true });
const bySize = new Map([16, 24, 32, 48, 64, 128, 256, 512, 1024].map((s) => [s, png(s)]));
writeFileSync(join(out, 'icon.png'), bySize.get(1024));
writeFileSync(join(out, 'icon.ico'), ico([16, 24, 32, 48, 64, 128, 256].map((size) => ({ size, data: bySize.get(size) }))));
writeFileSync(join(out, 'icon.icns'), icns([['ic07', 128], ['ic08', 256], ['ic09', 512], ['ic10', 1024]].map(([type, s]) => ({ type, data: bySize.get(s) }))));
console.log(`icons written to ${out}`);
