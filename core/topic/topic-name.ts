import { MillraceError } from '../errors.js';

/**
 * Topic and namespace names, in Pulsar's forms.
 *
 * Accepted inputs (as Pulsar's `TopicName`):
 *   `persistent://tenant/namespace/local`   the full form
 *   `tenant/namespace/local`                short form, domain `persistent`
 *   `local`                                 short form in `public/default`
 * Pulsar's legacy four-segment form (`tenant/cluster/namespace/local`) is refused.
 *
 * Every segment must match Pulsar's `NamedEntity` pattern `^[-=:.\w]*$` (Java `\w` is
 * `[a-zA-Z0-9_]`), non-empty. Pulsar applies that pattern to tenants and namespaces and is looser
 * with local names; Millrace applies it to all three, because the name becomes an LMDB key and
 * later a directory or object-store path, and a narrow alphabet keeps it one path segment that
 * needs no escaping. `%` is not allowed: Pulsar's comment on `NamedEntity` mentions it for URL
 * encoding, but its pattern does not accept it.
 */

/** Pulsar's default tenant and namespace for a one-segment short name. */
export const PUBLIC_TENANT = 'public';
export const DEFAULT_NAMESPACE = 'default';

/** The suffix that names partition `n` of a partitioned topic: `<base>-partition-<n>`. */
export const PARTITION_SUFFIX = '-partition-';

/**
 * 255 UTF-8 bytes for a whole name: the name is part of LMDB keys (LMDB's default max key size is
 * 511 bytes, and the key carries more than the name) and later one segment of an object-store path
 * (255 bytes is the common file-name limit, ext4/APFS/NTFS).
 */
export const MAX_TOPIC_NAME_BYTES = 255;

/** Largest partition index: Pulsar parses it with `Integer.parseInt`. */
const MAX_PARTITION_INDEX = 2 ** 31 - 1;

const SEGMENT = /^[a-zA-Z0-9_\-=:.]+$/;
const ALLOWED = 'letters a-z A-Z, digits 0-9 and _ - = : .';

/** The domain part of a full topic name. Only persistent topics exist for now. */
export type TopicDomain = 'persistent';

/** A parsed, validated topic name; see {@link parseTopicName}. */
export class TopicName {
  /** @internal Use {@link parseTopicName}: it validates, this does not. */
  constructor(
    /** Always `persistent` for now. */
    readonly domain: TopicDomain,
    readonly tenant: string,
    readonly namespace: string,
    /** The last segment, partition suffix included (`orders-partition-2`). */
    readonly localName: string,
    /** `n` when the local name ends `-partition-<n>`, else -1. */
    readonly partitionIndex: number,
  ) {}

  /** True when this names one partition of a partitioned topic. */
  get isPartition(): boolean {
    return this.partitionIndex !== -1;
  }

  /** `tenant/namespace`. */
  get namespaceName(): string {
    return `${this.tenant}/${this.namespace}`;
  }

  /** The full name without the partition suffix: the partitioned topic this partition belongs to. */
  get baseName(): string {
    const full = this.toString();
    if (this.partitionIndex === -1) return full;
    return full.slice(0, full.length - PARTITION_SUFFIX.length - String(this.partitionIndex).length);
  }

  /** The full form, `persistent://tenant/namespace/local`. */
  toString(): string {
    return `${this.domain}://${this.tenant}/${this.namespace}/${this.localName}`;
  }

  /** True when both name the same topic (their full forms are equal). */
  equals(other: TopicName): boolean {
    return this.toString() === other.toString();
  }
}

/** A parsed, validated `tenant/namespace`; see {@link parseNamespace}. */
export class NamespaceName {
  /** @internal Use {@link parseNamespace}. */
  constructor(readonly tenant: string, readonly namespace: string) {}

  /** `tenant/namespace`. */
  toString(): string {
    return `${this.tenant}/${this.namespace}`;
  }
}

function invalid(message: string): MillraceError {
  return new MillraceError('TOPIC_NAME_INVALID', message, { retriable: false });
}

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0)!;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  // Control characters and NUL would garble a log line if printed raw.
  return cp < 0x20 || cp === 0x7f ? hex : `'${ch}' (${hex})`;
}

/** Throws unless `seg` is one non-empty segment of allowed characters and not `.` or `..`. */
function checkSegment(seg: string, what: string, name: string): void {
  if (seg.length === 0) throw invalid(`topic name has an empty ${what}: ${JSON.stringify(name)}`);
  if (!SEGMENT.test(seg)) {
    for (const ch of seg) {
      if (!/[a-zA-Z0-9_\-=:.]/.test(ch)) {
        throw invalid(`topic name ${JSON.stringify(name)} has ${describeChar(ch)} in its ${what}; allowed: ${ALLOWED}`);
      }
    }
  }
  // `.` and `..` as a whole segment would step out of the topic's directory once names become paths.
  if (seg === '.' || seg === '..') {
    throw invalid(`topic name ${JSON.stringify(name)} has '${seg}' as its ${what}; '.' and '..' are not allowed as a whole segment`);
  }
}

/** Pulsar's partition index rule: a canonical decimal (no sign, no leading zero) that fits an int. */
function partitionIndexOf(localName: string): number {
  const at = localName.lastIndexOf(PARTITION_SUFFIX);
  if (at === -1) return -1;
  const digits = localName.slice(at + PARTITION_SUFFIX.length);
  if (!/^(0|[1-9][0-9]{0,9})$/.test(digits)) return -1;
  const n = Number(digits);
  return n <= MAX_PARTITION_INDEX ? n : -1;
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Parses and validates a topic name in any of Pulsar's forms (see the module comment).
 *
 * @throws MillraceError `TOPIC_NAME_INVALID` naming what is wrong and what is allowed: an empty or
 *   missing segment, a character outside `[a-zA-Z0-9_\-=:.]`, `.` or `..` as a segment, a domain
 *   other than `persistent`, or a full name over {@link MAX_TOPIC_NAME_BYTES} UTF-8 bytes.
 */
export function parseTopicName(name: string): TopicName {
  if (typeof name !== 'string') throw invalid(`a topic name must be a string, got ${typeof name}`);
  // Every UTF-16 unit is at least one UTF-8 byte and a short form only grows when expanded, so a
  // longer input can never fit; checking first keeps a huge input from reaching the scans below.
  if (name.length > MAX_TOPIC_NAME_BYTES) {
    throw invalid(`topic name is longer than ${MAX_TOPIC_NAME_BYTES} bytes (${name.length} characters or more): ${JSON.stringify(name.slice(0, 64))}...`);
  }
  let domain = 'persistent';
  let rest = name;
  const sep = name.indexOf('://');
  if (sep !== -1) {
    domain = name.slice(0, sep);
    rest = name.slice(sep + 3);
    if (domain === 'non-persistent') {
      throw invalid(`non-persistent topics are not supported yet: ${JSON.stringify(name)}; use persistent://`);
    }
    if (domain !== 'persistent') {
      throw invalid(`topic name ${JSON.stringify(name)} has domain ${JSON.stringify(domain)}; allowed: persistent://tenant/namespace/topic`);
    }
  }
  const parts = rest.split('/');
  let tenant: string, namespace: string, localName: string;
  if (parts.length === 3) {
    [tenant, namespace, localName] = parts as [string, string, string];
  } else if (parts.length === 1 && sep === -1) {
    [tenant, namespace, localName] = [PUBLIC_TENANT, DEFAULT_NAMESPACE, parts[0]!];
  } else {
    throw invalid(
      `topic name ${JSON.stringify(name)} has ${parts.length} segments; expected persistent://tenant/namespace/topic, ` +
        `tenant/namespace/topic or topic ('/' separates segments and may not appear inside one)`,
    );
  }
  checkSegment(tenant, 'tenant', name);
  checkSegment(namespace, 'namespace', name);
  checkSegment(localName, 'local name', name);
  const partitionIndex = partitionIndexOf(localName);
  if (partitionIndex !== -1) {
    // The base of a partition becomes a name of its own (the partitioned topic's metadata key), so it
    // must pass the same checks: `-partition-0` alone or `..-partition-0` would not.
    const base = localName.slice(0, localName.length - PARTITION_SUFFIX.length - String(partitionIndex).length);
    if (base.length === 0) throw invalid(`topic name ${JSON.stringify(name)} is a partition suffix with no base name before it`);
    checkSegment(base, 'base name (before -partition-N)', name);
  }
  const topic = new TopicName(domain as TopicDomain, tenant, namespace, localName, partitionIndex);
  const bytes = utf8Length(topic.toString());
  if (bytes > MAX_TOPIC_NAME_BYTES) {
    throw invalid(`topic name ${JSON.stringify(topic.toString())} is ${bytes} bytes in full form; at most ${MAX_TOPIC_NAME_BYTES} are allowed`);
  }
  return topic;
}

/**
 * The full name of partition `i` of the partitioned topic `base` (any form): `<base>-partition-<i>`.
 *
 * @throws MillraceError `TOPIC_NAME_INVALID` when `base` is invalid, is itself a partition, or the
 *   partition name would be too long; `INVALID_ARGUMENT` when `i` is not an integer in [0, 2^31).
 */
export function partitionTopicName(base: string, i: number): string {
  if (!Number.isInteger(i) || i < 0 || i > MAX_PARTITION_INDEX) {
    throw new MillraceError('INVALID_ARGUMENT', `partition index must be an integer from 0 to ${MAX_PARTITION_INDEX}, got ${i}`);
  }
  const t = parseTopicName(base);
  if (t.isPartition) throw invalid(`${t.toString()} is already partition ${t.partitionIndex}; give the base topic name`);
  return parseTopicName(`${t.toString()}${PARTITION_SUFFIX}${i}`).toString();
}

/**
 * Parses and validates `tenant/namespace`, each segment under the topic segment rules.
 *
 * @throws MillraceError `TOPIC_NAME_INVALID` naming what is wrong and what is allowed.
 */
export function parseNamespace(ns: string): NamespaceName {
  if (typeof ns !== 'string') throw invalid(`a namespace must be a string, got ${typeof ns}`);
  if (ns.length > MAX_TOPIC_NAME_BYTES) throw invalid(`namespace is longer than ${MAX_TOPIC_NAME_BYTES} bytes: ${JSON.stringify(ns.slice(0, 64))}...`);
  const parts = ns.split('/');
  if (parts.length !== 2) {
    throw invalid(`namespace ${JSON.stringify(ns)} has ${parts.length} segments; expected tenant/namespace`);
  }
  checkSegment(parts[0]!, 'tenant', ns);
  checkSegment(parts[1]!, 'namespace', ns);
  return new NamespaceName(parts[0]!, parts[1]!);
}
