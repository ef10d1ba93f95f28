import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Gpt2Config } from '@gpt2-int8/contract/gpt2-config';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointError } from './checkpoint-error.js';
import { loadHfCheckpoint } from './hf-checkpoint.js';
import { downloadHubCheckpoint, hubCacheDir, parseHubSource } from './hub-download.js';
import type { HubDownloadOptions } from './hub-download.js';
import { makeModel } from './make-model.js';
import type { ByteProgress } from './progress-printer.js';
import { writeSafetensors } from './safetensors.js';
import { syntheticConfigJson, syntheticTensors } from './synthetic.js';
import { resolveSource } from '../source.js';

const CFG: Gpt2Config = { n_layer: 2, n_embd: 16, n_head: 2, n_positions: 32, vocab_size: 100, layer_norm_epsilon: 1e-5 };

interface Logged {
  method: string;
  url: string;
  range: string | undefined;
  auth: string | undefined;
}

/**
 * Plays the hub: `/{repo}/resolve/{revision}/{file}`, answering like huggingface.co does: LFS files
 * (the weights) via a 302 to a CDN URL carrying X-Linked-Size and X-Linked-ETag (the sha256), small
 * files directly with a git-sha1 ETag, X-Error-Code on 401/404, Range honoured with 206.
 */
class FakeHub {
  readonly files = new Map<string, Buffer>(); // "repo@revision/file" → bytes
  readonly repos = new Map<string, Set<string>>(); // repo → revisions
  readonly requests: Logged[] = [];
  token: string | undefined;
  ignoreRange = false;
  hang = false;
  plain404 = false;
  /** Announce this sha256 instead of the real one for a file name. */
  readonly wrongSha = new Map<string, string>();
  /** Send only this many bytes of a file name, once, then drop the connection. */
  readonly cutOnce = new Map<string, number>();
  /** Where LFS redirects point; default this server. */
  cdnOrigin: string | undefined;
  server: Server;
  origin = '';

  constructor(shared?: FakeHub) {
    const state = shared ?? this;
    this.server = createServer((req, res) => state.handle(req, res, this));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  add(repo: string, revision: string, files: Record<string, Buffer>): void {
    if (!this.repos.has(repo)) this.repos.set(repo, new Set());
    this.repos.get(repo)?.add(revision);
    for (const [name, bytes] of Object.entries(files)) this.files.set(`${repo}@${revision}/${name}`, bytes);
  }

  private handle(req: IncomingMessage, res: ServerResponse, via: FakeHub): void {
    via.requests.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range, auth: req.headers.authorization });
    if (this.hang) return; // never answer: the client must time out
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/cdn/')) {
      const key = decodeURIComponent(url.pathname.slice(5));
      const body = this.files.get(key);
      if (body === undefined) return void res.writeHead(404).end();
      return this.sendBody(req, res, key, body, {});
    }
    const parts = url.pathname.split('/').slice(1);
    const at = parts.indexOf('resolve');
    if (at < 1 || parts.length !== at + 3) return void res.writeHead(400).end();
    const repo = parts.slice(0, at).join('/');
    const revision = decodeURIComponent(parts[at + 1] ?? '');
    const file = parts[at + 2] ?? '';
    const error = (status: number, code: string) => void res.writeHead(status, this.plain404 ? {} : { 'x-error-code': code, 'x-error-message': code }).end();
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) return error(401, 'GatedRepo');
    const revisions = this.repos.get(repo);
    if (revisions === undefined) return error(404, 'RepoNotFound');
    if (!revisions.has(revision)) return error(404, 'RevisionNotFound');
    const key = `${repo}@${revision}/${file}`;
    const body = this.files.get(key);
    if (body === undefined) return error(404, 'EntryNotFound');
    if (file.endsWith('.safetensors') || file.endsWith('.bin')) {
      const sha = this.wrongSha.get(file) ?? createHash('sha256').update(body).digest('hex');
      res.writeHead(302, {
        location: `${this.cdnOrigin ?? ''}/cdn/${encodeURIComponent(key)}`,
        'x-linked-size': String(body.length),
        'x-linked-etag': `"${sha}"`,
        etag: `"${sha}"`,
      });
      return void res.end();
    }
    this.sendBody(req, res, key, body, { etag: `"${createHash('sha1').update(body).digest('hex')}"` });
  }

  private sendBody(req: IncomingMessage, res: ServerResponse, key: string, body: Buffer, headers: Record<string, string>): void {
    const name = key.slice(key.lastIndexOf('/') + 1);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    if (m && !this.ignoreRange) {
      start = Number(m[1]);
      if (start >= body.length) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      res.writeHead(206, { ...headers, 'content-length': String(body.length - start), 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    } else {
      res.writeHead(200, { ...headers, 'content-length': String(body.length) });
    }
    if (req.method === 'HEAD') return void res.end();
    const cut = this.cutOnce.get(name);
    if (cut !== undefined) {
      this.cutOnce.delete(name);
      res.write(body.subarray(start, cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body.subarray(start));
  }
}

let root: string;
let single: Record<string, Buffer>;
let shardedFiles: Record<string, Buffer>;
let hub: FakeHub;
let cache: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hub-download-test-'));
  const src = join(root, 'src');
  await makeModel({ config: CFG, seed: 11, outDir: src });
  single = { 'config.json': await readFile(join(src, 'config.json')), 'model.safetensors': await readFile(join(src, 'model.safetensors')) };

  const sh = join(root, 'sharded-src');
  await mkdir(sh);
  const tensors = syntheticTensors(CFG, 12).map((t) => ({ name: `transformer.${t.name}`, shape: t.shape, data: t.chunks }));
  const weightMap: Record<string, string> = {};
  shardedFiles = { 'config.json': Buffer.from(JSON.stringify(syntheticConfigJson(CFG, 12))) };
  for (const [i, part] of [tensors.slice(0, 10), tensors.slice(10)].entries()) {
    const name = `model-0000${i + 1}-of-00002.safetensors`;
    await writeSafetensors(join(sh, name), part);
    shardedFiles[name] = await readFile(join(sh, name));
    for (const t of part) weightMap[t.name] = name;
  }
  shardedFiles['model.safetensors.index.json'] = Buffer.from(JSON.stringify({ metadata: {}, weight_map: weightMap }));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  hub = await new FakeHub().start();
  hub.add('org/tiny', 'main', single);
  hub.add('org/tiny', 'refs/pr/1', single);
  hub.add('solo', 'main', single);
  hub.add('org/sharded', 'main', shardedFiles);
  hub.add('org/pickled', 'main', { 'config.json': single['config.json'] ?? Buffer.alloc(0), 'pytorch_model.bin': Buffer.from('pickle') });
  cache = await mkdtemp(join(root, 'cache-'));
});
afterEach(async () => {
  await hub.stop();
});

function opts(extra: Partial<HubDownloadOptions> = {}): HubDownloadOptions {
  return { cacheDir: cache, endpoint: hub.origin, timeoutMs: 5_000, ...extra };
}

/** An hf: source as the quantizer takes it (source.ts): downloaded, then loaded as a hub source. */
async function loadHubCheckpoint(spec: string, options: HubDownloadOptions) {
  const source = await resolveSource(spec, { ...options, log: () => undefined });
  return loadHfCheckpoint(source.path, { source });
}

async function failure(p: Promise<unknown>): Promise<CheckpointError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CheckpointError);
  return e as CheckpointError;
}

describe('parseHubSource', () => {
  it('accepts repo ids with and without an org and a revision', () => {
    expect(parseHubSource('hf:distilgpt2')).toEqual({ repo: 'distilgpt2', revision: 'main' });
    expect(parseHubSource('hf:openai-community/gpt2@v1.0')).toEqual({ repo: 'openai-community/gpt2', revision: 'v1.0' });
    expect(parseHubSource('org/my_model.v2@refs/pr/3')).toEqual({ repo: 'org/my_model.v2', revision: 'refs/pr/3' });
  });

  it.each(['hf:', 'hf:../etc', 'hf:a/b/c', 'hf:/abs', 'hf:a\\b', 'hf:org/..', 'hf:a--b', 'hf:x@', 'hf:x@../y', 'hf:x@a/../../b', 'hf:x@/abs', 'hf:x@a\\b', 'hf:.hidden'])(
    'refuses %s',
    (spec) => {
      expect(() => parseHubSource(spec)).toThrow(/invalid hub source .* expected hf:<repo_id>\[@revision\]/);
    },
  );

  it('maps every valid id to a directory inside the cache', () => {
    for (const spec of ['hf:distilgpt2', 'hf:org/name@refs/pr/1', 'hf:a.b/c_d@v1.0-rc']) {
      const rel = relative('/cache', hubCacheDir('/cache', parseHubSource(spec)));
      expect(rel.startsWith('..')).toBe(false);
      expect(rel.split('/')).toHaveLength(2);
    }
    expect(hubCacheDir('/cache', parseHubSource('hf:org/name@refs/pr/1'))).toBe('/cache/org--name/refs%2Fpr%2F1');
  });
});

describe('downloadHubCheckpoint', () => {
  it('downloads config and weights, loads them as a hub source, and a second call makes no request', async () => {
    const progress: ByteProgress[] = [];
    const c = await loadHubCheckpoint('hf:org/tiny', opts({ onProgress: (p) => progress.push({ ...p }) }));
    const dir = hubCacheDir(cache, { repo: 'org/tiny', revision: 'main' });
    expect(await readFile(join(dir, 'model.safetensors'))).toEqual(single['model.safetensors']);
    expect(await readFile(join(dir, 'config.json'))).toEqual(single['config.json']);
    expect(c.source.kind).toBe('hub');
    expect(c.source.id).toBe('org/tiny@main');
    expect(c.synthetic).toBe(true);
    // Same bytes, same hash as loading the original directory.
    expect(c.source.sha256).toBe((await loadHfCheckpoint(join(root, 'src'))).source.sha256);
    expect(hub.requests.map((r) => r.url)).toEqual([
      '/org/tiny/resolve/main/config.json',
      '/org/tiny/resolve/main/model.safetensors',
      `/cdn/${encodeURIComponent('org/tiny@main/model.safetensors')}`,
    ]);
    const done = progress.filter((p) => p.done);
    expect(done.map((p) => [p.label, p.bytesDone, p.bytesTotal])).toEqual([
      ['config.json', single['config.json']?.length, single['config.json']?.length],
      ['model.safetensors', single['model.safetensors']?.length, single['model.safetensors']?.length],
    ]);
    expect((await readdir(dir)).sort()).toEqual(['.complete', 'config.json', 'model.safetensors']);

    const before = hub.requests.length;
    await hub.stop(); // a second call must not even try the network
    expect(await downloadHubCheckpoint({ repo: 'org/tiny', revision: 'main' }, opts())).toBe(dir);
    expect(hub.requests.length).toBe(before);
  });

  it('keeps revisions apart and handles a revision with slashes', async () => {
    const dir = await downloadHubCheckpoint(parseHubSource('hf:org/tiny@refs/pr/1'), opts());
    expect(dir).toBe(join(cache, 'org--tiny', 'refs%2Fpr%2F1'));
    expect(hub.requests[0]?.url).toBe('/org/tiny/resolve/refs%2Fpr%2F1/config.json');
    expect(await readFile(join(dir, 'model.safetensors'))).toEqual(single['model.safetensors']);
  });

  it('falls back to the sharded layout when model.safetensors is not there', async () => {
    const c = await loadHubCheckpoint('hf:org/sharded', opts());
    const dir = hubCacheDir(cache, { repo: 'org/sharded', revision: 'main' });
    expect((await readdir(dir)).sort()).toEqual(['.complete', 'config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
    expect(c.config).toEqual(CFG);
    expect(c.weights.blocks).toHaveLength(2);
    expect(hub.requests.filter((r) => r.url.includes('/resolve/')).map((r) => r.url.split('/').at(-1))).toEqual([
      'config.json',
      'model.safetensors',
      'model.safetensors.index.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
    ]);
  });

  it('resumes an interrupted download with a Range request', async () => {
    const weights = single['model.safetensors'] ?? Buffer.alloc(0);
    const half = Math.floor(weights.length / 2);
    hub.cutOnce.set('model.safetensors', half);
    const e = await failure(downloadHubCheckpoint({ repo: 'org/tiny', revision: 'main' }, opts()));
    expect(e.message).toContain(hub.origin);
    expect(e.message).toMatch(/network error .* HF_ENDPOINT .* local checkpoint directory/);
    const dir = hubCacheDir(cache, { repo: 'org/tiny', revision: 'main' });
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'model.safetensors.part']);
    expect((await stat(join(dir, 'model.safetensors.part'))).size).toBe(half);

    hub.requests.length = 0;
    await downloadHubCheckpoint({ repo: 'org/tiny', revision: 'main' }, opts());
    expect(hub.requests.map((r) => [r.url.split('/')[1], r.range])).toEqual([
      ['org', `bytes=${half}-`],
      ['cdn', `bytes=${half}-`],
    ]);
    expect(await readFile(join(dir, 'model.safetensors'))).toEqual(weights);
    expect((await readdir(dir)).sort()).toEqual(['.complete', 'config.json', 'model.safetensors']);
  });

  it('starts over when the server ignores Range and sends the whole file', async () => {
    const dir = hubCacheDir(cache, { repo: 'org/tiny', revision: 'main' });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.safetensors.part'), Buffer.alloc(1000, 0xee)); // not even the right bytes
    hub.ignoreRange = true;
    await downloadHubCheckpoint({ repo: 'org/tiny', revision: 'main' }, opts());
    expect(hub.requests.find((r) => r.url.startsWith('/cdn/'))?.range).toBe('bytes=1000-');
    expect(await readFile(join(dir, 'model.safetensors'))).toEqual(single['model.safetensors']);
  });

  it('deletes a download whose sha256 differs from the one the hub announced', async () => {
    hub.wrongSha.set('model.safetensors', 'ab'.repeat(32));
    const e = await failure(downloadHubCheckpoint({ repo: 'org/tiny', revision: 'main' }, opts()));
    expect(e.message).toMatch(/model\.safetensors of org\/tiny@main has sha256 [0-9a-f]{64} but the hub announced (ab){32}; the corrupt download was deleted/);
    const dir = hubCacheDir(cache, { repo: 'org/tiny', revision: 'main' });
    expect(await readdir(dir)).toEqual(['config.json']);
  });

  it('catches a resumed part that does not match the file, by its sha256', async () => {
    const dir = hubCacheDir(cache, { repo: 'org/tiny', revision: 'main' });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.safetensors.part'), Buffer.alloc(1000, 0xee));
    const e = await failure(downloadHubCheckpoint({ repo: 'org/tiny', revision: 'main' }, opts()));
    expect(e.message).toMatch(/has sha256 .* but the hub announced/);
    expect(existsSync(join(dir, 'model.safetensors.part'))).toBe(false);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false);
    await downloadHubCheckpoint({ repo: 'org/tiny', revision: 'main' }, opts()); // and the retry succeeds
    expect(await readFile(join(dir, 'model.safetensors'))).toEqual(single['model.safetensors']);
  });

  it('asks for HF_TOKEN on 401, reports a refused token, and sends a good token only to the hub', async () => {
    hub.token = 'secret';
    const noToken = await failure(downloadHubCheckpoint({ repo: 'org/tiny', revision: 'main' }, opts()));
    expect(noToken.message).toMatch(/hub refused access to config\.json of org\/tiny@main .*HTTP 401, GatedRepo.* gated or private .* set HF_TOKEN/);
    const badToken = await failure(downloadHubCheckpoint({ repo: 'org/tiny', revision: 'main' }, opts({ token: 'wrong' })));
    expect(badToken.message).toMatch(/HTTP 401.*the token given \(HF_TOKEN\) was refused/);
    expect(existsSync(join(hubCacheDir(cache, { repo: 'org/tiny', revision: 'main' }), 'config.json'))).toBe(false);

    const cdn = await new FakeHub(hub).start(); // another origin serving the same files
    hub.cdnOrigin = cdn.origin;
    try {
      await downloadHubCheckpoint({ repo: 'org/tiny', revision: 'main' }, opts({ token: 'secret' }));
      expect(hub.requests.at(-1)?.auth).toBe('Bearer secret');
      expect(cdn.requests).toHaveLength(1);
      expect(cdn.requests[0]?.auth).toBeUndefined();
    } finally {
      await cdn.stop();
    }
  });

  it('names what was not found on a 404', async () => {
    expect((await failure(downloadHubCheckpoint(parseHubSource('hf:nobody/nothing'), opts()))).message).toMatch(/hub repo "nobody\/nothing" not found at http:\/\/127\.0\.0\.1/);
    expect((await failure(downloadHubCheckpoint(parseHubSource('hf:org/tiny@v9'), opts()))).message).toMatch(/revision "v9" not found in hub repo "org\/tiny"/);
    hub.plain404 = true;
    expect((await failure(downloadHubCheckpoint(parseHubSource('hf:org/absent'), opts()))).message).toMatch(
      /not found on the hub: config\.json in org\/absent@main .* the repo, the revision or the file does not exist/,
    );
  });

  it('refuses a repo that has only a pickled checkpoint', async () => {
    const e = await failure(downloadHubCheckpoint(parseHubSource('hf:org/pickled'), opts()));
    expect(e.message).toMatch(/hub repo org\/pickled@main has only a pickled PyTorch checkpoint \(pytorch_model\.bin\)/);
    expect(e.message).toMatch(/execute arbitrary code/);
    expect(existsSync(join(hubCacheDir(cache, { repo: 'org/pickled', revision: 'main' }), '.complete'))).toBe(false);
  });

  it('refuses shard names in the index that would escape the cache', async () => {
    hub.add('org/evil', 'main', {
      'config.json': single['config.json'] ?? Buffer.alloc(0),
      'model.safetensors.index.json': Buffer.from(JSON.stringify({ weight_map: { 'wte.weight': '../../escape.safetensors' } })),
    });
    const e = await failure(downloadHubCheckpoint(parseHubSource('hf:org/evil'), opts()));
    expect(e.message).toMatch(/maps to "\.\.\/\.\.\/escape\.safetensors", which is not a plain \*\.safetensors file name/);
    expect(existsSync(join(cache, 'escape.safetensors'))).toBe(false);
  });

  it('names the endpoint when it is unreachable or does not answer', async () => {
    const dead = await new FakeHub().start();
    const deadOrigin = dead.origin;
    await dead.stop();
    const refused = await failure(downloadHubCheckpoint(parseHubSource('hf:org/tiny'), opts({ endpoint: deadOrigin })));
    expect(refused.message).toContain(`cannot download config.json of org/tiny@main from ${deadOrigin}: network error (ECONNREFUSED)`);
    expect(refused.message).toMatch(/set HF_ENDPOINT to a reachable hub mirror, or pass a local checkpoint directory/);

    hub.hang = true;
    const slow = await failure(downloadHubCheckpoint(parseHubSource('hf:org/tiny'), opts({ timeoutMs: 300 })));
    expect(slow.message).toContain(`from ${hub.origin}: timed out (no response for 300 ms)`);
    expect((await failure(downloadHubCheckpoint(parseHubSource('hf:org/tiny'), opts({ endpoint: 'ftp://x' })))).message).toMatch(/must be an http\(s\) URL/);
  });

  it.skipIf(!existsSync('/dev/full'))('reports a full disk, naming the directory, and leaves no partial file', async () => {
    const dir = hubCacheDir(cache, { repo: 'org/tiny', revision: 'main' });
    await mkdir(dir, { recursive: true });
    await symlink('/dev/full', join(dir, 'config.json.part')); // every write to it fails with ENOSPC
    const e = await failure(downloadHubCheckpoint(parseHubSource('hf:org/tiny'), opts()));
    expect(e.message).toBe(`disk full while downloading config.json of org/tiny@main into ${dir}; free some space there (or point the models volume elsewhere) and run again`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('fetches again a cached file whose size changed since it was completed', async () => {
    const source = parseHubSource('hf:solo');
    const dir = await downloadHubCheckpoint(source, opts());
    await truncate(join(dir, 'model.safetensors'), 10);
    hub.requests.length = 0;
    await downloadHubCheckpoint(source, opts());
    expect(hub.requests.map((r) => r.url.split('/').at(-1))).toEqual(['model.safetensors', encodeURIComponent('solo@main/model.safetensors')]);
    expect(await readFile(join(dir, 'model.safetensors'))).toEqual(single['model.safetensors']);
  });
});
