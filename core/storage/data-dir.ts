/**
 * A Millrace data directory: a marker file that names the format version, and the LMDB environment
 * beside it. Opening refuses a directory that holds something else, or a newer format, before
 * anything is written, so a wrong path never gets overwritten.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MillraceError } from '../errors.js';

/** Version of the on-disk layout (marker, LMDB databases and keys). Bump on any incompatible change. */
export const DATA_DIR_FORMAT_VERSION = 1;
/** The marker file's name; its presence is what makes a directory a Millrace data directory. */
export const MARKER_FILE = 'MILLRACE';
/** The LMDB environment's file name inside the data directory. */
export const LOG_FILE = 'log.mdb';

interface Marker {
  format: number;
  createdAt: string;
}

/**
 * Makes sure `dataDir` is a Millrace data directory of a version this build reads, creating it
 * (and the marker) when the directory is missing or empty. Returns the absolute path.
 */
export function prepareDataDir(dataDir: string): string {
  if (typeof dataDir !== 'string' || dataDir.length === 0 || dataDir.includes('\0')) {
    throw new MillraceError('INVALID_ARGUMENT', `dataDir must be a non-empty path string without NUL, got ${JSON.stringify(dataDir)}`);
  }
  const dir = resolve(dataDir);
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new MillraceError('DATA_DIR_INVALID', `${dir} is a file, not a directory; a data directory must be a directory`);
  }
  mkdirSync(dir, { recursive: true });
  const markerPath = join(dir, MARKER_FILE);
  if (!existsSync(markerPath)) {
    const others = readdirSync(dir);
    if (others.length > 0) {
      throw new MillraceError('DATA_DIR_INVALID',
        `${dir} is not empty and has no ${MARKER_FILE} marker, so it is not a Millrace data directory ` +
        `(found ${others.slice(0, 3).join(', ')}${others.length > 3 ? ', ...' : ''}); use an empty or new directory`);
    }
    const marker: Marker = { format: DATA_DIR_FORMAT_VERSION, createdAt: new Date().toISOString() };
    // Write-then-rename so a crash never leaves a half-written marker.
    writeFileSync(`${markerPath}.tmp`, `${JSON.stringify(marker)}\n`);
    renameSync(`${markerPath}.tmp`, markerPath);
    return dir;
  }
  let marker: Partial<Marker>;
  try {
    marker = JSON.parse(readFileSync(markerPath, 'utf8')) as Partial<Marker>;
  } catch (cause) {
    throw new MillraceError('DATA_DIR_INVALID', `${markerPath} is not a readable Millrace marker`, { cause });
  }
  if (typeof marker.format !== 'number' || !Number.isInteger(marker.format) || marker.format < 1) {
    throw new MillraceError('DATA_DIR_INVALID', `${markerPath} has no valid format version`);
  }
  if (marker.format > DATA_DIR_FORMAT_VERSION) {
    throw new MillraceError('DATA_DIR_VERSION_UNSUPPORTED',
      `${dir} has format version ${marker.format}; this build reads up to ${DATA_DIR_FORMAT_VERSION}. Upgrade Millrace to open it`);
  }
  return dir;
}
