import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import type { LambdaArchitecture } from './stage-config';

/** ELF `e_machine` values of the two Lambda architectures. */
export const ELF_MACHINES: Readonly<Record<LambdaArchitecture, number>> = { x86_64: 0x3e, arm64: 0xb7 };

/** What a zip's `bootstrap` was built for: a Lambda architecture, or why it is not one. */
export type BootstrapKind =
  | { readonly kind: 'elf'; readonly architecture: LambdaArchitecture }
  | { readonly kind: 'other'; readonly description: string };

/**
 * Reads the ELF header of the `bootstrap` entry of a Lambda zip, without unpacking the zip: the
 * central directory names the entry, and only its first bytes are inflated. Throws when the file
 * is not a zip or holds no `bootstrap`; anything else (a script, another CPU) is reported as
 * `other` so the caller can say what to build instead.
 */
export function bootstrapKind(zipFile: string): BootstrapKind {
  const header = readEntryPrefix(fs.readFileSync(zipFile), 'bootstrap', zipFile);
  return elfKind(header);
}

/** Classifies the first bytes of an executable by its ELF header. */
export function elfKind(header: Buffer): BootstrapKind {
  if (header.length < 20 || header.readUInt32BE(0) !== 0x7f454c46) {
    const start = header.subarray(0, 2).toString('latin1');
    return { kind: 'other', description: start === '#!' ? 'a script, not an ELF executable' : 'not an ELF executable' };
  }
  // EI_DATA (byte 5): 1 = little endian, 2 = big endian; e_machine is the u16 at offset 18.
  const machine = header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
  for (const [architecture, value] of Object.entries(ELF_MACHINES) as [LambdaArchitecture, number][]) {
    if (machine === value) return { kind: 'elf', architecture };
  }
  return { kind: 'other', description: `an ELF executable for machine 0x${machine.toString(16)}, neither x86_64 nor arm64` };
}

// Zip record signatures and the offsets used below (APPNOTE.TXT, sections 4.3.7, 4.3.12, 4.3.16).
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_DIRECTORY_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;
/** Enough of a deflated stream to yield an ELF header (64 bytes) many times over. */
const PREFIX_BYTES = 4096;

function readEntryPrefix(zip: Buffer, name: string, where: string): Buffer {
  const fail = (why: string): never => {
    throw new Error(`Lambda artifact ${where}: ${why}`);
  };
  // The end record is the last 22 bytes unless the zip has a comment (at most 65,535 bytes).
  let end = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === END_OF_CENTRAL_DIRECTORY) {
      end = i;
      break;
    }
  }
  if (end < 0) return fail('not a zip file (no end of central directory); run scripts/build to produce it');
  const entries = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  for (let n = 0; n < entries; n++) {
    if (offset + 46 > zip.length || zip.readUInt32LE(offset) !== CENTRAL_DIRECTORY_HEADER) {
      return fail('corrupt zip central directory');
    }
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localOffset = zip.readUInt32LE(offset + 42);
    const entryName = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    offset += 46 + nameLength + extraLength + commentLength;
    if (entryName !== name) continue;

    if (compressedSize === 0xffffffff || localOffset === 0xffffffff) return fail('zip64 archives are not supported');
    if (zip.readUInt32LE(localOffset) !== LOCAL_FILE_HEADER) return fail(`corrupt local header of ${name}`);
    const dataStart = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const data = zip.subarray(dataStart, dataStart + Math.min(compressedSize, PREFIX_BYTES));
    if (method === STORED) return data;
    if (method === DEFLATED) {
      // A sync flush returns what the prefix decodes to instead of failing on the cut-off stream.
      return zlib.inflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    }
    return fail(`${name} uses zip compression method ${method} (expected stored or deflated)`);
  }
  return fail(`no ${name} entry in the zip (a Lambda on provided.al2023 runs ./${name})`);
}
