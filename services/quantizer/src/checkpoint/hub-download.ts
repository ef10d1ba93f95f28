/**
 * `hf:<repo_id>[@revision]` sources: fetches config.json and the safetensors weights from a Hugging
 * Face hub (or a mirror) into a cache directory, then the ordinary directory loader reads them.
 *
 * The cache is keyed by repo and revision *name*, so a second start with the same source makes no
 * network request at all, even if a branch such as `main` has moved since: reproducible starts
 * matter more here than following a branch. Pin a commit hash as the revision to be explicit.
 *
 * Nothing under a final file name is ever partial: bytes go to `<file>.part` (kept across runs so an
 * interrupted download resumes with a Range request), which is renamed only after its size and,
 * where the hub states it, its sha256 have been checked. `.complete` is written last, once every
 * file is in place; it is what lets the next call skip the network.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from './checkpoint-error.js';
import { CONFIG_FILE, INDEX_FILE, parseSafetensorsIndex, SINGLE_WEIGHTS_FILE } from './hf-checkpoint.js';
import { pickledCheckpointMessage } from './pickled.js';
import type { ByteProgress } from './progress-printer.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
const COMPLETE_MARKER = '.complete';
const PICKLED_NAMES = ['pytorch_model.bin', 'pytorch_model.bin.index.json'];
const MAX_REDIRECTS = 10;

export interface HubSource {
  /** `name` or `org/name`. */
  repo: string;
  /** Branch, tag or commit; default `main`. */
  revision: string;
}

export interface HubDownloadOptions {
  /** Where downloads are kept, e.g. `<models volume>/.hub-cache`. */
  cacheDir: string;
  /** The hub base URL (the caller passes HF_ENDPOINT); default https://huggingface.co. */
  endpoint?: string;
  /** Sent as a Bearer token to the hub (the caller passes HF_TOKEN); never sent to other hosts. */
  token?: string;
  onProgress?: (p: ByteProgress) => void;
  /** Give up when a request makes no progress for this long. Default 30 s. */
  timeoutMs?: number;
}

// Hub naming rules (huggingface_hub's validate_repo_id): word characters, '-', '.', at most one '/',
// no '--' or '..'. Those rules are also what make the cache path below injective and safe.
const REPO_PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$/;
const REVISION = /^[A-Za-z0-9_][A-Za-z0-9_.\/-]{0,254}$/;
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

function invalidId(spec: string, why: string): never {
  throw new CheckpointError(`invalid hub source "${spec}": ${why}; expected hf:<repo_id>[@revision], e.g. hf:distilgpt2 or hf:openai-community/gpt2@main`);
}

/** Parses `hf:<repo_id>[@revision]` (the `hf:` prefix is optional here). */
export function parseHubSource(spec: string): HubSource {
  const body = spec.startsWith('hf:') ? spec.slice(3) : spec;
  const at = body.indexOf('@');
  const repo = at < 0 ? body : body.slice(0, at);
  const revision = at < 0 ? 'main' : body.slice(at + 1);
  const parts = repo.split('/');
  if (repo === '' || parts.length > 2 || !parts.every((p) => REPO_PART.test(p)) || repo.includes('--') || repo.includes('..')) {
    invalidId(spec, `"${repo}" is not a valid repo id (letters, digits, '-', '_', '.', one optional '/', no '--' or '..')`);
  }
  if (!REVISION.test(revision) || revision.includes('..') || revision.includes('//') || revision.endsWith('/')) {
    invalidId(spec, `"${revision}" is not a valid revision`);
  }
  return { repo, revision };
}

export function hubSourceId(source: HubSource): string {
  return `${source.repo}@${source.revision}`;
}

/** `<cache>/<org--name>/<revision, URI-encoded>`: one directory per repo and revision, never outside the cache. */
export function hubCacheDir(cacheDir: string, source: HubSource): string {
  return join(cacheDir, source.repo.replace('/', '--'), encodeURIComponent(source.revision));
}

/** A file name the hub (or its index) gave us must be a plain name, never a path. */
function assertSafeFileName(name: string, where: string): void {
  if (!FILE_NAME.test(name) || name.includes('..')) {
    throw new CheckpointError(`${where}: refusing file name ${JSON.stringify(name)}: not a plain file name (it could write outside the cache directory)`);
  }
}

interface CompleteMarker {
  repo: string;
  revision: string;
  files: Array<{ name: string; bytes: number }>;
}

/**
 * True when a previous call finished this directory and its files are still there with the sizes it
 * recorded. A file whose size changed since is deleted (with the marker), so it is fetched again
 * rather than trusted.
 */
async function isCachedComplete(dir: string): Promise<boolean> {
  const markerPath = join(dir, COMPLETE_MARKER);
  let marker: CompleteMarker;
  try {
    marker = JSON.parse(await readFile(markerPath, 'utf8')) as CompleteMarker;
  } catch {
    return false;
  }
  let intact = Array.isArray(marker.files) && marker.files.length > 0;
  for (const f of Array.isArray(marker.files) ? marker.files : []) {
    if (typeof f.name !== 'string' || !FILE_NAME.test(f.name) || f.name.includes('..')) {
      intact = false;
      continue;
    }
    const st = await stat(join(dir, f.name)).catch(() => undefined);
    if (st?.size !== f.bytes) {
      intact = false;
      if (st !== undefined) await unlink(join(dir, f.name)).catch(() => undefined);
    }
  }
  if (!intact) await unlink(markerPath).catch(() => undefined);
  return intact;
}

/** Whether a hub source is already fully in the cache, so using it needs no network at all. */
export async function isHubCached(cacheDir: string, source: HubSource): Promise<boolean> {
  return isCachedComplete(hubCacheDir(cacheDir, source));
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/** What the hub said about a file besides its bytes. */
interface HubResponse {
  res: Response;
  url: string;
  /** X-Linked-Size: the LFS object's size, given on the hub's redirect to its CDN. */
  linkedSize: number | undefined;
  /** A sha256 from X-Linked-ETag / ETag, when it is one (the hub gives that for LFS files). */
  sha256: string | undefined;
}

function sha256FromEtag(etag: string | null): string | undefined {
  if (etag === null) return undefined;
  const bare = etag.replace(/^W\//, '').replaceAll('"', '').trim().toLowerCase();
  return /^[0-9a-f]{64}$/.test(bare) ? bare : undefined;
}

/** A 404 for a file (not the repo or revision): the caller may try another layout. */
class NotFound extends Error {
  constructor(readonly error: CheckpointError) {
    super(error.message);
  }
}

class HubClient {
  private readonly base: URL;
  private readonly where: string;

  constructor(
    private readonly source: HubSource,
    private readonly options: HubDownloadOptions,
  ) {
    const endpoint = options.endpoint ?? DEFAULT_HF_ENDPOINT;
    let base: URL;
    try {
      base = new URL(endpoint);
    } catch {
      throw new CheckpointError(`hub endpoint "${endpoint}" (HF_ENDPOINT) is not a URL; expected e.g. https://huggingface.co`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new CheckpointError(`hub endpoint "${endpoint}" (HF_ENDPOINT) must be an http(s) URL`);
    }
    this.base = base;
    this.where = hubSourceId(source);
  }

  get endpoint(): string {
    return this.base.origin + this.base.pathname.replace(/\/+$/, '');
  }

  fileUrl(file: string): string {
    return `${this.endpoint}/${this.source.repo}/resolve/${encodeURIComponent(this.source.revision)}/${file}`;
  }

  private unreachable(file: string, url: string, e: unknown, timedOut: boolean): CheckpointError {
    const cause = e as { cause?: { code?: string; message?: string }; code?: string; message?: string };
    const detail = timedOut ? `no response for ${this.options.timeoutMs ?? 30_000} ms` : (cause.cause?.code ?? cause.code ?? cause.cause?.message ?? cause.message ?? String(e));
    const host = new URL(url).origin;
    return new CheckpointError(
      `cannot download ${file} of ${this.where} from ${this.endpoint}${host !== this.base.origin ? ` (via ${host})` : ''}: ${timedOut ? 'timed out' : 'network error'} (${detail}). ` +
        'Check the network, set HF_ENDPOINT to a reachable hub mirror, or pass a local checkpoint directory instead. A partial download is kept and resumed next time.',
      { cause: e },
    );
  }

  /** Turns an HTTP error status into the message a user can act on. */
  private httpError(file: string, res: Response): CheckpointError {
    const code = res.headers.get('x-error-code');
    const serverMsg = res.headers.get('x-error-message');
    const suffix = `${code ? `, ${code}` : ''}${serverMsg ? `: ${serverMsg}` : ''}`;
    const { repo, revision } = this.source;
    if (res.status === 401 || res.status === 403) {
      const fix = this.options.token
        ? 'the token given (HF_TOKEN) was refused or cannot read this repo: check it, and for a gated model accept its terms on the hub with the same account'
        : 'the repo is gated or private (or does not exist): set HF_TOKEN to an access token that can read it (for a gated model, accept its terms on the hub first)';
      return new CheckpointError(`hub refused access to ${file} of ${this.where} at ${this.endpoint} (HTTP ${res.status}${suffix}); ${fix}`);
    }
    if (res.status === 404) {
      if (code === 'RepoNotFound') return new CheckpointError(`hub repo "${repo}" not found at ${this.endpoint} (HTTP 404${suffix}); check the repo id`);
      if (code === 'RevisionNotFound') return new CheckpointError(`revision "${revision}" not found in hub repo "${repo}" (HTTP 404${suffix}); check the branch, tag or commit after '@'`);
      return new CheckpointError(`not found on the hub: ${file} in ${this.where} at ${this.endpoint} (HTTP 404${suffix}); the repo, the revision or the file does not exist`);
    }
    return new CheckpointError(`hub answered HTTP ${res.status}${suffix} for ${file} of ${this.where} (${this.fileUrl(file)}); try again later or set HF_ENDPOINT to another mirror`);
  }

  /**
   * One request, following redirects by hand: the hub states an LFS file's size and sha256 only on
   * its redirect to the CDN, which automatic following would hide, and the token must not follow
   * the request to another host.
   */
  async request(file: string, init: { method: 'GET' | 'HEAD'; rangeStart?: number; signal: AbortSignal; timedOut: () => boolean }): Promise<HubResponse> {
    let url = this.fileUrl(file);
    let linkedSize: number | undefined;
    let sha256: string | undefined;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'gpt2-int8-quantizer' };
      if (init.rangeStart !== undefined) headers.range = `bytes=${init.rangeStart}-`;
      if (this.options.token && new URL(url).origin === this.base.origin) headers.authorization = `Bearer ${this.options.token}`;
      let res: Response;
      try {
        res = await fetch(url, { method: init.method, headers, redirect: 'manual', signal: init.signal });
      } catch (e) {
        throw this.unreachable(file, url, e, init.timedOut());
      }
      const size = Number(res.headers.get('x-linked-size') ?? NaN);
      if (linkedSize === undefined && Number.isSafeInteger(size) && size >= 0) linkedSize = size;
      sha256 ??= sha256FromEtag(res.headers.get('x-linked-etag'));
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location !== null) {
        await res.body?.cancel();
        url = new URL(location, url).toString();
        continue;
      }
      sha256 ??= res.ok ? sha256FromEtag(res.headers.get('etag')) : undefined;
      return { res, url, linkedSize, sha256 };
    }
    throw new CheckpointError(`hub: more than ${MAX_REDIRECTS} redirects for ${file} of ${this.where}; check HF_ENDPOINT`);
  }

  /** HEAD: does the file exist? (Used only to explain a missing safetensors file.) */
  async exists(file: string): Promise<boolean> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.options.timeoutMs ?? 30_000);
    try {
      const { res } = await this.request(file, { method: 'HEAD', signal: ctl.signal, timedOut: () => ctl.signal.aborted });
      return res.ok;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Downloads one file into `dir`, resuming from `<file>.part`. Throws NotFound on a 404 so the
   * caller can try the sharded layout; every other failure is a CheckpointError.
   */
  async download(file: string, dir: string): Promise<number> {
    assertSafeFileName(file, this.where);
    const finalPath = join(dir, file);
    const partPath = `${finalPath}.part`;
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    let offset = (await stat(partPath).catch(() => undefined))?.size ?? 0;

    for (let attempt = 0; attempt < 3; attempt++) {
      const ctl = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        ctl.abort();
      }, timeoutMs);
      try {
        const hub = await this.request(file, { method: 'GET', rangeStart: offset > 0 ? offset : undefined, signal: ctl.signal, timedOut: () => timedOut });
        const { res } = hub;
        if (res.status === 416 && offset > 0) {
          // The part is at least as long as the file: it can't be trusted to be this file. Start over.
          await res.body?.cancel();
          await unlink(partPath).catch(() => undefined);
          offset = 0;
          continue;
        }
        if (res.status === 404) {
          await res.body?.cancel();
          const code = res.headers.get('x-error-code');
          if (code !== 'RepoNotFound' && code !== 'RevisionNotFound') throw new NotFound(this.httpError(file, res));
          throw this.httpError(file, res);
        }
        if (res.status !== 200 && res.status !== 206) {
          await res.body?.cancel();
          throw this.httpError(file, res);
        }
        let total: number | undefined = hub.linkedSize;
        let append = false;
        if (res.status === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
          if (offset === 0 || m === null || Number(m[1]) !== offset) {
            // A partial answer we did not ask for, or for the wrong bytes: start over without Range.
            await res.body?.cancel();
            await unlink(partPath).catch(() => undefined);
            offset = 0;
            continue;
          }
          append = true;
          if (total === undefined && m[3] !== '*') total = Number(m[3]);
        } else {
          offset = 0; // 200: the server sent the whole file (it ignored Range, or none was asked)
          const len = res.headers.get('content-length');
          if (total === undefined && len !== null && res.headers.get('content-encoding') === null) total = Number(len);
        }
        return await this.receive(file, res, { finalPath, partPath, append, offset, total, sha256: hub.sha256, timer, timedOut: () => timedOut, dir });
      } catch (e) {
        if (e instanceof CheckpointError || e instanceof NotFound) throw e;
        const err = e as NodeJS.ErrnoException;
        if (err.syscall !== undefined) {
          throw new CheckpointError(`cannot write ${file} of ${this.where} into ${dir} (${err.code ?? err.message}); check that the cache directory is writable`, { cause: e });
        }
        throw this.unreachable(file, this.fileUrl(file), e, timedOut);
      } finally {
        clearTimeout(timer);
      }
    }
    throw new CheckpointError(`hub: could not get a consistent download of ${file} of ${this.where} from ${this.endpoint} after 3 attempts; try again`);
  }

  private async receive(
    file: string,
    res: Response,
    t: { finalPath: string; partPath: string; dir: string; append: boolean; offset: number; total: number | undefined; sha256: string | undefined; timer: NodeJS.Timeout; timedOut: () => boolean },
  ): Promise<number> {
    const hash: Hash = createHash('sha256');
    if (t.append) {
      // Resuming: the bytes already on disk are part of what the hub's sha256 covers.
      for await (const chunk of createReadStream(t.partPath, { end: t.offset - 1 })) hash.update(chunk as Buffer);
    }
    let done = t.offset;
    const progress = (last: boolean) => this.options.onProgress?.({ label: file, bytesDone: done, bytesTotal: t.total, ...(last ? { done: true } : {}) });
    progress(false);
    let fh: FileHandle | undefined;
    try {
      fh = await open(t.partPath, t.append ? 'a' : 'w');
      if (res.body) {
        try {
          for await (const chunk of res.body) {
            t.timer.refresh();
            await fh.write(chunk);
            hash.update(chunk);
            done += chunk.length;
            progress(false);
          }
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') throw e;
          // The connection broke mid-file: keep the part so the next run resumes from here.
          throw this.unreachable(file, this.fileUrl(file), e, t.timedOut());
        }
      }
      await fh.sync();
      await fh.close();
      fh = undefined;
    } catch (e) {
      await fh?.close().catch(() => undefined);
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC') {
        // Removing the part frees the space it took; a resume would need that space anyway.
        await unlink(t.partPath).catch(() => undefined);
        throw new CheckpointError(`disk full while downloading ${file} of ${this.where} into ${t.dir}; free some space there (or point the models volume elsewhere) and run again`, { cause: e });
      }
      throw e;
    }
    if (t.total !== undefined && done !== t.total) {
      await unlink(t.partPath).catch(() => undefined);
      throw new CheckpointError(`hub: ${file} of ${this.where} arrived with ${done} bytes but the hub announced ${t.total}; the partial file was deleted, run again`);
    }
    const actual = hash.digest('hex');
    if (t.sha256 !== undefined && actual !== t.sha256) {
      await unlink(t.partPath).catch(() => undefined);
      throw new CheckpointError(`hub: ${file} of ${this.where} has sha256 ${actual} but the hub announced ${t.sha256}; the corrupt download was deleted, run again`);
    }
    await rename(t.partPath, t.finalPath);
    progress(true);
    return done;
  }
}

/**
 * Makes sure `<cache>/<repo>/<revision>/` holds config.json and the safetensors weights (single file,
 * or index + shards) and returns that directory, downloading only what is missing.
 */
export async function downloadHubCheckpoint(source: HubSource, options: HubDownloadOptions): Promise<string> {
  const where = hubSourceId(source);
  const dir = hubCacheDir(options.cacheDir, source);
  if (await isCachedComplete(dir)) return dir;

  const client = new HubClient(source, options);
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') throw new CheckpointError(`disk full: cannot create ${dir} for ${where}; free some space there`, { cause: e });
    throw e;
  }
  // A final name exists only for a file that was fully downloaded and checked, so it is kept. An
  // optional file the hub does not have gives false; a required one, the hub's error.
  const ensure = async (file: string, optional = false): Promise<boolean> => {
    assertSafeFileName(file, where);
    if (await exists(join(dir, file))) return true;
    try {
      await client.download(file, dir);
      return true;
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
      if (optional) return false;
      throw e.error;
    }
  };

  await ensure(CONFIG_FILE);
  let files: string[];
  if (await ensure(SINGLE_WEIGHTS_FILE, true)) {
    files = [CONFIG_FILE, SINGLE_WEIGHTS_FILE];
  } else if (await ensure(INDEX_FILE, true)) {
    const indexPath = join(dir, INDEX_FILE);
    let value: unknown;
    try {
      value = JSON.parse(await readFile(indexPath, 'utf8'));
    } catch (e) {
      await unlink(indexPath).catch(() => undefined);
      throw new CheckpointError(`hub: ${INDEX_FILE} of ${where} is not valid JSON (${(e as Error).message}); it was deleted, run again`, { cause: e });
    }
    const { files: shards } = parseSafetensorsIndex(value, `${where}/${INDEX_FILE}`);
    for (const shard of shards) await ensure(shard);
    files = [CONFIG_FILE, INDEX_FILE, ...shards];
  } else {
    const pickled: string[] = [];
    for (const name of PICKLED_NAMES) if (await client.exists(name)) pickled.push(name);
    if (pickled.length > 0) throw new CheckpointError(pickledCheckpointMessage(`hub repo ${where}`, pickled));
    throw new CheckpointError(`hub repo ${where} has no ${SINGLE_WEIGHTS_FILE} or ${INDEX_FILE}; only safetensors GPT-2 checkpoints can be loaded`);
  }

  const marker: CompleteMarker = { repo: source.repo, revision: source.revision, files: [] };
  for (const name of files) marker.files.push({ name, bytes: (await stat(join(dir, name))).size });
  const tmp = join(dir, `${COMPLETE_MARKER}.tmp-${process.pid}`);
  try {
    await writeFile(tmp, `${JSON.stringify(marker, null, 2)}\n`);
    await rename(tmp, join(dir, COMPLETE_MARKER));
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') throw new CheckpointError(`disk full while finishing the download of ${where} into ${dir}; free some space there and run again`, { cause: e });
    throw e;
  }
  return dir;
}
