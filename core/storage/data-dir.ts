/**
 * A Millrace data directory: a marker file that names the format version, and the LMDB environment
 * beside it. Opening refuses a directory that holds something else, or a newer format, before
 * anything is written, so a wrong path never gets overwritten.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { hostname } from 'node:os';
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

/** The lock file's name: which process has the data directory open (see {@link lockDataDir}). */
export const LOCK_FILE = 'MILLRACE.lock';

/** A held data directory lock. */
export interface DataDirLock {
  /** The lock file. */
  readonly path: string;
  /** Removes the lock file if this process still owns it. Idempotent. */
  release(): void;
}

interface LockOwner {
  pid: number;
  hostname: string;
  since: string;
}

// Lock files this process holds: a second open from this process is refused too, and a file naming
// this pid that is not in here was left by an earlier process that had the same pid (pid 1 in a
// container restarted after a crash), so it is stale.
const held = new Set<string>();
// A lock file is written right after it is created; an unreadable one younger than this may be
// mid-write by a live process, an older one was left by a process that died in between.
const UNREADABLE_STALE_MS = 5_000;

/**
 * Takes the data directory's process lock, preparing the directory as {@link prepareDataDir} does.
 *
 * Two processes must never open one data directory: LMDB itself allows it, but each broker keeps
 * its open ledgers in memory, and the second one's recovery seals the first one's open ledger, so
 * entries the first appends afterwards (and acknowledged) are lost. The lock is a file created
 * exclusively, holding the owner's pid and host name; a file whose pid is no longer alive on this
 * host is stale and taken over. DATA_DIR_LOCKED while a live process (or a process on another host,
 * whose liveness cannot be checked) holds it.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const dir = prepareDataDir(dataDir);
  const path = join(dir, LOCK_FILE);
  if (held.has(path)) throw new MillraceError('DATA_DIR_LOCKED', `${dir} is already open in this process; close the broker that opened it first`);
  const owner: LockOwner = { pid: process.pid, hostname: hostname(), since: new Date().toISOString() };
  const text = `${JSON.stringify(owner)}\n`;
  // A few attempts: a stale file removed here may be replaced by another process's lock meanwhile.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, text, { flag: 'wx' });
      held.add(path);
      let released = false;
      return {
        path,
        release(): void {
          if (released) return;
          released = true;
          held.delete(path);
          if (readText(path) === text) rmSync(path, { force: true });
        },
      };
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new MillraceError('STORAGE_WRITE_FAILED', `cannot create the lock file ${path}`, { cause, retriable: false });
      }
    }
    const seen = readText(path);
    if (seen === undefined) continue;
    const holder = liveHolder(path, seen);
    if (holder !== undefined) {
      throw new MillraceError('DATA_DIR_LOCKED',
        `${dir} is in use by ${holder}; close that process first (if no Millrace process uses the directory, delete ${path})`);
    }
    // Remove the stale file only if it is still the one judged stale, not a lock taken meanwhile.
    // (Two processes taking over one stale lock at the same instant can still race; both would
    // have to find it stale within microseconds of each other.)
    if (readText(path) === seen) rmSync(path, { force: true });
  }
  throw new MillraceError('DATA_DIR_LOCKED', `${dir}: another process keeps taking its lock file ${path}`);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Who holds the lock file with this content, or undefined when it is stale. */
function liveHolder(path: string, text: string): string | undefined {
  let owner: Partial<LockOwner> | undefined;
  try {
    owner = JSON.parse(text) as Partial<LockOwner>;
  } catch {
    owner = undefined;
  }
  if (!owner || typeof owner.pid !== 'number' || !Number.isInteger(owner.pid) || owner.pid < 1 || typeof owner.hostname !== 'string') {
    let age = Infinity;
    try {
      age = Date.now() - statSync(path).mtimeMs;
    } catch { /* gone: stale */ }
    return age < UNREADABLE_STALE_MS ? 'a process that is creating its lock file' : undefined;
  }
  const who = `process ${owner.pid} on ${owner.hostname}${typeof owner.since === 'string' ? ` (since ${owner.since})` : ''}`;
  if (owner.hostname !== hostname()) return who;
  if (owner.pid === process.pid) return undefined;
  try {
    process.kill(owner.pid, 0);
    return who;
  } catch (err) {
    // EPERM: alive, but another user's.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? who : undefined;
  }
}
